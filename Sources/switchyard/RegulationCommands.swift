import ArgumentParser
import Foundation
import NIOHTTP1
import SwitchyardCore

/// `switchyard regulations`: the running server's Deletion and Suppression API.
struct Regulations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Suppress a user's new events and delete what is stored of them (Segment's regulations).",
        subcommands: [Create.self, List.self, Show.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a regulation; prints its id.",
            discussion: """
                Types: SUPPRESS_ONLY, UNSUPPRESS, SUPPRESS_WITH_DELETE, DELETE_INTERNAL.
                Example: switchyard regulations create --type SUPPRESS_WITH_DELETE --user-id u1 --wait
                """
        )

        @OptionGroup var server: ServerOptions
        @Option(help: "SUPPRESS_ONLY, UNSUPPRESS, SUPPRESS_WITH_DELETE or DELETE_INTERNAL.") var type: String
        @Option(name: .customLong("user-id"), help: "A userId (repeat for several).") var userIds: [String] = []
        @Option(name: .customLong("anonymous-id"), help: "An anonymousId (repeat for several).") var anonymousIds: [String] = []
        @Option(help: "A file of ids, one per line ('-': standard input); they are userIds unless --anonymous is given.")
        var idsFile: String?
        @Flag(help: "The ids of --ids-file are anonymousIds.") var anonymous = false
        @Flag(help: "Wait until a deletion has finished, then print what it removed.") var wait = false

        func validate() throws {
            guard Regulation.Kind(rawValue: type) != nil else {
                throw ValidationError("--type must be one of \(Regulation.Kind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            let fileType = idsFile == nil ? nil : (anonymous ? "anonymous" : "user")
            let kinds = [userIds.isEmpty ? nil : "user", anonymousIds.isEmpty ? nil : "anonymous", fileType].compactMap { $0 }
            guard !kinds.isEmpty else { throw ValidationError("name the subjects: --user-id, --anonymous-id or --ids-file") }
            guard Set(kinds).count == 1 else {
                throw ValidationError("one regulation is for userIds or for anonymousIds: record one of each")
            }
        }

        func run() async throws {
            var ids = userIds + anonymousIds
            if let idsFile {
                let data =
                    idsFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: idsFile))
                ids += String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).map(String.init).filter { !$0.isEmpty }
            }
            let subjectType: Regulation.SubjectType = (!anonymousIds.isEmpty || (idsFile != nil && anonymous)) ? .anonymousId : .userId
            let body = JSONValue.object(
                JSONObject([
                    ("regulationType", .string(type)), ("subjectType", .string(subjectType.rawValue)),
                    ("subjectIds", .array(ids.map { .string($0) })),
                ])
            )
            let answer = try await operatorRequest(server, method: .POST, path: "/v1/regulations", body: body)
            guard let id = answer[path: "data.regulateId"]?.stringValue else { throw ExitCode.failure }
            guard wait, Regulation.Kind(rawValue: type)?.deletes == true else {
                print(id)
                return
            }
            while true {
                let shown = try await operatorRequest(server, path: "/v1/regulations/\(id)")
                if shown[path: "data.regulation.overallStatus"]?.stringValue == Regulation.Status.finished.rawValue {
                    print(String(decoding: shown[path: "data.regulation"]!.serialized(), as: UTF8.self))
                    return
                }
                try await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest regulations with their status, one JSON object per line.")

        @OptionGroup var server: ServerOptions
        @Option(help: "How many.") var limit = 100

        func run() async throws {
            let answer = try await operatorRequest(server, path: "/v1/regulations?limit=\(limit)")
            for regulation in answer[path: "data.regulations"]?.arrayValue ?? [] {
                print(String(decoding: regulation.serialized(), as: UTF8.self))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One regulation, and what its deletion removed, as JSON.")

        @OptionGroup var server: ServerOptions
        @Argument(help: "The regulation's id.") var id: String

        func run() async throws {
            var allowed = CharacterSet.urlPathAllowed
            allowed.remove(charactersIn: "/")
            let answer = try await operatorRequest(
                server,
                path: "/v1/regulations/\(id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id)"
            )
            print(String(decoding: (answer[path: "data.regulation"] ?? answer).serialized(), as: UTF8.self))
        }
    }
}
