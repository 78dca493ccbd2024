import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardServer

/// Runs transformations on a sample event from the command line, as delivery would.
enum TransformationRun {
    /// A job for a sample event, as a destination's worker would claim it.
    static func job(for event: JSONValue, destination: String, source: String) -> Job {
        let type = event[path: "type"]?.stringValue.flatMap(MessageType.init(rawValue:)) ?? .track
        return Job(
            id: 1,
            lease: 1,
            destination: destination,
            attempt: 1,
            source: source,
            messageId: event[path: "messageId"]?.stringValue ?? "",
            type: type,
            name: event[path: type == .track ? "event" : "name"]?.stringValue,
            userId: event[path: "userId"]?.stringValue ?? event[path: "anonymousId"]?.stringValue,
            receivedAt: Timestamp.now(),
            payload: event.serialized()
        )
    }

    /// The events a chain returns for one event; their `log()` lines go to standard error. A
    /// drop exits 3 and a failure 1, each with its message.
    static func events(of event: JSONValue, through chain: TransformationChain, destination: String) async throws -> [[UInt8]] {
        let source = event[path: "context.sourceId"]?.stringValue ?? "cli"
        let result = await chain.apply(to: [job(for: event, destination: destination, source: source)])[0]
        switch result {
        case .output(let output, let log):
            for line in log.logs { printError("log: \(line)") }
            guard case .array(let events) = try JSONParser.parse(output) else { return [] }
            return events.map { $0.serialized() }
        case .dropped(let log):
            for line in log.logs { printError("log: \(line)") }
            print("dropped: \(log.message ?? "")")
            throw ExitCode(3)
        case .failed(let log):
            for line in log.logs { printError("log: \(line)") }
            print("failed: \(log.message ?? "")")
            throw ExitCode(1)
        }
    }

    static func events(of event: JSONValue, through target: ResolvedDestination, scripts: TransformationScripts) async throws -> [[UInt8]] {
        guard let chain = try target.transformationChain(scripts: scripts, engines: JavaScriptTransformations()) else {
            return [event.serialized()]
        }
        return try await events(of: event, through: chain, destination: target.name)
    }
}

struct Transformation: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with transformations (JavaScript run on each event before a destination's entry is made).",
        subcommands: [Test.self]
    )

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run one transformation file on a sample event, without a configuration or a server.",
            discussion: """
                Prints each event returned as one line of JSON. An event dropped prints "dropped: ..." and exits 3; a throw, \
                a timeout or a bad return value prints "failed: ..." and exits 1. log() lines go to standard error.
                """
        )

        @Option(help: "The transformation's JavaScript file (exporting transformEvent or transformBatch).") var file: String
        @Option(help: "A JSON file holding one event, or an array of events (run one by one).") var event: String
        @Option(
            name: .customLong("library"),
            help: "A library it imports, as NAME=FILE (repeat the option)."
        )
        var libraries: [String] = []
        @Option(help: "The time limit of one call.") var timeout = "4s"

        func run() async throws {
            guard let duration = ConfigDuration(parsing: timeout) else {
                printError("--timeout: \"\(timeout)\" is not a duration like 250ms or 4s")
                throw ExitCode(64)
            }
            let program = try source(name: (file as NSString).lastPathComponent, path: file, timeout: duration)
            var libs: [TransformationSource] = []
            for spec in libraries {
                guard let eq = spec.firstIndex(of: "=") else {
                    printError("--library: \"\(spec)\" is not NAME=FILE")
                    throw ExitCode(64)
                }
                libs.append(try source(name: String(spec[..<eq]), path: String(spec[spec.index(after: eq)...]), timeout: duration))
            }
            let factory = JavaScriptTransformations()
            let problems = factory.check(transformations: [program], libraries: libs)
            guard problems.isEmpty else {
                for problem in problems { printError(problem) }
                throw ExitCode(65)
            }
            guard let data = FileManager.default.contents(atPath: event), let parsed = try? JSONParser.parse(Array(data)) else {
                printError("\(event): cannot be read as JSON")
                throw ExitCode(66)
            }
            let engine = try factory.makeEngine(transformations: [program], libraries: libs)
            let chain = TransformationChain(names: [program.name], engine: engine, destinationType: "test")
            let events: [JSONValue]
            if case .array(let list) = parsed { events = list } else { events = [parsed] }
            for sample in events {
                for output in try await TransformationRun.events(of: sample, through: chain, destination: "test") {
                    print(String(decoding: output, as: UTF8.self))
                }
            }
        }

        func source(name: String, path: String, timeout: ConfigDuration) throws -> TransformationSource {
            guard let data = FileManager.default.contents(atPath: path), let code = String(data: data, encoding: .utf8) else {
                printError("\(path): cannot be read as UTF-8 text")
                throw ExitCode(66)
            }
            return TransformationSource(name: name, code: code, origin: path, timeout: timeout)
        }
    }
}
