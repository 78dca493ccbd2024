import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import SwitchyardServer
import Testing

func json(_ response: TestResponse) throws -> JSONValue {
    try JSONParser.parse(Array(response.body.readableBytesView))
}

extension HTTPField.Name {
    static let forwardedProto = Self("X-Forwarded-Proto")!
    static let forwardedHost = Self("X-Forwarded-Host")!
}

@Suite("SDK settings endpoints", .timeLimit(.minutes(2)))
struct SDKSettingsTests {
    @Test("analytics.js's settings point its Segment.io integration back at the host it asked")
    func segmentSettings() async throws {
        try await Harness.run { client, _ in
            // Hummingbird's test client addresses every request to "localhost".
            let response = try await client.execute(uri: "/v1/projects/web-key/settings", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "application/json; charset=utf-8")
            let settings = try json(response)
            #expect(settings[path: "integrations.Segment.io"] == nil, "a dotted key: read it step by step")
            let segment = try #require(settings[path: "integrations"]?.objectValue?["Segment.io"])
            #expect(segment[path: "apiKey"] == .string("web-key"))
            #expect(segment[path: "apiHost"] == .string("localhost/v1"))
            #expect(segment[path: "protocol"] == .string("http"))
            #expect(settings[path: "integrations"]?.objectValue?.count == 1, "no device-mode integrations to load")
            #expect(settings[path: "metrics.sampleRate"] == .number("0"), "no telemetry to api.segment.io")
            #expect(settings[path: "remotePlugins"] == .array([]))
        }
    }

    @Test("behind a trusted proxy, X-Forwarded-Proto and X-Forwarded-Host name the URL")
    func forwarded() async throws {
        try await Harness.run { client, _ in
            let response = try await client.execute(
                uri: "/v1/projects/web-key/settings",
                method: .get,
                headers: [
                    .forwardedProto: "https", .forwardedHost: "collect.shop.example",
                ]
            )
            let segment = try #require(try json(response)[path: "integrations"]?.objectValue?["Segment.io"])
            #expect(segment[path: "apiHost"] == .string("collect.shop.example/v1"))
            #expect(segment[path: "protocol"] == .string("https"))
            let forged = try await client.execute(
                uri: "/v1/projects/web-key/settings",
                method: .get,
                headers: [
                    .forwardedHost: "evil\"}, {\"x", .forwardedProto: "gopher",
                ]
            )
            let kept = try #require(try json(forged)[path: "integrations"]?.objectValue?["Segment.io"])
            #expect(
                kept[path: "apiHost"] == .string("localhost/v1") && kept[path: "protocol"] == .string("http"),
                "values that are not a host or a scheme are ignored"
            )
        }
        try await Harness.run(server: "trustForwardedFor: false") { client, _ in
            let response = try await client.execute(
                uri: "/v1/projects/web-key/settings",
                method: .get,
                headers: [
                    .forwardedProto: "https", .forwardedHost: "collect.shop.example",
                ]
            )
            let segment = try #require(try json(response)[path: "integrations"]?.objectValue?["Segment.io"])
            #expect(segment[path: "apiHost"] == .string("localhost/v1") && segment[path: "protocol"] == .string("http"))
        }
    }

    @Test("server.publicURL, when set, is the URL given back, path prefix included")
    func publicURL() async throws {
        try await Harness.run(server: "publicURL: https://edge.shop.example/collect/") { client, _ in
            let response = try await client.execute(
                uri: "/v1/projects/web-key/settings",
                method: .get,
                headers: [.forwardedHost: "10.0.0.5:8080"]
            )
            let segment = try #require(try json(response)[path: "integrations"]?.objectValue?["Segment.io"])
            #expect(segment[path: "apiHost"] == .string("edge.shop.example/collect/v1"))
            #expect(segment[path: "protocol"] == .string("https"))
        }
    }

    @Test("unknown or disabled write keys: 404 for analytics.js's settings, as Segment's CDN answers")
    func segmentUnknown() async throws {
        try await Harness.run { client, _ in
            let unknown = try await client.execute(uri: "/v1/projects/nope/settings", method: .get)
            #expect(unknown.status == .notFound && unknown.text == "invalid write key\n")
            let disabled = try await client.execute(uri: "/v1/projects/old-key/settings", method: .get)
            #expect(disabled.status == .notFound && disabled.text == "source is disabled\n")
        }
    }

    @Test("rudder-sdk-js's source config: the source, enabled, with no device-mode destinations")
    func rudderSourceConfig() async throws {
        try await Harness.run { client, _ in
            for uri in ["/sourceConfig/?p=cdn&v=3.31.6&build=modern&writeKey=web-key&lockIntegrationsVersion=false", "/sourceConfig"] {
                let response = try await client.execute(uri: uri, method: .get, headers: basic("web-key"))
                #expect(response.status == .ok)
                let config = try json(response)
                #expect(config[path: "source.id"] == .string("web"))
                #expect(config[path: "source.enabled"] == .bool(true))
                #expect(config[path: "source.destinations"] == .array([]))
                #expect(config[path: "source.config.statsCollection.errors.enabled"] == .bool(false))
                #expect(config[path: "source.writeKey"] == .string("web-key"))
            }
            // The key in the query alone (the SDK adds it there too).
            let byQuery = try await client.execute(uri: "/sourceConfig/?writeKey=web-key-2", method: .get)
            #expect(byQuery.status == .ok)
            let disabled = try json(try await client.execute(uri: "/sourceConfig/", method: .get, headers: basic("old-key")))
            #expect(disabled[path: "source.enabled"] == .bool(false), "the SDK logs that the source is disabled and sends nothing")
        }
    }

    @Test("rudder-sdk-js's source config for a missing or unknown key: 400, which RudderStack's SDKs read as an invalid write key")
    func rudderUnknown() async throws {
        try await Harness.run { client, _ in
            let unknown = try await client.execute(uri: "/sourceConfig/", method: .get, headers: basic("nope"))
            #expect(unknown.status == .badRequest)
            #expect(try json(unknown)[path: "message"] == .string("Invalid write key"))
            let missing = try await client.execute(uri: "/sourceConfig/?p=cdn", method: .get)
            #expect(missing.status == .badRequest)
        }
    }
}
