import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore

/// `switchyard replays`: the running server's replays of archived events.
struct Replays: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a time range of archived events again to chosen destinations.",
        subcommands: [Start.self, List.self, Show.self, Cancel.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a replay; prints it as JSON.",
            discussion: """
                Example: switchyard replays start backfill --from 2026-12-06T17:00:00Z --to 2026-12-06T18:00:00Z --destination orders-bus
                """
        )

        @OptionGroup var server: ServerOptions
        @Argument(help: "The replay's name: 1 to 64 letters, digits, '.', '-' or '_'.") var name: String
        @Option(help: "The range's start (RFC 3339), included.") var from: String
        @Option(help: "The range's end (RFC 3339), not included.") var to: String
        @Option(name: .customLong("destination"), help: "A destination to send to (repeat for several).") var destinations: [String] = []
        @Option(name: .customLong("source"), help: "Only events of this source (repeat for several).") var sources: [String] = []
        @Option(name: .customLong("type"), help: "Only events of this message type (repeat for several).") var types: [String] = []
        @Option(name: .customLong("event"), help: "Only track events of this name, or pages and screens (repeat for several).")
        var events: [String] = []
        @Option(help: "Only events matching this EventBridge event pattern (JSON).") var pattern: String?
        @Option(help: "Events per second at most.") var rate: Int?
        @Flag(help: "Start even when another replay sends part of this range to the same destinations.") var force = false
        @Flag(help: "Wait until it has finished, printing its progress.") var wait = false

        func validate() throws {
            guard !destinations.isEmpty else { throw ValidationError("name at least one --destination") }
        }

        func run() async throws {
            var filter = JSONObject()
            if !sources.isEmpty { filter["sources"] = .array(sources.map { .string($0) }) }
            if !types.isEmpty { filter["types"] = .array(types.map { .string($0) }) }
            if !events.isEmpty { filter["events"] = .array(events.map { .string($0) }) }
            if let pattern {
                do {
                    filter["pattern"] = try JSONParser.parse(Array(pattern.utf8))
                } catch {
                    throw ValidationError("--pattern is not JSON: \(error)")
                }
            }
            var body = JSONObject([
                ("name", .string(name)), ("from", .string(from)), ("to", .string(to)),
                ("destinations", .array(destinations.map { .string($0) })), ("filter", .object(filter)),
            ])
            if let rate { body["rate"] = .number(String(rate)) }
            if force { body["force"] = .bool(true) }
            var replay = try await operatorRequest(server, method: .POST, path: "/v1/replays", body: .object(body))
            while wait, !Replays.finished(replay) {
                try await Task.sleep(for: .milliseconds(500))
                replay = try await operatorRequest(server, path: Replays.path(name))
                FileHandle.standardError.write(Data((Replays.progressLine(replay) + "\n").utf8))
            }
            print(String(decoding: replay.serialized(), as: UTF8.self))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every replay with its state and progress, one JSON object per line.")

        @OptionGroup var server: ServerOptions

        func run() async throws {
            let answer = try await operatorRequest(server, path: "/v1/replays")
            for replay in answer[path: "replays"]?.arrayValue ?? [] {
                print(String(decoding: replay.serialized(), as: UTF8.self))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One replay, with its progress, as JSON.")

        @OptionGroup var server: ServerOptions
        @Argument(help: "The replay's name.") var name: String

        func run() async throws {
            print(String(decoding: try await operatorRequest(server, path: Replays.path(name)).serialized(), as: UTF8.self))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Stop a starting or running replay; prints it as JSON.")

        @OptionGroup var server: ServerOptions
        @Argument(help: "The replay's name.") var name: String

        func run() async throws {
            let replay = try await operatorRequest(server, method: .DELETE, path: Replays.path(name))
            print(String(decoding: replay.serialized(), as: UTF8.self))
        }
    }

    static func path(_ name: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/")
        return "/v1/replays/\(name.addingPercentEncoding(withAllowedCharacters: allowed) ?? name)"
    }

    static func finished(_ replay: JSONValue) -> Bool {
        guard let state = replay[path: "state"]?.stringValue.flatMap(SwitchyardCore.Replay.State.init(rawValue:)) else { return true }
        return state.isFinished
    }

    static func progressLine(_ replay: JSONValue) -> String {
        let p = { (key: String) in replay[path: "progress.\(key)"].map { String(decoding: $0.serialized(), as: UTF8.self) } ?? "?" }
        return
            "\(replay[path: "state"]?.stringValue ?? "?"): files \(p("filesDone"))/\(p("filesTotal")), read \(p("eventsRead")), sent \(p("eventsSent"))"
    }
}
