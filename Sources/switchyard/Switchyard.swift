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

@main
struct Switchyard: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A customer-data pipeline: RudderStack/Segment-compatible ingestion, durable queue, EventBridge delivery.",
        subcommands: [
            Serve.self, Validate.self, Transform.self, Pattern.self, Tail.self, Deliveries.self, DeadLetters.self, Replay.self, Queue.self,
            Emulate.self,
        ],
        defaultSubcommand: Serve.self
    )
}

/// Every destination type this build ships.
let registry = DestinationRegistry([EventBridgePlugin.self, KinesisPlugin.self])

struct ConfigOptions: ParsableArguments {
    @Option(
        name: .long,
        help: "Configuration file. Without it, ./switchyard.yaml, or the embedded quickstart configuration when that does not exist."
    )
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
        LoggingSystem.bootstrap({ label, provider in LineLogHandler(label: label, metadataProvider: provider) }, metadataProvider: nil)
        let logger = makeLogger("switchyard")
        let loaded = try options.load(logger: logger)
        for warning in loaded.warnings { logger.notice("configuration: \(warning)") }
        let metrics = ServerMetrics()
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
                logger: logger
            )
        } catch {
            for failure in error.destinations { printError("\(loaded.file): \(failure)") }
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

struct Validate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Check a configuration and list every problem with file, line and column.")

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print the resolved configuration, secrets shown as ***.")
    var print = false

    func run() async throws {
        let loaded = try options.load()
        // Warnings never fail validation: the configuration works, perhaps not as meant.
        for warning in loaded.warnings {
            printError(warning.location.map { "\($0): warning: \(warning.message)" } ?? "warning: \(warning.message)")
        }
        if self.print {
            // What the configuration does not say: where each destination's credentials would come from.
            let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
            var notes: [String: [(String, String)]] = [:]
            for destination in loaded.destinations {
                notes[destination.name] = await destination.describe(
                    context: DestinationContext(
                        name: destination.name,
                        httpClient: httpClient,
                        environment: ProcessInfo.processInfo.environment,
                        logger: makeLogger("switchyard"),
                        metricsFactory: NOOPMetricsHandler.instance
                    )
                )
            }
            try? await httpClient.shutdown()
            Swift.print(try loaded.redactedYAML(notes: notes), terminator: "")
        } else {
            let c = loaded.config
            Swift.print(
                "\(loaded.file): ok (\(c.sources.count) sources, \(c.destinations.count) destinations, \(c.connections.count) connections)"
            )
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
            let stats = try await OpenedStore.withStore(
                loaded.config,
                logger: Logger(label: "switchyard.storage", factory: { _ in SwiftLogNoOpLogHandler() })
            ) {
                try await $0.stats()
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            Swift.print(String(decoding: try encoder.encode(stats), as: UTF8.self))
        }
    }
}

struct Transform: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print what one event would become for a destination, without sending anything.",
        discussion: """
            Reads the event (as stored: enriched JSON) from standard input. Prints the entry as JSON (one line per entry when \
            the destination has rules and the event matches several), or the reason it would be dead-lettered (exit 1), or \
            that the destination's filter or rules make no job of it (exit 2).
            """
    )

    @OptionGroup var options: ConfigOptions

    @Option(help: "The destination's name in the configuration.")
    var destination: String

    func run() async throws {
        let loaded = try options.load()
        guard let target = loaded.destinations.first(where: { $0.name == destination }) else {
            printError("no destination named \"\(destination)\"; there are: \(loaded.destinations.map(\.name).joined(separator: ", "))")
            throw ExitCode(64)
        }
        let input = Array(FileHandle.standardInput.readDataToEndOfFile())
        let event: JSONValue
        do {
            event = try JSONParser.parse(input)
        } catch {
            printError("standard input is not JSON: \(error)")
            throw ExitCode(65)
        }
        let admission = target.admission(of: event)
        guard case .entries(let rules) = admission else {
            print("filtered: \(admission.refusal ?? "")")
            throw ExitCode(2)
        }
        var dropped = false
        for rule in rules {
            switch target.preview(payload: event.serialized(), rule: rule) {
            case .entry(let entry):
                print(entry.jsonString)
            case .drop(let reason):
                print("dropped\(rule.map { " (rule \($0.name))" } ?? ""): \(reason)")
                dropped = true
            }
        }
        if dropped { throw ExitCode(1) }
    }
}

struct Emulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a local stand-in for an AWS service.",
        subcommands: [EmulateEventBridge.self, EmulateKinesis.self]
    )
}

struct EmulateEventBridge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eventbridge",
        abstract:
            "Serve EventBridge's PutEvents on loopback: SigV4 checked, real validation rules, each event written as a target's envelope."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 4010
    @Option(help: "AWS region the signatures must be scoped to.") var region =
        ProcessInfo.processInfo.environment["AWS_REGION"] ?? "us-east-1"
    @Option(help: "Append each received event, as the envelope a rule target gets, to this JSON-lines file.") var eventsOut: String?
    @Option(help: "Access key id it accepts (default: AWS_ACCESS_KEY_ID, else the quickstart's).") var accessKeyId: String?
    @Option(help: "Secret access key it checks signatures with (default: AWS_SECRET_ACCESS_KEY, else the quickstart's).")
    var secretAccessKey: String?
    @Option(help: "Share of entries (0 to 1) answered with a per-entry ThrottlingException.") var throttleRate = 0.0
    @Option(help: "Share of requests (0 to 1) answered with HTTP 500 InternalException.") var errorRate = 0.0
    @Option(help: "Delay before every answer, in milliseconds.") var latencyMs = 0
    @Flag(help: "Add each event's arrival time (x-emulator-received-ms) to its envelope, for latency benchmarks.") var recordReceiptTime =
        false
    @Option(
        help:
            "The bus's rules, a YAML file: each a name, an event pattern and a target (file: PATH or url: http://…). Each accepted event goes to every target whose rule matches."
    )
    var rules: String?

    func validate() throws {
        guard (0...1).contains(throttleRate), (0...1).contains(errorRate) else { throw ValidationError("rates are shares between 0 and 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard (accessKeyId == nil) == (secretAccessKey == nil) else {
            throw ValidationError("--access-key-id and --secret-access-key go together")
        }
    }

    func run() async throws {
        let logger = makeLogger("switchyard.emulator")
        let env = ProcessInfo.processInfo.environment
        var options = EmulatorOptions()
        options.host = host
        options.port = port
        options.region = region
        options.eventsOut = eventsOut
        options.throttleRate = throttleRate
        options.errorRate = errorRate
        options.latencyMilliseconds = latencyMs
        options.recordReceiptTime = recordReceiptTime
        options.credentials = emulatorCredentials(
            accessKeyId: accessKeyId,
            secretAccessKey: secretAccessKey,
            environment: env,
            logger: logger
        )
        if let rules {
            do {
                options.rules = try BusRules.load(path: rules)
            } catch {
                // A rule EventBridge would refuse stops the bus before it accepts anything.
                for problem in error.problems { printError(problem.description) }
                throw ExitCode(78)
            }
            for rule in options.rules?.rules ?? [] {
                logger.info(
                    "bus rule",
                    metadata: ["rule": "\(rule.name)", "target": "\(rule.target)", "bus": "\(rule.eventBusName ?? "any")"]
                )
            }
        }
        // For the bus's URL targets.
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let emulator: EventBridgeEmulator
        do {
            emulator = try EventBridgeEmulator(options: options, httpClient: httpClient, logger: logger)
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        logger.info(
            "EventBridge emulator",
            metadata: [
                "region": "\(region)", "eventsOut": "\(eventsOut ?? "-")", "accessKeyIds": "\(options.credentials.keys.sorted())",
                "throttleRate": "\(throttleRate)", "errorRate": "\(errorRate)", "latencyMs": "\(latencyMs)",
                "rules": "\(options.rules?.rules.count ?? 0)",
            ]
        )
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: emulator.services(logger: logger).map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}

/// The key an emulator accepts: the given one, else `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`,
/// else the quickstart configuration's, so README step one needs no AWS account.
func emulatorCredentials(
    accessKeyId: String?,
    secretAccessKey: String?,
    environment env: [String: String],
    logger: Logger
) -> [String: String] {
    if let id = accessKeyId, let secret = secretAccessKey { return [id: secret] }
    if let id = env["AWS_ACCESS_KEY_ID"], let secret = env["AWS_SECRET_ACCESS_KEY"], !id.isEmpty, !secret.isEmpty { return [id: secret] }
    logger.notice("accepting the quickstart credentials (access key id \"quickstart\"); pass --access-key-id/--secret-access-key to change")
    return ["quickstart": "quickstart-secret"]
}

struct EmulateKinesis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kinesis",
        abstract:
            "Serve Kinesis Data Streams on loopback: PutRecords and PutRecord with SigV4 checked, Kinesis's limits and error codes, shards by the partition key's MD5; consumers read back with ListShards, DescribeStream, GetShardIterator and GetRecords."
    )

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on.") var port = 4567
    @Option(help: "AWS region the signatures must be scoped to.") var region =
        ProcessInfo.processInfo.environment["AWS_REGION"] ?? "us-east-1"
    @Option(help: "Append each accepted record (stream, shard, sequence number, partition key, the decoded data) to this JSON-lines file.")
    var recordsOut: String?
    @Option(help: "The streams that exist, as NAME:SHARDS,… (default: any name, with 4 shards).") var streams: String?
    @Option(help: "Access key id it accepts (default: AWS_ACCESS_KEY_ID, else the quickstart's).") var accessKeyId: String?
    @Option(help: "Secret access key it checks signatures with (default: AWS_SECRET_ACCESS_KEY, else the quickstart's).")
    var secretAccessKey: String?
    @Option(help: "Share of records (0 to 1) answered with a per-record ProvisionedThroughputExceededException.") var throttleRate = 0.0
    @Option(help: "Share of requests (0 to 1) answered with HTTP 500 InternalFailure.") var errorRate = 0.0
    @Option(help: "Delay before every answer, in milliseconds.") var latencyMs = 0
    @Flag(help: "Add each record's arrival time (x-emulator-received-ms) to its line, for latency benchmarks.") var recordReceiptTime =
        false

    func validate() throws {
        guard (0...1).contains(throttleRate), (0...1).contains(errorRate) else { throw ValidationError("rates are shares between 0 and 1") }
        guard latencyMs >= 0 else { throw ValidationError("--latency-ms must not be negative") }
        guard (accessKeyId == nil) == (secretAccessKey == nil) else {
            throw ValidationError("--access-key-id and --secret-access-key go together")
        }
        _ = try parsedStreams()
    }

    func parsedStreams() throws -> [String: Int]? {
        guard let streams else { return nil }
        var out: [String: Int] = [:]
        for item in streams.split(separator: ",") {
            let parts = item.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, !parts[0].isEmpty, let shards = Int(parts[1]), (1...1024).contains(shards) else {
                throw ValidationError("--streams takes NAME:SHARDS,… with 1 to 1024 shards, like agent-events:4; got \"\(item)\"")
            }
            out[String(parts[0])] = shards
        }
        return out
    }

    func run() async throws {
        let logger = makeLogger("switchyard.emulator")
        var options = KinesisEmulatorOptions()
        options.host = host
        options.port = port
        options.region = region
        options.recordsOut = recordsOut
        options.streams = try parsedStreams()
        options.throttleRate = throttleRate
        options.errorRate = errorRate
        options.latencyMilliseconds = latencyMs
        options.recordReceiptTime = recordReceiptTime
        options.credentials = emulatorCredentials(
            accessKeyId: accessKeyId,
            secretAccessKey: secretAccessKey,
            environment: ProcessInfo.processInfo.environment,
            logger: logger
        )
        let emulator = try KinesisEmulator(options: options)
        logger.info(
            "Kinesis emulator",
            metadata: [
                "region": "\(region)", "recordsOut": "\(recordsOut ?? "-")", "streams": "\(streams ?? "any, 4 shards each")",
                "accessKeyIds": "\(options.credentials.keys.sorted())", "throttleRate": "\(throttleRate)", "errorRate": "\(errorRate)",
                "latencyMs": "\(latencyMs)",
            ]
        )
        try await emulator.application(logger: logger).runService()
    }
}
