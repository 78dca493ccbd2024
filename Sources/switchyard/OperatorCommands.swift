import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Where the running server is and the token that opens its operator endpoints.
struct ServerOptions: ParsableArguments {
    @Option(help: "Server URL (default: from the configuration's server.host and server.port).")
    var url: String?

    @Option(help: "Admin token (default: SWITCHYARD_ADMIN_TOKEN, else the configuration's server.adminToken).")
    var token: String?

    @OptionGroup var config: ConfigOptions

    func resolve() throws -> (url: String, token: String) {
        let env = ProcessInfo.processInfo.environment
        var url = self.url
        var token = self.token ?? env["SWITCHYARD_ADMIN_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if url == nil || token == nil {
            let loaded = try config.load()
            url = url ?? "http://\(loaded.config.server.host):\(loaded.config.server.port)"
            token = token ?? loaded.config.server.adminToken?.reveal()
        }
        guard let token, !token.isEmpty else {
            throw ValidationError("no admin token: pass --token, set SWITCHYARD_ADMIN_TOKEN, or set server.adminToken")
        }
        return (url!.hasSuffix("/") ? String(url!.dropLast()) : url!, token)
    }
}

/// The filters every log command takes.
struct LogFilterOptions: ParsableArguments {
    @Option(help: "Only this source.") var source: String?
    @Option(help: "Only this destination.") var destination: String?
    @Option(help: "Only this status: received, transformed, succeeded, failed, dead, waiting, skipped, dropped.") var status: String?
    @Option(help: "Only this event name.") var event: String?
    @Option(help: "Only this userId (or anonymousId).") var userId: String?
    @Option(help: "Only this messageId.") var messageId: String?
    @Option(help: "Only entries made for this destination rule.") var rule: String?

    var query: [(String, String)] {
        [
            ("source", source), ("destination", destination), ("status", status), ("event", event), ("userId", userId),
            ("messageId", messageId), ("rule", rule),
        ]
        .compactMap { key, value in value.map { (key, $0) } }
    }
}

func queryString(_ pairs: [(String, String)]) -> String {
    var allowed = CharacterSet.urlQueryAllowed
    allowed.remove(charactersIn: "&=+?#")
    let parts = pairs.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }
    return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
}

/// One GET or POST to the server's operator API, returning the parsed JSON or exiting with its error.
func operatorRequest(_ server: ServerOptions, method: HTTPMethod = .GET, path: String, body: JSONValue? = nil) async throws -> JSONValue {
    let (url, token) = try server.resolve()
    var request = HTTPClientRequest(url: url + path)
    request.method = method
    request.headers.add(name: "Authorization", value: "Bearer \(token)")
    if let body {
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body.serialized()))
    }
    let response: HTTPClientResponse
    do {
        response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
    } catch {
        printError("cannot reach \(url): \(error)")
        throw ExitCode(69)
    }
    let bytes = try await response.body.collect(upTo: 64 * 1024 * 1024)
    guard response.status.code / 100 == 2 else {
        printError("\(response.status.code): \(String(buffer: bytes).trimmingCharacters(in: .whitespacesAndNewlines))")
        throw ExitCode(response.status.code == 401 || response.status.code == 403 ? 77 : 1)
    }
    return try JSONParser.parse(Array(bytes.readableBytesView))
}

/// One line per record for people: time, status, where, what, and why it failed.
func describe(_ r: JSONValue, color: Bool) -> String {
    func s(_ key: String) -> String? {
        r[path: key]?.stringValue ?? r[path: key].flatMap { if case .number(let n) = $0 { return n } else { return nil } }
    }
    let status = s("status") ?? "?"
    let paint: String
    switch status {
    case "succeeded": paint = "\u{1B}[32m"
    case "failed": paint = "\u{1B}[33m"
    case "dead": paint = "\u{1B}[31m"
    case "received": paint = "\u{1B}[34m"
    case "skipped", "dropped": paint = "\u{1B}[35m"
    default: paint = "\u{1B}[36m"
    }
    let statusText =
        color
        ? "\(paint)\(status.padding(toLength: 11, withPad: " ", startingAt: 0))\u{1B}[0m"
        : status.padding(toLength: 11, withPad: " ", startingAt: 0)
    var parts = [s("at") ?? "", statusText, s("source") ?? "-"]
    parts.append(s("destination").map { "→ \($0)" + (s("rule").map { " [\($0)]" } ?? "") } ?? "")
    parts.append([s("type"), s("event").map { "\"\($0)\"" }].compactMap { $0 }.joined(separator: " "))
    parts.append(s("messageId") ?? "")
    if s("kind") == "transformation", let names = r[path: "detail.transformations"]?.arrayValue {
        parts.append("transformations " + names.compactMap(\.stringValue).joined(separator: ", "))
    } else if let attempt = s("attempt") {
        parts.append("attempt \(attempt)")
    }
    if let reference = s("reference") { parts.append("delivered as \(reference)") }
    if let code = s("errorCode") {
        parts.append(code + (s("httpStatus").map { " (HTTP \($0))" } ?? "") + (s("errorMessage").map { ": \($0)" } ?? ""))
    } else if let message = s("errorMessage") {
        parts.append(message)
    }
    if let next = s("nextRetryAt") { parts.append("retry at \(next)") }
    return parts.filter { !$0.isEmpty }.joined(separator: "  ")
}

struct Tail: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Follow the live delivery log: one line per record as it happens.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var filter: LogFilterOptions
    @Flag(help: "One JSON object per line, for scripts.") var json = false
    @Option(help: "Resume after this record id (records since then are replayed first).") var after: Int64?
    @Option(help: "Stop after this many records (for scripts and tests).") var count: Int?

    /// How the stream ended.
    enum End: Sendable {
        case counted, closedByServer, silent
    }

    /// The server sends a heartbeat this often; three missed ones mean the connection is dead.
    static let heartbeatSeconds = 15

    func run() async throws {
        let (url, token) = try server.resolve()
        var query = filter.query
        query.append(("heartbeat", String(Self.heartbeatSeconds)))
        var request = HTTPClientRequest(url: url + "/v1/live" + queryString(query))
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let after { request.headers.add(name: "Last-Event-ID", value: String(after)) }
        let color = !json && isatty(STDOUT_FILENO) == 1
        let response: HTTPClientResponse
        do {
            response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        } catch {
            printError("cannot reach \(url): \(error)")
            throw ExitCode(69)
        }
        guard response.status == .ok else {
            let body = try await response.body.collect(upTo: 65536)
            printError("\(response.status.code): \(String(buffer: body).trimmingCharacters(in: .whitespacesAndNewlines))")
            throw ExitCode(response.status == .unauthorized || response.status == .forbidden ? 77 : 69)
        }
        let lastData = NIOLockedValueBox(ContinuousClock.now)
        let lastID = NIOLockedValueBox<String?>(after.map(String.init))
        let (json, count) = (self.json, self.count)
        let end = try await withThrowingTaskGroup(of: End.self) { group in
            group.addTask {
                var pending = ""
                var seen = 0
                for try await chunk in response.body {
                    lastData.withLockedValue { $0 = .now }
                    pending += String(buffer: chunk)
                    while let end = pending.range(of: "\n\n") {
                        let block = pending[..<end.lowerBound]
                        pending = String(pending[end.upperBound...])
                        var event = "message"
                        var data = ""
                        for line in block.split(separator: "\n") {
                            if line.hasPrefix("event: ") { event = String(line.dropFirst(7)) }
                            if line.hasPrefix("data: ") { data += line.dropFirst(6) }
                            if line.hasPrefix("id: ") { lastID.withLockedValue { $0 = String(line.dropFirst(4)) } }
                        }
                        guard !data.isEmpty else { continue }
                        if event == "dropped" {
                            printError("note: \(data)")
                            continue
                        }
                        if json {
                            print(data)
                        } else if let record = try? JSONParser.parse(data) {
                            print(describe(record, color: color))
                        }
                        fflush(nil)
                        seen += 1
                        if let count, seen >= count { return .counted }
                    }
                }
                return .closedByServer
            }
            group.addTask {
                let silence = Duration.seconds(3 * Self.heartbeatSeconds)
                while true {
                    try await Task.sleep(for: .seconds(1))
                    if ContinuousClock.now - lastData.withLockedValue({ $0 }) > silence { return .silent }
                }
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .closedByServer
        }
        // A stream that ends is not success: a script following the log should know, and resume.
        let resume = lastID.withLockedValue { $0 }.map { "; resume with --after \($0)" } ?? ""
        switch end {
        case .counted:
            return
        case .closedByServer:
            printError("the server ended the live stream (did it stop?)\(resume)")
            throw ExitCode(69)
        case .silent:
            printError("nothing from \(url) for \(3 * Self.heartbeatSeconds)s, not even a heartbeat: the connection is lost\(resume)")
            throw ExitCode(69)
        }
    }
}

struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Query the stored delivery log, newest first.")

    @OptionGroup var server: ServerOptions
    @OptionGroup var filter: LogFilterOptions
    @Option(help: "From this time (RFC 3339) or this long ago (15m, 2h).") var since: String?
    @Option(help: "Up to this time (RFC 3339) or this long ago.") var until: String?
    @Option(help: "How many records (1 to 1000).") var limit = 50
    @Option(help: "Page: records older than this id (the previous page's `next`).") var before: Int64?
    @Flag(help: "Print the API's JSON.") var json = false

    func run() async throws {
        var q = filter.query
        if let since { q.append(("since", since)) }
        if let until { q.append(("until", until)) }
        if let before { q.append(("before", String(before))) }
        q.append(("limit", String(limit)))
        let page = try await operatorRequest(server, path: "/v1/deliveries" + queryString(q))
        if json {
            print(page.jsonString)
            return
        }
        for record in page[path: "records"]?.arrayValue ?? [] { print(describe(record, color: isatty(STDOUT_FILENO) == 1)) }
        if let next = page[path: "next"]?.stringValue { print("more: --before \(next)") }
    }
}

/// Selectors shared by listing and replaying dead letters.
struct DeadLetterOptions: ParsableArguments {
    @Option(help: "Only this destination.") var destination: String?
    @Option(help: "Dead-lettered at or after this time (RFC 3339) or this long ago (15m, 2h).") var since: String?
    @Option(help: "Dead-lettered at or before this time, or this long ago.") var until: String?
    @Option(help: "Reasons starting with this error code, e.g. SignatureDoesNotMatch.") var errorCode: String?
    @Option(name: .customLong("message-id"), help: "Only these messageIds (repeat the option).") var messageIds: [String] = []

    var query: [(String, String)] {
        var q = [("destination", destination), ("since", since), ("until", until), ("errorCode", errorCode)].compactMap { k, v in
            v.map { (k, $0) }
        }
        q += messageIds.map { ("messageId", $0) }
        return q
    }
}

struct DeadLetters: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Inspect dead-lettered events.",
        subcommands: [List.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, newest first, with the reason each was given up on.")

        @OptionGroup var server: ServerOptions
        @OptionGroup var selection: DeadLetterOptions
        @Option(help: "How many.") var limit = 100
        @Flag(help: "Print the API's JSON.") var json = false

        func run() async throws {
            let answer = try await operatorRequest(
                server,
                path: "/v1/dead-letters" + queryString(selection.query + [("limit", String(limit))])
            )
            if json {
                print(answer.jsonString)
                return
            }
            let letters = answer[path: "deadLetters"]?.arrayValue ?? []
            for l in letters {
                let fields = ["deadAt", "destination", "messageId", "type", "event"].compactMap { l[path: $0]?.stringValue }
                let attempts = l[path: "attempts"].map { if case .number(let n) = $0 { return n } else { return "?" } } ?? "?"
                print((fields + ["\(attempts) attempts", l[path: "reason"]?.stringValue ?? ""]).joined(separator: "  "))
            }
            print("\(letters.count) dead letter\(letters.count == 1 ? "" : "s")")
        }
    }
}

struct Replay: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Put dead letters back in the queue; their attempts start over and the live log shows the replay."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var selection: DeadLetterOptions
    @Flag(help: "Replay every dead letter when no selector is given.") var all = false

    func validate() throws {
        if selection.query.isEmpty, !all {
            throw ValidationError("say which dead letters: --destination, --since, --until, --error-code, --message-id, or --all")
        }
    }

    func run() async throws {
        let answer = try await operatorRequest(server, method: .POST, path: "/v1/replay" + queryString(selection.query))
        let n = answer[path: "replayed"].map { if case .number(let n) = $0 { return n } else { return "0" } } ?? "0"
        print("replayed \(n)")
    }
}
