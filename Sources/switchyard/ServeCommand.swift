import ArgumentParser
import AsyncHTTPClient
import EventBridgeEmulator
import Foundation
import KinesisEmulator
import Logging
import Metrics
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchyardCore
import SwitchyardEventBridge
import SwitchyardKinesis
import SwitchyardPostgres
import SwitchyardSQLite
import SwitchyardServer

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server: ingestion, queue and delivery.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        LoggingSystem.bootstrap({ label, provider in LineLogHandler(label: label, metadataProvider: provider) }, metadataProvider: nil)
        let logger = makeLogger("switchyard")
        let loaded = try options.load(logger: logger)
        for warning in loaded.warnings { logger.notice("configuration: \(warning)") }
        let metrics = ServerMetrics(config: loaded.config)
        let opened: OpenedStore
        do {
            opened = try await OpenedStore.open(
                loaded.config,
                logger: makeLogger("switchyard.storage"),
                metrics: metrics.pipeline,
                serving: true
            )
        } catch {
            printError("\(loaded.config.storage.postgres?.url ?? loaded.config.storage.path): cannot open the queue: \(error)")
            throw ExitCode(74)
        }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: Self.destinationClient)
        let server: SwitchyardService
        do {
            server = try await buildSwitchyard(
                config: loaded,
                store: opened.served,
                httpClient: httpClient,
                environment: ProcessInfo.processInfo.environment,
                metrics: metrics,
                heap: SystemHeap(),
                logger: logger
            )
        } catch {
            for failure in error.lines { printError("\(loaded.file): \(failure)") }
            try? await httpClient.shutdown()
            try? opened.close()
            throw ExitCode(78)
        }
        var failure: (any Error)?
        do {
            try await server.run(gracefulShutdownSignals: [.sigterm, .sigint])
        } catch {
            failure = error
            let server = loaded.config.server
            if let io = error as? IOError, io.errnoCode == EADDRINUSE {
                logger.error(
                    "cannot listen on \(server.host):\(server.port): the address is already in use (another switchyard, or another program?)"
                )
            } else {
                logger.error("stopped with an error: \(error)")
            }
        }
        try await httpClient.shutdown()
        try opened.close()
        logger.info("stopped")
        // A supervisor (systemd, Kubernetes) must see that the server did not run, e.g. when
        // its port was taken.
        if failure != nil { throw ExitCode(69) }
    }

    /// One pool for every destination. A refused connection is retried for up to 3 s (not the
    /// whole send timeout), so a destination that is down fails fast into backoff.
    static var destinationClient: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: .seconds(3)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
        )
        configuration.decompression = .disabled
        return configuration
    }
}
