import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardEventBridge
import SwitchyardServer

@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A customer-data pipeline: RudderStack/Segment-compatible ingestion, durable queue, EventBridge delivery.",
        subcommands: [Serve.self, Validate.self, Queue.self],
        defaultSubcommand: Serve.self)
}

/// Every destination type this build ships.
let registry = DestinationRegistry([EventBridgePlugin.self])

struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "Configuration file. Without it, ./switchyard.yaml, or the embedded quickstart configuration when that does not exist.")
    var config: String?

    /// Loads the configuration, printing every problem and exiting non-zero when there are any.
    func load(logger: Logger? = nil) throws -> LoadedConfig {
        let loader = ConfigLoader(registry: registry, environment: ProcessInfo.processInfo.environment)
        do {
            if let config { return try loader.load(path: config) }
            if FileManager.default.fileExists(atPath: "switchyard.yaml") { return try loader.load(path: "switchyard.yaml") }
            logger?.notice("no switchyard.yaml here: using the embedded quickstart configuration (Examples/quickstart.yaml)")
            return try loader.load(text: EmbeddedConfig.quickstart, file: "<embedded quickstart.yaml>")
        } catch {
            for problem in error.problems { printError(problem.description) }
            printError("configuration has \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")")
            throw ExitCode(78)
        }
    }
}

func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

func makeLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return logger
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the server: ingestion, queue and delivery.")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let logger = makeLogger("switchyard")
        let loaded = try options.load(logger: logger)
        let store: SQLiteJobStore
        do {
            store = try SQLiteJobStore(config: loaded.config.storage, logger: makeLogger("switchyard.storage"), recoverInFlight: true)
        } catch {
            printError("\(loaded.config.storage.path): cannot open the queue: \(error)")
            throw ExitCode(74)
        }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
        var workers: [ServiceGroupConfiguration.ServiceConfiguration] = []
        let environment = ProcessInfo.processInfo.environment
        for destination in loaded.destinations where destination.config.enabled {
            var destinationLogger = makeLogger("switchyard.delivery")
            destinationLogger[metadataKey: "destination"] = "\(destination.name)"
            do {
                let built = try destination.makeDestination(context: DestinationContext(
                    name: destination.name, httpClient: httpClient, environment: environment, logger: destinationLogger))
                let worker = DeliveryWorker(name: destination.name, destination: built, store: store, policy: destination.config.delivery, logger: destinationLogger)
                workers.append(.init(service: worker))
            } catch {
                printError("\(loaded.file): \(error)")
                try? await httpClient.shutdown()
                try? store.close()
                throw ExitCode(78)
            }
        }
        let app = SwitchyardApplication.make(config: loaded, store: store, logger: logger)
        // Services stop in reverse order: the HTTP server first (no new events), then delivery
        // finishes what it has in flight.
        let group = ServiceGroup(configuration: .init(
            services: workers + [.init(service: app)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("stopped with an error: \(error)")
        }
        try await httpClient.shutdown()
        try store.close()
        logger.info("stopped")
    }
}

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a configuration and list every problem with file, line and column.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the resolved configuration, secrets shown as ***.")
    var print = false

    func run() async throws {
        let loaded = try options.load()
        if self.print {
            Swift.print(try loaded.redactedYAML(), terminator: "")
        } else {
            let c = loaded.config
            Swift.print("\(loaded.file): ok (\(c.sources.count) sources, \(c.destinations.count) destinations, \(c.connections.count) connections)")
        }
    }
}

struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Inspect the durable queue.", subcommands: [Stats.self])

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Events stored and jobs per destination and state, as JSON.")

        @OptionGroup var options: ConfigOptions

        func run() async throws {
            let loaded = try options.load()
            let store = try SQLiteJobStore(config: loaded.config.storage, logger: Logger(label: "switchyard.storage", factory: { _ in SwiftLogNoOpLogHandler() }))
            let stats = try await store.stats()
            try store.close()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        }
    }
}
