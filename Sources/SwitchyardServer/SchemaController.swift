import Hummingbird
import SwitchyardCore

/// The registry of discovered schemas: `GET /v1/schemas` lists event models with their versions,
/// `GET /v1/schemas/export` writes one as JSON Schema, as EventBridge's registry exports it
/// (OpenAPI 3) or as a tracking plan entry. Behind the admin token, like the other operator routes.
public struct SchemaController: Sendable {
    public let store: any SchemaRegistryStore
    public let adminToken: Secret?

    public init(store: any SchemaRegistryStore, adminToken: Secret?) {
        self.store = store
        self.adminToken = adminToken
    }

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        let group = router.group().add(middleware: AdminAuthMiddleware(token: adminToken))
        group.get("/v1/schemas") { request, _ in try await self.list(request) }
        group.get("/v1/schemas/export") { request, _ in try await self.export(request) }
    }

    enum Format: String, CaseIterable {
        case jsonschema, openapi3, plan
    }

    static func value(_ request: Request, _ key: String) -> String? {
        OperatorController.query(request).value(key).flatMap { $0.isEmpty ? nil : $0 }
    }

    static func type(_ request: Request) throws -> MessageType? {
        guard let text = value(request, "type") else { return nil }
        guard let type = MessageType(rawValue: text) else {
            throw TextError(.badRequest, "type must be one of \(MessageType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return type
    }

    func list(_ request: Request) async throws -> Response {
        let type = try Self.type(request)
        let event = Self.value(request, "event")
        let models = try await store.discoveredSchemas(source: Self.value(request, "source")).filter { model in
            (type == nil || model.key.type == type) && (event == nil || model.key.name == event)
        }
        return OperatorController.json(.object(JSONObject([("schemas", .array(models.map(\.summary)))])))
    }

    func export(_ request: Request) async throws -> Response {
        guard let source = Self.value(request, "source") else { throw TextError(.badRequest, "source is required") }
        let event = Self.value(request, "event")
        // A named event is a track event unless the type says page or screen.
        let type = try Self.type(request) ?? (event == nil ? nil : .track)
        guard let type else { throw TextError(.badRequest, "give event (a track event's name) or type") }
        let formatText = Self.value(request, "format") ?? Format.jsonschema.rawValue
        guard let format = Format(rawValue: formatText) else {
            throw TextError(.badRequest, "format must be one of \(Format.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var version: Int?
        if let text = Self.value(request, "version") {
            guard let n = Int(text), n >= 1 else { throw TextError(.badRequest, "version must be a whole number from 1") }
            version = n
        }
        let key = SchemaKey(source: source, type: type, name: event ?? "")
        guard let model = try await store.discoveredSchemas(source: source).first(where: { $0.key == key }) else {
            throw TextError(.notFound, "no discovered schema for \(Self.describe(key)) yet")
        }
        guard let shape = model.shape(version: version) else {
            let kept = model.versions.map { String($0.number) }.joined(separator: ", ")
            throw TextError(.notFound, "\(Self.describe(key)) has no version \(version ?? 0) (kept: \(kept))")
        }
        switch format {
        case .jsonschema:
            return OperatorController.json(model.jsonSchema(shape))
        case .plan:
            guard type != .alias else { throw TextError(.badRequest, "tracking plans do not check alias events") }
            return OperatorController.json(model.planEntry(shape))
        case .openapi3:
            let export = EventBridgeSchemaExport(
                source: Self.value(request, "busSource") ?? "rudderstack",
                detailType: Self.value(request, "detailType") ?? (key.name.isEmpty ? type.rawValue : key.name)
            )
            return OperatorController.json(export.document(detail: shape))
        }
    }

    static func describe(_ key: SchemaKey) -> String {
        let name = key.name.isEmpty ? "" : " \"\(key.name.prefix(100))\""
        return "source \"\(key.source.prefix(100))\" \(key.type.rawValue)\(name)"
    }
}
