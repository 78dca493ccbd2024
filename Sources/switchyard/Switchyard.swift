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
            Regulations.self, Replays.self, Transformation.self, Schema.self, Schemas.self, Violations.self, Top.self,
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
        let loaded: LoadedConfig
        do {
            if let config {
                loaded = try loader.load(path: config)
            } else if FileManager.default.fileExists(atPath: "switchyard.yaml") {
                loaded = try loader.load(path: "switchyard.yaml")
            } else {
                logger?.notice("no switchyard.yaml here: using the embedded quickstart configuration (Examples/quickstart.yaml)")
                loaded = try loader.load(text: EmbeddedConfig.quickstart, file: "<embedded quickstart.yaml>")
            }
        } catch {
            for problem in error.problems { printError(problem.description) }
            printError("configuration has \(error.problems.count) problem\(error.problems.count == 1 ? "" : "s")")
            throw ExitCode(78)
        }
        // Every transformation and library compiles, used by a destination or not.
        let scripts = loaded.scripts
        guard !scripts.transformations.isEmpty || !scripts.libraries.isEmpty else { return loaded }
        let problems = JavaScriptTransformations().check(transformations: scripts.transformations, libraries: scripts.libraries)
        guard problems.isEmpty else {
            for problem in problems { printError(problem) }
            printError("configuration has \(problems.count) problem\(problems.count == 1 ? "" : "s")")
            throw ExitCode(78)
        }
        return loaded
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
            the destination has rules and the event matches several), with the destination's privacy settings applied, or \
            the reason it would be dead-lettered (exit 1), or that the destination's filter, rules or consent make no job of \
            it (exit 2). A destination's transformations run first (their log() lines go to standard error): an entry is \
            printed per event they return; an event they drop exits 3, one they fail on exits 1.
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
            if case .skipped(let reason) = admission {
                print("skipped: \(reason)")
            } else {
                print("filtered: \(admission.refusal ?? "")")
            }
            throw ExitCode(2)
        }
        // With transformations: the events they return, each made into the destination's entry.
        var payloads = [event.serialized()]
        let transformed = !target.config.transformations.isEmpty
        if transformed {
            payloads = try await TransformationRun.events(of: event, through: target, scripts: loaded.scripts)
        }
        var dropped = false
        for payload in payloads {
            for rule in rules {
                switch target.preview(payload: payload, rule: rule, applyingPrivacy: !transformed) {
                case .entry(let entry):
                    print(entry.jsonString)
                case .drop(let reason):
                    print("dropped\(rule.map { " (rule \($0.name))" } ?? ""): \(reason)")
                    dropped = true
                }
            }
        }
        if dropped { throw ExitCode(1) }
    }
}
