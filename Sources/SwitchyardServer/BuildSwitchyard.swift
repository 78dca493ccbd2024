import AsyncHTTPClient
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchyardArchive
import SwitchyardCore
import UnixSignals

/// The store a server runs on, with the services it needs running beside the server (the
/// embedded store's message indexer, or the shared store itself). Whoever opened the store
/// closes it, once the server has stopped or could not be built.
public struct ServerStore: Sendable {
    public var store: any JobStore
    /// Run first in the server's group, so they stop last.
    public var services: [any Service]

    public init(store: any JobStore, services: [any Service] = []) {
        self.store = store
        self.services = services
    }
}

/// One server's metrics: the registry its `/metrics` shows, and the pipeline's counters that
/// report to it. Made before the store is opened, which counts its lease expiries there too.
public struct ServerMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    public let pipeline: PipelineMetrics

    /// - Parameter stats: where the rollups are counted; by default one for a writer of its own.
    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(), stats: StatsRecorder? = nil) {
        self.registry = registry
        pipeline = PipelineMetrics(factory: PrometheusMetricsFactory(registry: registry), stats: stats)
    }

    /// A node's metrics, its rollups' writer named after the node and this run.
    public init(config: SwitchyardConfig) {
        let writer = config.server.nodeName + "/" + UUIDv4.make().prefix(8)
        self.init(stats: StatsRecorder(writer: writer, recent: config.stats.recent))
    }
}

/// Why a server cannot be built: every destination that cannot work, not only the first, and
/// the archive when it cannot.
public struct SwitchyardSetupError: Error, Sendable, CustomStringConvertible {
    public var destinations: [DestinationSetupError]
    public var archive: ArchiveSetupError?

    public init(destinations: [DestinationSetupError], archive: ArchiveSetupError? = nil) {
        self.destinations = destinations
        self.archive = archive
    }

    /// One line per failure.
    public var lines: [String] { destinations.map(\.description) + (archive.map { [$0.description] } ?? []) }

    public var description: String { lines.joined(separator: "\n") }
}

/// One whole server: the store's services, retention, a delivery worker (and heartbeat) per
/// destination, what the destinations need in the background, and the HTTP application last.
/// Services stop in reverse order: the HTTP server first (no new events), then delivery finishes
/// what it has in flight, then the store's own services.
public struct SwitchyardService: Service {
    /// What this server counts; its `/metrics` and live page show it.
    public let metrics: PipelineMetrics
    let services: [any Service]
    let shutdownGrace: Duration
    let logger: Logger

    /// Runs until the task running it shuts down gracefully (a parent `ServiceGroup`) or is cancelled.
    public func run() async throws {
        try await run(gracefulShutdownSignals: [])
    }

    /// Runs until one of the signals (the executable's SIGTERM and SIGINT) or the task running it
    /// shuts it down gracefully.
    public func run(gracefulShutdownSignals: [UnixSignal]) async throws {
        var configuration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: gracefulShutdownSignals,
            logger: logger
        )
        // Past the grace period, what is still running is cancelled; a stalled client cannot keep
        // the process alive. Every accepted event is already stored, and leased jobs are due
        // again at the next start.
        configuration.maximumGracefulShutdownDuration = shutdownGrace
        configuration.maximumCancellationDuration = .seconds(5)
        try await ServiceGroup(configuration: configuration).run()
    }
}

/// Assembles the server for a loaded configuration: what `switchyard serve` runs, and what tests
/// run in process. Builds every enabled destination and throws naming each one that cannot work.
/// The caller owns `store` and `httpClient` and closes them after the server stops.
/// - Parameters:
///   - metrics: what the server counts and where it reports it (its `/metrics` shows the
///     registry); the same instance the store was opened with.
///   - onServerRunning: told of the listening channel (its port, when the configuration says 0).
public func buildSwitchyard(
    config: LoadedConfig,
    store: ServerStore,
    httpClient: HTTPClient,
    environment: [String: String],
    metrics serverMetrics: ServerMetrics = ServerMetrics(),
    transformations engines: any TransformationEngineFactory = JavaScriptTransformations(),
    heap: (any ProcessHeap)? = nil,
    logger: Logger,
    onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
) async throws(SwitchyardSetupError) -> SwitchyardService {
    let metricsFactory = serverMetrics.pipeline.factory
    let metrics = serverMetrics.pipeline
    let registry = serverMetrics.registry
    // Background work the destinations need (their credential refreshers), run in the group.
    let background = NIOLockedValueBox<[any Service]>([])
    var delivery: [any Service] = []
    var built: [String: any Destination] = [:]
    var failures: [DestinationSetupError] = []
    for destination in config.destinations where destination.config.enabled {
        var destinationLogger = sublogger("switchyard.delivery", of: logger)
        destinationLogger[metadataKey: "destination"] = "\(destination.name)"
        let context = DestinationContext(
            name: destination.name,
            httpClient: httpClient,
            environment: environment,
            logger: destinationLogger,
            metricsFactory: metricsFactory,
            rules: destination.config.rules,
            addService: { service in background.withLockedValue { $0.append(service) } }
        )
        do throws(DestinationSetupError) {
            let made = try await deliveryServices(
                for: destination,
                context: context,
                store: store.store,
                maxEventBytes: config.config.server.limits.maxEventBytes,
                metrics: metrics,
                transformations: try transformationChain(for: destination, scripts: config.scripts, engines: engines)
            )
            delivery += made.services
            built[destination.name] = made.destination
        } catch {
            failures.append(error)
        }
    }
    var archiving: [any Service] = []
    var archiveStatus: ArchiveStatus?
    var archiveFailure: ArchiveSetupError?
    var bucket: (any ArchiveBucket)?
    if config.config.archive.enabled {
        do throws(ArchiveSetupError) {
            let opened = try await ArchiveSetup.bucket(
                for: config.config.archive,
                httpClient: httpClient,
                environment: environment,
                logger: sublogger("switchyard.archive", of: logger),
                metricsFactory: metricsFactory
            )
            let archiver = Archiver(
                config: config.config.archive,
                store: store.store,
                bucket: opened,
                metrics: metrics,
                logger: sublogger("switchyard.archive", of: logger)
            )
            archiving = [archiver]
            archiveStatus = archiver.status
            bucket = opened
        } catch {
            archiveFailure = error
        }
    }
    guard failures.isEmpty, archiveFailure == nil else { throw SwitchyardSetupError(destinations: failures, archive: archiveFailure) }
    var kept = config.config.storage.retention
    kept.keepUnarchived = config.config.archive.enabled
    let retention = RetentionService(
        store: store.store,
        retention: kept,
        logger: sublogger("switchyard.retention", of: logger)
    )
    // The suppression list is read before the server answers; if the store cannot be reached
    // yet, ingestion reads it at the first request, and refuses until it can.
    let suppressions = Suppressions()
    var regulations = RegulationService(
        store: store.store,
        suppressions: suppressions,
        logger: sublogger("switchyard.regulations", of: logger)
    )
    regulations.archive = bucket.map { ArchiveEraser(bucket: $0, logger: sublogger("switchyard.archive", of: logger)) }
    // Replays run whether or not there is an archive: without one they read the store.
    let replays = ReplayRunner(
        store: store.store,
        bucket: bucket,
        routing: Routing(config),
        suppressions: suppressions,
        metrics: metrics,
        logger: sublogger("switchyard.replays", of: logger)
    )
    do {
        try await suppressions.refresh(from: store.store)
    } catch {
        logger.warning("the suppression list cannot be read yet: \(error)")
    }
    let discovery = config.config.schemaDiscovery.enabled ? SchemaDiscovery(config: config.config.schemaDiscovery, metrics: metrics) : nil
    // Stops after the server (its last flush holds everything ingested), before the store.
    let discovering: [any Service] =
        discovery.map { [SchemaDiscoveryService(discovery: $0, store: store.store, logger: sublogger("switchyard.schemas", of: logger))] }
        ?? []
    // Stops after the server and delivery, so its last flush holds their last counts.
    let stats = StatsService(
        recorder: metrics.stats,
        store: store.store,
        config: config.config.stats,
        destinations: config.destinations.filter(\.config.enabled).map(\.name),
        logger: sublogger("switchyard.stats", of: logger)
    )
    let app = SwitchyardApplication.make(
        config: config,
        store: store.store,
        metrics: metrics,
        registry: registry,
        regulations: regulations,
        discovery: discovery,
        archive: archiveStatus,
        stats: stats,
        destinations: built,
        logger: logger,
        onServerRunning: onServerRunning
    )
    // The heap is the process's: trimmed only when the caller owns the process (`serve`), not
    // in a test process running many servers and suites at once.
    let trimming: [any Service] = heap.map { [HeapTrimService(heap: $0, logger: sublogger("switchyard.heap", of: logger))] } ?? []
    return SwitchyardService(
        metrics: metrics,
        services: store.services + [retention, regulations, stats] + trimming + archiving + discovering + delivery
            + background.withLockedValue { $0 }
            + [replays, app],
        shutdownGrace: config.config.server.shutdownGrace.duration,
        logger: logger
    )
}

/// A destination's delivery worker, and its heartbeat when it has one.
private func deliveryServices(
    for destination: ResolvedDestination,
    context: DestinationContext,
    store: any JobStore,
    maxEventBytes: Int,
    metrics: PipelineMetrics,
    transformations: TransformationChain?
) async throws(DestinationSetupError) -> (destination: any Destination, services: [any Service]) {
    let built = try await destination.makeDestination(context: context)
    let activity = destination.config.heartbeat.map { DeliveryActivity(every: $0.every) }
    var worker = DeliveryWorker(
        name: destination.name,
        destination: built,
        store: store,
        policy: destination.config.delivery,
        logger: context.logger,
        metrics: metrics,
        activity: activity
    )
    worker.transformations = transformations
    guard let heartbeat = destination.config.heartbeat, let activity else { return (built, [worker]) }
    var orderingKey: EventKey?
    if case .perKey(let key) = destination.ordering { orderingKey = key }
    let beats = HeartbeatService(
        destination: destination.name,
        config: heartbeat,
        activity: activity,
        store: store,
        orderingKey: orderingKey,
        maxEventBytes: maxEventBytes,
        logger: context.logger,
        metrics: metrics
    )
    return (built, [worker, beats])
}

/// The destination's transformations in an engine of their own (its threads, its contexts), or
/// nil when it runs none. Code that does not compile stops the start, naming file, line and column.
private func transformationChain(
    for destination: ResolvedDestination,
    scripts: TransformationScripts,
    engines: any TransformationEngineFactory
) throws(DestinationSetupError) -> TransformationChain? {
    do {
        return try destination.transformationChain(scripts: scripts, engines: engines)
    } catch {
        throw DestinationSetupError(destination: destination.name, message: "\(error)")
    }
}

/// A logger for one part of the server under its own label, at the level of the server's.
private func sublogger(_ label: String, of logger: Logger) -> Logger {
    var sub = Logger(label: label)
    sub.logLevel = logger.logLevel
    return sub
}
