import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The settings browser SDKs load before they send anything, so a web app points its SDK at this
/// one host: analytics.js's CDN settings (`<cdnURL>/v1/projects/<writeKey>/settings`) and
/// rudder-sdk-js's control plane (`<configUrl>/sourceConfig/`). Both describe the source and no
/// device-mode destinations: Switchyard delivers server-side.
public struct SDKSettingsController: Sendable {
    public let routing: Routing
    public let server: ServerConfig
    /// When the configuration was loaded, the sources' `updatedAt`.
    public let loadedAt: Timestamp

    public init(routing: Routing, server: ServerConfig, loadedAt: Timestamp = .now()) {
        self.routing = routing
        self.server = server
        self.loadedAt = loadedAt
    }

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        router.get("/v1/projects/:writeKey/settings") { request, context in
            try segmentSettings(writeKey: context.parameters.get("writeKey"), request: request)
        }
        router.get("/sourceConfig") { request, _ in
            rudderSourceConfig(request: request)
        }
    }

    /// The base URL the SDK is told to send to: `server.publicURL`, else the request's own.
    func publicURL(for request: Request) -> PublicURL {
        if let configured = server.publicURL.flatMap(PublicURL.init) { return configured }
        return PublicURL.of(
            host: request.head.authority,
            forwardedProto: request.headers[.xForwardedProto],
            forwardedHost: request.headers[.xForwardedHost],
            trustForwarded: server.trustForwardedFor,
            fallback: "\(server.host):\(server.port)"
        )
    }

    /// The document analytics.js reads: `integrations["Segment.io"]` with the write key as
    /// `apiKey` (it goes into every event body) and this server as `apiHost`, no other
    /// integrations (each would load a device-mode bundle from the CDN), and telemetry sampling
    /// off, since its metrics would otherwise go to api.segment.io. An unknown write key is 404, as
    /// Segment's CDN answers it.
    func segmentSettings(writeKey: String?, request: Request) throws -> Response {
        guard let writeKey, let source = routing.source(writeKey: writeKey) else {
            throw TextError(.notFound, IngestError.invalidWriteKey.body)
        }
        guard source.enabled else { throw TextError(.notFound, IngestError.sourceDisabled.body) }
        let url = publicURL(for: request)
        let segmentIO = JSONObject([
            ("apiKey", .string(writeKey)),
            ("apiHost", .string(url.hostAndPath + "/v1")),
            ("protocol", .string(url.scheme)),
            ("unbundledIntegrations", .array([])),
            ("addBundledMetadata", .bool(true)),
            ("maybeBundledConfigIds", .object(JSONObject())),
        ])
        let settings = JSONObject([
            ("integrations", .object(JSONObject([("Segment.io", .object(segmentIO))]))),
            (
                "plan",
                .object(
                    JSONObject([
                        (
                            "track",
                            .object(
                                JSONObject([
                                    ("__default", .object(JSONObject([("enabled", .bool(true)), ("integrations", .object(JSONObject()))])))
                                ])
                            )
                        ),
                        ("identify", .object(JSONObject([("__default", .object(JSONObject([("enabled", .bool(true))])))]))),
                        ("group", .object(JSONObject([("__default", .object(JSONObject([("enabled", .bool(true))])))]))),
                    ])
                )
            ),
            ("edgeFunction", .object(JSONObject())),
            ("analyticsNextEnabled", .bool(true)),
            ("middlewareSettings", .object(JSONObject())),
            ("enabledMiddleware", .object(JSONObject())),
            ("metrics", .object(JSONObject([("sampleRate", .number("0"))]))),
            ("legacyVideoPluginsEnabled", .bool(false)),
            ("remotePlugins", .array([])),
        ])
        return Self.json(.object(settings))
    }

    /// The document rudder-sdk-js (v3 and v1.1) requires: `source` with an `id`, a `config` and a
    /// `destinations` array, `enabled` (v3 stops when it is false, and logs why). The write key
    /// comes as Basic auth, or as the `writeKey` parameter the SDK also adds. A missing or
    /// unknown key is 400, the status RudderStack's SDKs read as an invalid write key.
    func rudderSourceConfig(request: Request) -> Response {
        let key =
            BasicAuth.writeKey(from: request.headers[.authorization])
            ?? (try? QueryParameters.parse(request.uri.query.map { Substring($0) } ?? ""))?.writeKey
        guard let key, !key.isEmpty else {
            return Self.json(
                .object(JSONObject([("message", .string("no write key: send it as Basic auth (the write key as user name)"))])),
                status: .badRequest
            )
        }
        guard let source = routing.source(writeKey: key) else {
            return Self.json(.object(JSONObject([("message", .string("Invalid write key"))])), status: .badRequest)
        }
        let updatedAt = JSONValue.string(loadedAt.rfc3339)
        let disabled = JSONObject([("enabled", .bool(false))])
        let config = JSONObject([
            // On, the SDK would post its own errors and metrics to <dataPlaneUrl>/rsaMetrics.
            ("statsCollection", .object(JSONObject([("errors", .object(disabled)), ("metrics", .object(disabled))])))
        ])
        let sourceObject = JSONObject([
            ("id", .string(source.name)),
            ("name", .string(source.name)),
            ("writeKey", .string(key)),
            ("config", .object(config)),
            ("dataplanes", .object(JSONObject())),
            ("enabled", .bool(source.enabled)),
            ("workspaceId", .string("switchyard")),
            ("destinations", .array([])),
            ("updatedAt", updatedAt),
        ])
        return Self.json(
            .object(
                JSONObject([
                    ("isHosted", .bool(false)),
                    ("source", .object(sourceObject)),
                    ("updatedAt", updatedAt),
                    ("consentManagementMetadata", .object(JSONObject([("providers", .array([]))]))),
                ])
            )
        )
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-cache"],
            body: .init(byteBuffer: ByteBuffer(bytes: value.serialized()))
        )
    }
}
