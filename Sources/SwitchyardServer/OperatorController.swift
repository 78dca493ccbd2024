import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import Prometheus
import ServiceLifecycle
import SwitchyardArchive
import SwitchyardCore

/// The operator's endpoints: the live delivery log (SSE), stored log queries, one event's story,
/// dead letters and replay, metrics. All need `Authorization: Bearer <server.adminToken>`; a write
/// key opens none of them.
public struct OperatorController: Sendable {
    public let store: any JobStore
    public let adminToken: Secret?
    /// The server's counters, whose totals the summary shows.
    public let metrics: PipelineMetrics
    /// What `/metrics` shows: the registry `metrics` reports to. Nil: `/metrics` answers 404.
    public let registry: PrometheusCollectorRegistry?
    /// What the archiver last did, shown in the summary; nil when nothing is archived.
    public var archive: ArchiveStatus?

    public init(store: any JobStore, adminToken: Secret?, metrics: PipelineMetrics, registry: PrometheusCollectorRegistry?) {
        self.store = store
        self.adminToken = adminToken
        self.metrics = metrics
        self.registry = registry
    }

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        router.get("/live") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: LivePage.html))
            )
        }
        let group = router.group().add(middleware: AdminAuthMiddleware(token: adminToken))
        group.get("/v1/live") { request, context in try await self.live(request, context: context) }
        group.get("/v1/deliveries") { request, _ in try await self.deliveries(request) }
        group.get("/v1/violations") { request, _ in try await self.deliveries(request, kind: .violation) }
        group.get("/v1/events/{messageId}") { request, context in try await self.story(request, context: context) }
        group.get("/v1/dead-letters") { request, _ in try await self.deadLetters(request) }
        group.post("/v1/replay") { request, _ in try await self.replay(request) }
        group.get("/v1/summary") { _, _ in try await self.summary() }
        group.get("/metrics") { _, _ in try await self.prometheusText() }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        var bytes = value.serialized()
        bytes.append(UInt8(ascii: "\n"))
        return Response(
            status: status,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: .init(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    // MARK: Query parameters

    /// The query as a form encodes it (`+` is a space, as browsers and Python's requests send
    /// it), which Hummingbird's `queryParameters` leaves as `+`.
    static func query(_ request: Request) -> QueryParameters {
        (try? QueryParameters.parse(Substring(request.uri.query ?? ""))) ?? QueryParameters()
    }

    static func filter(_ request: Request) -> LogFilter {
        let q = query(request)
        func value(_ key: String) -> String? { q.value(key).flatMap { $0.isEmpty ? nil : $0 } }
        return LogFilter(
            source: value("source"),
            destination: value("destination"),
            status: value("status"),
            event: value("event"),
            userId: value("userId"),
            messageId: value("messageId"),
            kind: value("kind").flatMap(LogRecord.Kind.init(rawValue:)),
            rule: value("rule")
        )
    }

    static func time(_ request: Request, _ key: String) throws -> Timestamp? {
        guard let text = request.uri.queryParameters.get(key), !text.isEmpty else { return nil }
        if let t = Timestamp(rfc3339: String(text)) { return t }
        if let ago = ConfigDuration(parsing: String(text)) {
            return Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch - ago.milliseconds)
        }
        throw TextError(.badRequest, "\(key) must be an RFC 3339 time or a duration ago like 15m (at most 100 years)")
    }

    static func integer(_ request: Request, _ key: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = request.uri.queryParameters.get(key), !text.isEmpty else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw TextError(.badRequest, "\(key) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    // MARK: Live stream

    enum StreamItem: Sendable {
        case record(LogRecord)
        case dropped(Int)
        case heartbeat

        /// How many log records the item stands for, when it is itself dropped.
        var records: Int {
            switch self {
            case .record: return 1
            case .dropped(let n): return n
            case .heartbeat: return 0
            }
        }
    }

    func live(_ request: Request, context: SwitchyardRequestContext) async throws -> Response {
        let filter = Self.filter(request)
        let heartbeat = try Self.integer(request, "heartbeat", default: 15, range: 1...300)
        let resumeAfter =
            request.headers[HTTPField.Name("Last-Event-ID")!].flatMap(Int64.init)
            ?? request.uri.queryParameters.get("lastEventId").flatMap { Int64($0) }
        let store = self.store
        let headers: HTTPFields = [
            .contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no",
        ]
        return Response(
            status: .ok,
            headers: headers,
            body: .init { writer in
                // Subscribe before reading the stored backlog, so nothing falls between the two.
                let subscription = store.liveLog.subscribe(filter)
                defer { store.liveLog.unsubscribe(subscription.id) }
                try await writer.write(ByteBuffer(string: ": connected\n\n"))
                var lastSent: Int64 = 0
                if let resumeAfter {
                    lastSent = resumeAfter
                    while true {
                        let missed = try await store.records(after: lastSent, filter: filter, limit: 500)
                        for record in missed {
                            try await writer.write(Self.sse(record))
                            lastSent = record.id
                        }
                        if missed.count < 500 { break }
                    }
                }
                let (items, continuation) = AsyncStream<StreamItem>.makeStream(bufferingPolicy: .bufferingNewest(store.liveLog.bufferSize))
                // Records this relay had to drop for a slow reader, told to the reader like the hub's own.
                let lost = NIOLockedValueBox(0)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await item in subscription.stream {
                            let result: AsyncStream<StreamItem>.Continuation.YieldResult
                            switch item {
                            case .record(let r): result = continuation.yield(.record(r))
                            case .dropped(let n): result = continuation.yield(.dropped(n))
                            }
                            if case .dropped(let oldest) = result { lost.withLockedValue { $0 += oldest.records } }
                        }
                        continuation.finish()
                    }
                    group.addTask {
                        while !Task.isCancelled {
                            try await Task.sleep(for: .seconds(heartbeat))
                            continuation.yield(.heartbeat)
                        }
                    }
                    defer { group.cancelAll() }
                    for try await item in items.cancelOnGracefulShutdown() {
                        let dropped = lost.withLockedValue { count in
                            defer { count = 0 }
                            return count
                        }
                        if dropped > 0 { try await writer.write(Self.droppedNotice(dropped)) }
                        switch item {
                        case .record(let record):
                            // Already sent from the stored backlog.
                            if record.id <= lastSent { continue }
                            try await writer.write(Self.sse(record))
                            lastSent = record.id
                        case .dropped(let n):
                            try await writer.write(Self.droppedNotice(n))
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                        }
                    }
                    continuation.finish()
                }
                try await writer.finish(nil)
            }
        )
    }

    static func droppedNotice(_ count: Int) -> ByteBuffer {
        ByteBuffer(string: "event: dropped\ndata: {\"dropped\":\(count),\"reason\":\"the client read too slowly\"}\n\n")
    }

    static func sse(_ record: LogRecord) -> ByteBuffer {
        var bytes = Array("id: \(record.id)\ndata: ".utf8)
        record.json.write(to: &bytes)
        bytes.append(contentsOf: "\n\n".utf8)
        return ByteBuffer(bytes: bytes)
    }

    // MARK: Queries

    /// The log's records, newest first; `kind` fixes the kind (`/v1/violations`).
    func deliveries(_ request: Request, kind: LogRecord.Kind? = nil) async throws -> Response {
        var filter = Self.filter(request)
        if let kind { filter.kind = kind }
        let query = LogQuery(
            filter: filter,
            since: try Self.time(request, "since"),
            until: try Self.time(request, "until"),
            before: request.uri.queryParameters.get("before").flatMap { Int64($0) },
            limit: try Self.integer(request, "limit", default: 100, range: 1...1000)
        )
        let records = try await store.records(query)
        var o = JSONObject()
        o["records"] = .array(records.map(\.json))
        if records.count == query.limit, let last = records.last { o["next"] = .string(String(last.id)) }
        return Self.json(.object(o))
    }

    func story(_ request: Request, context: SwitchyardRequestContext) async throws -> Response {
        // The router hands over the path segment as sent: an id with `<`, `/` or a space arrives
        // percent-encoded (the console and any HTTP client encode it).
        let raw = try context.parameters.require("messageId")
        let messageId = raw.removingPercentEncoding ?? raw
        guard let story = try await store.story(messageId: messageId) else {
            throw TextError(.notFound, "no event with messageId \"\(messageId.prefix(100))\"")
        }
        return Self.json(story.json)
    }

    static func deadLetterQuery(_ request: Request, defaultLimit: Int) throws -> DeadLetterQuery {
        let q = request.uri.queryParameters
        let ids: [String] = q.getAll("messageId").map { String($0) }
        let destination: String? = q.get("destination").map { String($0) }
        let errorCode: String? = q.get("errorCode").map { String($0) }
        return DeadLetterQuery(
            destination: destination,
            since: try time(request, "since"),
            until: try time(request, "until"),
            errorCode: errorCode,
            messageIds: ids.isEmpty ? nil : ids,
            limit: try integer(request, "limit", default: defaultLimit, range: 1...1_000_000)
        )
    }

    func deadLetters(_ request: Request) async throws -> Response {
        let letters = try await store.deadLetters(try Self.deadLetterQuery(request, defaultLimit: 100))
        return Self.json(.object(JSONObject([("deadLetters", .array(letters.map(\.json)))])))
    }

    /// `POST /v1/replay` with the same selectors as `/v1/dead-letters`, as query parameters or a
    /// JSON body (`destination`, `since`, `until`, `errorCode`, `messageIds`).
    func replay(_ request: Request) async throws -> Response {
        var query = try Self.deadLetterQuery(request, defaultLimit: 1_000_000)
        var request = request
        let body = try await request.collectBody(upTo: 1024 * 1024)
        if body.readableBytes > 0 {
            guard case .object(let o)? = try? JSONParser.parse(Array(body.readableBytesView)) else {
                throw TextError(
                    .badRequest,
                    "the body must be a JSON object like {\"destination\":\"orders-bus\",\"errorCode\":\"ThrottlingException\"}"
                )
            }
            for key in o.keys where !["destination", "since", "until", "errorCode", "messageIds"].contains(key) {
                throw TextError(
                    .badRequest,
                    "unknown key \"\(key.prefix(40))\"; replay takes destination, since, until, errorCode, messageIds"
                )
            }
            if let d = o["destination"]?.stringValue { query.destination = d }
            if let c = o["errorCode"]?.stringValue { query.errorCode = c }
            if let ids = o["messageIds"]?.arrayValue { query.messageIds = ids.compactMap(\.stringValue) }
            for key in ["since", "until"] {
                guard let text = o[key]?.stringValue else { continue }
                guard let t = Timestamp(rfc3339: text) else { throw TextError(.badRequest, "\(key) must be an RFC 3339 time") }
                if key == "since" { query.since = t } else { query.until = t }
            }
        }
        let count = try await store.replay(query)
        return Self.json(.object(JSONObject([("replayed", .number(String(count)))])))
    }

    // MARK: Numbers

    func summaryJSON() async throws -> JSONValue {
        let backlog = try await store.backlog()
        metrics.updateQueue(backlog)
        let snapshot = metrics.snapshot()
        let now = Timestamp.now().millisecondsSinceEpoch
        var destinations = JSONObject()
        let names = Set(backlog.keys).union(snapshot.deliveriesByDestination.keys).sorted()
        for name in names {
            let d = backlog[name]
            var o = JSONObject()
            o["queueDepth"] = .number(String(d?.waiting ?? 0))
            o["oldestWaitingSeconds"] = .number(String((d?.oldestWaitingAgeMs ?? 0) / 1000))
            o["deadLetters"] = .number(String(d?.counts[.dead] ?? 0))
            let outcomes = snapshot.deliveriesByDestination[name] ?? [:]
            o["delivered"] = .number(String(outcomes["succeeded"] ?? 0))
            o["retries"] = .number(String(outcomes["failed"] ?? 0))
            o["deadLettered"] = .number(String(outcomes["dead"] ?? 0))
            // Sends paused after one failed as a whole: how long until the next probe.
            if let until = metrics.health.health(name).pausedUntil?.millisecondsSinceEpoch {
                o["paused"] = .bool(true)
                o["probeInSeconds"] = .number(String(max(0, (until - now + 999) / 1000)))
            } else {
                o["paused"] = .bool(false)
            }
            destinations[name] = .object(o)
        }
        var received = JSONObject()
        for (source, n) in snapshot.receivedBySource.sorted(by: { $0.key < $1.key }) { received[source] = .number(String(n)) }
        var duplicates = JSONObject()
        for (source, n) in snapshot.duplicatesBySource.sorted(by: { $0.key < $1.key }) { duplicates[source] = .number(String(n)) }
        var suppressed = JSONObject()
        for (source, n) in snapshot.suppressedBySource.sorted(by: { $0.key < $1.key }) { suppressed[source] = .number(String(n)) }
        var summary = JSONObject([
            ("received", .object(received)), ("duplicates", .object(duplicates)), ("suppressed", .object(suppressed)),
            ("destinations", .object(destinations)),
        ])
        if let archive { summary["archive"] = archive.snapshot.json }
        return .object(summary)
    }

    func summary() async throws -> Response {
        Self.json(try await summaryJSON())
    }

    /// The registry in Prometheus's text format, with the queue gauges read from the store first.
    func prometheusText() async throws -> Response {
        guard let registry else { throw TextError(.notFound, "metrics are not enabled") }
        metrics.updateQueue(try await store.backlog())
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
        )
    }
}

/// Lets through requests bearing the admin token; everything else gets 401 (403 when no token is
/// configured, which closes the operator endpoints to everyone).
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = SwitchyardRequestContext
    let token: Secret?

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token else {
            throw TextError(.forbidden, "operator endpoints are disabled: set server.adminToken")
        }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            Self.constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(token.reveal().utf8))
        else {
            throw TextError(
                .unauthorized,
                "admin token required (Authorization: Bearer <server.adminToken>)",
                headers: [.wwwAuthenticate: "Bearer"]
            )
        }
        return try await next(request, context)
    }

    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
