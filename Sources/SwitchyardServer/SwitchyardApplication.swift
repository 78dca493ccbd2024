import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchyardArchive
import SwitchyardCore

/// Builds the HTTP application for a loaded configuration. The caller owns the store and runs the
/// returned application (a `Service`) in its `ServiceGroup` beside the delivery workers
/// (`buildSwitchyard` does).
public enum SwitchyardApplication {
    /// - Parameters:
    ///   - metrics: the server's counters, which ingestion counts into and the live page reads.
    ///   - registry: what `/metrics` shows (the registry `metrics` reports to); nil turns it off.
    ///   - regulations: records regulations and holds the suppression list ingestion checks; by
    ///     default one over `store` that reads the list at the first request.
    ///   - discovery: what infers the schemas of stored events (run its service beside the server).
    ///   - archive: what the archiver last did, for the summary.
    ///   - stats: what reads the rollups for `/v1/stats`; nil answers it 404.
    ///   - destinations: the destinations as built, for their credentials' status.
    public static func router(
        config: LoadedConfig,
        store: any JobStore,
        metrics: PipelineMetrics,
        registry: PrometheusCollectorRegistry? = nil,
        regulations: RegulationService? = nil,
        discovery: SchemaDiscovery? = nil,
        archive: ArchiveStatus? = nil,
        stats: StatsService? = nil,
        destinations: [String: any Destination] = [:]
    ) -> Router<SwitchyardRequestContext> {
        let regulations =
            regulations ?? RegulationService(store: store, suppressions: Suppressions(), logger: Logger(label: "switchyard.regulations"))
        let router = Router(context: SwitchyardRequestContext.self)
        // Browser SDKs post from any origin, as to rudder-server. Outermost, so refusals carry the
        // CORS headers too and a page can read them.
        router.add(middleware: SDKCORSMiddleware())
        router.add(middleware: TextErrorMiddleware())

        router.get("/health") { _, _ in Response.text("ok") }
        router.get("/ready") { _, context in
            do {
                try await store.checkWritable()
                return Response.text("ready")
            } catch {
                context.logger.warning("not ready: \(error)")
                return Response.text("not ready: \(error)", status: .serviceUnavailable)
            }
        }

        let routing = Routing(config)
        IngestController(
            routing: routing,
            store: store,
            limits: config.config.server.limits,
            trustForwardedFor: config.config.server.trustForwardedFor,
            metrics: metrics,
            regulations: regulations,
            discovery: discovery
        ).addRoutes(to: router)
        SDKSettingsController(routing: routing, server: config.config.server).addRoutes(to: router)
        var operations = OperatorController(store: store, adminToken: config.config.server.adminToken, metrics: metrics, registry: registry)
        operations.archive = archive
        operations.addRoutes(to: router)
        SchemaController(store: store, adminToken: config.config.server.adminToken).addRoutes(to: router)
        RegulationController(regulations: regulations, adminToken: config.config.server.adminToken).addRoutes(to: router)
        ReplayController(store: store, routing: routing, adminToken: config.config.server.adminToken).addRoutes(to: router)
        ConsoleController(
            store: store,
            adminToken: config.config.server.adminToken,
            metrics: metrics,
            stats: stats,
            destinations: config.destinations,
            built: destinations
        ).addRoutes(to: router)
        return router
    }

    public static func make(
        config: LoadedConfig,
        store: any JobStore,
        metrics: PipelineMetrics,
        registry: PrometheusCollectorRegistry?,
        regulations: RegulationService,
        discovery: SchemaDiscovery? = nil,
        archive: ArchiveStatus? = nil,
        stats: StatsService? = nil,
        destinations: [String: any Destination] = [:],
        logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let server = config.config.server
        return Application(
            router: router(
                config: config,
                store: store,
                metrics: metrics,
                registry: registry,
                regulations: regulations,
                discovery: discovery,
                archive: archive,
                stats: stats,
                destinations: destinations
            ),
            server: .http1(configuration: .init(idleTimeout: .milliseconds(server.idleTimeout.milliseconds))),
            configuration: .init(address: .hostname(server.host, port: server.port), serverName: "switchyard"),
            onServerRunning: onServerRunning,
            logger: logger
        )
    }
}
