import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The operator console (`/console`, plain HTML, CSS and JavaScript, no build step) and the API
/// its pages and `switchyard top` read: charts' series (`/v1/stats`), destinations' health
/// (`/v1/destinations`) and dead letters grouped by error code (`/v1/dead-letters/groups`).
public struct ConsoleController: Sendable {
    public let store: any JobStore
    public let adminToken: Secret?
    public let metrics: PipelineMetrics
    /// Reads the rollups; nil when the server runs no stats service (then `/v1/stats` answers 404).
    public let stats: StatsService?
    public let destinations: [ResolvedDestination]
    /// The destinations as built, for their credentials' status.
    public let built: [String: any Destination]

    public init(
        store: any JobStore,
        adminToken: Secret?,
        metrics: PipelineMetrics,
        stats: StatsService?,
        destinations: [ResolvedDestination],
        built: [String: any Destination]
    ) {
        self.store = store
        self.adminToken = adminToken
        self.metrics = metrics
        self.stats = stats
        self.destinations = destinations
        self.built = built
    }

    static let assets: [(path: String, type: String, body: String)] = [
        ("/console", "text/html; charset=utf-8", ConsolePage.html),
        ("/console/app.js", "text/javascript; charset=utf-8", ConsoleScript.js),
        ("/console/charts.js", "text/javascript; charset=utf-8", ConsoleCharts.js),
        ("/console/pages.js", "text/javascript; charset=utf-8", ConsolePages.js),
        // Also loaded by /live.
        ("/console/entry.js", "text/javascript; charset=utf-8", EntryScript.js),
    ]

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        for asset in Self.assets {
            let buffer = ByteBuffer(string: asset.body)
            let headers: HTTPFields = [.contentType: asset.type, .cacheControl: "no-cache"]
            router.get(RouterPath(asset.path)) { _, _ in Response(status: .ok, headers: headers, body: .init(byteBuffer: buffer)) }
        }
        let group = router.group().add(middleware: AdminAuthMiddleware(token: adminToken))
        group.get("/v1/stats") { request, _ in try await self.stats(request) }
        group.get("/v1/destinations") { _, _ in try await self.health() }
        group.get("/v1/dead-letters/groups") { request, _ in try await self.deadLetterGroups(request) }
    }

    func stats(_ request: Request) async throws -> Response {
        guard let stats else { throw TextError(.notFound, "stats are not kept by this server") }
        let now = Timestamp.now()
        let from = try OperatorController.time(request, "from") ?? Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - 3_600_000)
        let to = try OperatorController.time(request, "to") ?? now
        var step: Int64?
        if let text = request.uri.queryParameters.get("step"), !text.isEmpty {
            guard let d = ConfigDuration(parsing: String(text)), d.milliseconds > 0 else {
                throw TextError(.badRequest, "step must be a duration like 10s, 1m or 1h")
            }
            step = d.milliseconds
        }
        do {
            let series = try await stats.series(from: from.millisecondsSinceEpoch, to: to.millisecondsSinceEpoch, step: step)
            return OperatorController.json(series.json)
        } catch let error as StatsQueryError {
            throw TextError(.badRequest, error.description)
        }
    }

    func health() async throws -> Response {
        // The backlog counts each destination's dead letters too (as for the summary).
        let backlog = try await store.backlog()
        var list: [JSONValue] = []
        for destination in destinations where destination.config.enabled {
            let name = destination.name
            let health = metrics.health.health(name)
            let waiting = backlog[name]
            var o = JSONObject()
            o["name"] = .string(name)
            o["type"] = .string(destination.config.type)
            o["state"] = .string(health.state.rawValue)
            o["reason"] = health.reason.map(JSONValue.string) ?? .null
            o["since"] = Self.time(health.since)
            o["pausedUntil"] = Self.time(health.state == .paused ? health.pausedUntil : nil)
            o["lastDeliveredAt"] = Self.time(health.lastDeliveredAt)
            o["lastFailure"] =
                health.lastFailure.map { f in
                    .object(JSONObject([("at", .string(f.at.rfc3339)), ("code", .string(f.code)), ("message", .string(f.message))]))
                } ?? .null
            o["credentials"] =
                built[name]?.credentialStatus.map { c in
                    .object(
                        JSONObject([
                            ("provider", .string(c.provider)), ("expiresAt", Self.time(c.expiresAt)),
                            ("refreshesAt", Self.time(c.refreshesAt)), ("failure", c.failure.map(JSONValue.string) ?? .null),
                        ])
                    )
                } ?? .null
            o["queueDepth"] = .number(String(waiting?.waiting ?? 0))
            o["oldestWaitingSeconds"] = .number(String((waiting?.oldestWaitingAgeMs ?? 0) / 1000))
            o["deadLetters"] = .number(String(waiting?.counts[.dead] ?? 0))
            o["rules"] = .array(
                destination.config.rules.map { rule in
                    .object(
                        JSONObject([
                            ("name", .string(rule.name)), ("action", .string(rule.action)),
                            ("pattern", rule.match?.source ?? .null), ("detailType", rule.detailType.map(JSONValue.string) ?? .null),
                        ])
                    )
                }
            )
            list.append(.object(o))
        }
        return OperatorController.json(.object(JSONObject([("destinations", .array(list))])))
    }

    static func time(_ t: Timestamp?) -> JSONValue { t.map { .string($0.rfc3339) } ?? .null }

    /// Groups are counted over at most this many distinct reason heads; past it `truncated`.
    static let maxHeads = 5000

    func deadLetterGroups(_ request: Request) async throws -> Response {
        let destination = request.uri.queryParameters.get("destination").flatMap { $0.isEmpty ? nil : String($0) }
        let heads = try await store.deadLetterHeads(destination: destination, limit: Self.maxHeads)
        return OperatorController.json(
            .object(
                JSONObject([
                    ("groups", .array(DeadLetterGroup.fold(heads).map(\.json))), ("truncated", .bool(heads.count == Self.maxHeads)),
                ])
            )
        )
    }
}
