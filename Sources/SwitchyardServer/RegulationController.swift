import HTTPTypes
import Hummingbird
import SwitchyardCore

/// Segment's Deletion and Suppression API, under the admin token: `POST /v1/regulations` records
/// one, `GET /v1/regulations` lists them with their status and what each deletion removed,
/// `GET /v1/regulations/{id}` shows one. Answers in Segment's envelope (`{"data": …}`).
public struct RegulationController: Sendable {
    public let regulations: RegulationService
    public let adminToken: Secret?

    /// 100,000 ids of up to about 150 bytes each; an id list larger than this is split.
    public static let maxBodyBytes = 16 * 1024 * 1024

    public init(regulations: RegulationService, adminToken: Secret?) {
        self.regulations = regulations
        self.adminToken = adminToken
    }

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        let group = router.group().add(middleware: AdminAuthMiddleware(token: adminToken))
        group.post("/v1/regulations") { request, _ in try await self.create(request) }
        group.get("/v1/regulations") { request, _ in try await self.list(request) }
        group.get("/v1/regulations/{id}") { _, context in try await self.show(context.parameters.require("id")) }
    }

    func create(_ request: Request) async throws -> Response {
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: Self.maxBodyBytes)
        } catch {
            throw TextError(.contentTooLarge, "the body is larger than \(Self.maxBodyBytes) bytes; send the ids in several regulations")
        }
        let parsed: RegulationRequest
        do {
            let json = try JSONParser.parse(Array(body.readableBytesView))
            parsed = try RegulationRequest(json: json)
        } catch let problem as RegulationRequest.Problem {
            throw TextError(.badRequest, problem.description)
        } catch {
            throw TextError(
                .badRequest,
                "the body must be JSON like {\"regulationType\":\"SUPPRESS_WITH_DELETE\",\"subjectType\":\"USER_ID\",\"subjectIds\":[\"u1\"]}"
            )
        }
        let regulation: Regulation
        do {
            regulation = try await regulations.record(parsed)
        } catch {
            throw TextError(.serviceUnavailable, "the regulation could not be stored: \(error)")
        }
        var data = JSONObject()
        data["regulateId"] = .string(regulation.id)
        data["regulation"] = regulation.json
        return OperatorController.json(.object(JSONObject([("data", .object(data))])))
    }

    func list(_ request: Request) async throws -> Response {
        let limit = try OperatorController.integer(request, "limit", default: 100, range: 1...10_000)
        let list = try await regulations.store.regulations(limit: limit)
        let data = JSONObject([("regulations", .array(list.map(\.json)))])
        return OperatorController.json(.object(JSONObject([("data", .object(data))])))
    }

    func show(_ id: String) async throws -> Response {
        guard let regulation = try await regulations.store.regulation(id: id) else {
            throw TextError(.notFound, "no regulation has this id")
        }
        return OperatorController.json(.object(JSONObject([("data", .object(JSONObject([("regulation", regulation.json)])))])))
    }
}
