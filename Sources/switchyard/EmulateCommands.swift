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
