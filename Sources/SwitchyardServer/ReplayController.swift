import HTTPTypes
import Hummingbird
import SwitchyardCore

/// Replays under the admin token: `POST /v1/replays` starts one, `GET /v1/replays[/{name}]`
/// shows them with their progress, `DELETE /v1/replays/{name}` cancels one. The node holding a
/// replay's lease runs it (`ReplayRunner`); any node answers these.
public struct ReplayController: Sendable {
    public let store: any ReplayStore
    public let routing: Routing
    public let adminToken: Secret?
    static let maxBodyBytes = 64 * 1024

    public init(store: any ReplayStore, routing: Routing, adminToken: Secret?) {
        self.store = store
        self.routing = routing
        self.adminToken = adminToken
    }

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        let group = router.group().add(middleware: AdminAuthMiddleware(token: adminToken))
        group.post("/v1/replays") { request, _ in try await self.start(request) }
        group.get("/v1/replays") { _, _ in try await self.list() }
        group.get("/v1/replays/{name}") { _, context in try await self.show(context.parameters.require("name")) }
        group.delete("/v1/replays/{name}") { _, context in try await self.cancel(context.parameters.require("name")) }
    }

    func start(_ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            throw TextError(.contentTooLarge, "the body is larger than \(Self.maxBodyBytes) bytes")
        }
        let parsed: ReplayRequest
        do {
            let json = try JSONParser.parse(Array(body.readableBytesView))
            parsed = try ReplayRequest.parse(json, destinations: routing.destinationNames, now: Timestamp.now())
        } catch let error as ReplayRequestError {
            throw TextError(.badRequest, error.message)
        } catch {
            throw TextError(
                .badRequest,
                "the body must be JSON like {\"name\":\"orders-backfill\",\"from\":\"2026-12-06T17:00:00Z\",\"to\":\"2026-12-06T18:00:00Z\",\"destinations\":[\"orders-bus\"]}"
            )
        }
        let existing = try await unavailable { try await store.replays() }
        if existing.contains(where: { $0.name == parsed.replay.name }) {
            throw TextError(.conflict, "a replay named \"\(parsed.replay.name)\" exists already; choose another name")
        }
        // A replay that was cancelled or failed does not count: sending its range again is what is asked.
        let overlapping = existing.filter { !($0.state == .cancelled || $0.state == .failed) && $0.overlaps(parsed.replay) }
        if !parsed.force, !overlapping.isEmpty {
            let names = overlapping.map { "\"\($0.name)\"" }.joined(separator: ", ")
            throw TextError(
                .conflict,
                "replay \(names) already sends part of this range to the same destinations; send \"force\": true to replay it again"
            )
        }
        do {
            try await store.createReplay(parsed.replay)
        } catch let conflict as ReplayConflict {
            throw TextError(.conflict, "\(conflict); choose another name")
        } catch {
            throw TextError(.serviceUnavailable, "the replay could not be stored: \(error)")
        }
        return OperatorController.json(parsed.replay.json, status: .created)
    }

    func list() async throws -> Response {
        let replays = try await unavailable { try await store.replays() }
        return OperatorController.json(.object(JSONObject([("replays", .array(replays.map(\.json)))])))
    }

    func show(_ name: String) async throws -> Response {
        guard let replay = try await unavailable({ try await store.replay(named: name) }) else {
            throw TextError(.notFound, "no replay named \"\(name)\"")
        }
        return OperatorController.json(replay.json)
    }

    func cancel(_ name: String) async throws -> Response {
        guard let before = try await unavailable({ try await store.replay(named: name) }) else {
            throw TextError(.notFound, "no replay named \"\(name)\"")
        }
        if before.state.isFinished {
            throw TextError(
                .conflict,
                "replay \"\(name)\" is \(before.state.rawValue) already: only a starting or running one can be cancelled"
            )
        }
        guard let replay = try await unavailable({ try await store.cancelReplay(named: name) }) else {
            throw TextError(.notFound, "no replay named \"\(name)\"")
        }
        return OperatorController.json(replay.json)
    }

    func unavailable<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch {
            throw TextError(.serviceUnavailable, "the replays cannot be read now: \(error)")
        }
    }
}
