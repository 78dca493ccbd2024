import CompressNIO
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import SwitchyardCore
import SwitchyardEventBridge
import SwitchyardSQLite
import SwitchyardServer
import Testing

/// A server on a fresh queue, driven through Hummingbird's test client.
struct Harness {
    static let yaml = """
        server:
          limits: { maxEventBytes: 1024, maxRequestBytes: 65536 }
          SERVER
        storage:
          path: STORAGE
          sync: normal
          minFreeBytes: MINFREE
          maxQueuedJobs: MAXJOBS
        sources:
          - { name: web, writeKeys: [web-key, web-key-2] }
          - { name: old, writeKeys: [old-key], enabled: false }
        destinations:
          - name: bus
            type: eventbridge
            config: { region: us-east-1, detailType: "{{ event }}" }
        connections:
          - { from: web, to: [bus] }
        """

    /// - Parameter server: more keys for the `server:` section, as YAML lines at its indentation.
    static func run(
        maxQueuedJobs: Int = 1000,
        minFreeBytes: Int = 0,
        server: String = "",
        _ body: @escaping @Sendable (any TestClientProtocol, SQLiteJobStore) async throws -> Void
    ) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-api-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = yaml.replacingOccurrences(of: "STORAGE", with: dir).replacingOccurrences(of: "MAXJOBS", with: "\(maxQueuedJobs)")
            .replacingOccurrences(of: "MINFREE", with: "\(minFreeBytes)").replacingOccurrences(of: "SERVER", with: server)
        let config = try ConfigLoader(registry: DestinationRegistry([EventBridgePlugin.self]), environment: [:]).load(
            text: text,
            file: "test.yaml"
        )
        let store = try SQLiteJobStore(config: config.config.storage)
        let metrics = PipelineMetrics(factory: NOOPMetricsHandler.instance)
        let app = Application(
            router: SwitchyardApplication.router(
                config: config,
                store: store,
                metrics: metrics,
                stats: StatsService(
                    recorder: metrics.stats,
                    store: store,
                    config: config.config.stats,
                    destinations: ["bus"],
                    logger: Logger(label: "test")
                )
            )
        )
        try await app.test(.router) { client in
            try await body(client, store)
        }
        try store.close()
    }
}

func basic(_ key: String) -> HTTPFields {
    [.authorization: "Basic " + Data("\(key):".utf8).base64EncodedString(), .contentType: "application/json"]
}

func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

func gzip(_ bytes: [UInt8]) throws -> ByteBuffer {
    var input = ByteBuffer(bytes: bytes)
    return try input.compress(with: .gzip())
}

func storedMessageIds(_ store: SQLiteJobStore) async throws -> [String] {
    try await store.read { db in try String.fetchAll(db, sql: "SELECT message_id FROM events ORDER BY id") }
}

extension TestResponse {
    var text: String { String(buffer: body) }
}

@Suite("Ingestion API", .timeLimit(.minutes(2)))
struct IngestionAPITests {
    @Test("a track with Basic auth is stored with its job before the 200")
    func trackBasicAuth() async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u1","event":"Signed Up","messageId":"m1"}"#)
            )
            #expect(response.status == .ok)
            #expect(response.text == "ok\n")
            #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(try await storedMessageIds(store) == ["m1"])
            #expect(try await store.stats().destinations["bus"]?.counts == [.pending: 1])
        }
    }

    @Test("Segment-style: the write key in the JSON body, no Authorization header")
    func writeKeyInBody() async throws {
        try await Harness.run { client, store in
            let body =
                #"{"batch":[{"type":"identify","userId":"u1","messageId":"s1"},{"type":"track","userId":"u1","event":"A","messageId":"s2"}],"writeKey":"web-key-2"}"#
            let response = try await client.execute(
                uri: "/v1/batch",
                method: .post,
                headers: [.contentType: "application/json"],
                body: buffer(body)
            )
            #expect(response.status == .ok)
            #expect(try await storedMessageIds(store) == ["s1", "s2"])
            let payloads = try await store.read { db in try Data.fetchAll(db, sql: "SELECT payload FROM events") }
            #expect(payloads.allSatisfy { !String(decoding: $0, as: UTF8.self).contains("web-key-2") })
        }
    }

    @Test("gzip bodies are decoded, as rudder-sdk-python sends them")
    func gzipBody() async throws {
        try await Harness.run { client, store in
            var headers = basic("web-key")
            headers[.contentEncoding] = "gzip"
            let body = try gzip(Array(#"{"batch":[{"type":"track","userId":"u","event":"Z","messageId":"g1"}]}"#.utf8))
            let response = try await client.execute(uri: "/v1/batch", method: .post, headers: headers, body: body)
            #expect(response.status == .ok)
            #expect(try await storedMessageIds(store) == ["g1"])
        }
    }

    @Test("a gzip bomb gets 413 without being inflated past the limit")
    func gzipBomb() async throws {
        try await Harness.run { client, _ in
            var headers = basic("web-key")
            headers[.contentEncoding] = "gzip"
            let bomb = try gzip([UInt8](repeating: 0x20, count: 50 * 1024 * 1024))
            #expect(bomb.readableBytes < 65536)
            let response = try await client.execute(uri: "/v1/batch", method: .post, headers: headers, body: bomb)
            #expect(response.status == .contentTooLarge)
            #expect(response.text == "request size exceeds max limit\n")
        }
    }

    @Test(
        "refusals: each bad request gets its documented status and body",
        arguments: [
            ("/v1/track", basic("web-key"), "", 400, "request body is nil"),
            ("/v1/track", basic("web-key"), "{\"userId\":", 400, "invalid json"),
            ("/v1/track", basic("web-key"), "[{\"userId\":\"u\"}]", 400, "event is not a valid rudder event"),
            (
                "/v1/batch", basic("web-key"), "{\"batch\":[{\"type\":\"track\",\"userId\":\"u\"},7]}", 400,
                "event is not a valid rudder event"
            ),
            ("/v1/batch", basic("web-key"), "{\"batch\":[]}", 400, "empty batch payload"),
            ("/v1/identify", basic("web-key"), "{\"traits\":{}}", 400, "request neither has anonymousId nor userId"),
            ("/v1/track", [.contentType: "application/json"], "{\"userId\":\"u\"}", 401, "failed to read writekey from header"),
            ("/v1/track", [.contentType: "application/json"], "not json at all", 401, "failed to read writekey from header"),
            ("/v1/track", [.authorization: "Bearer abc"], "{\"userId\":\"u\"}", 401, "failed to read writekey from header"),
            ("/v1/track", basic("wrong-key"), "{\"userId\":\"u\"}", 401, "invalid write key"),
            ("/v1/track", [.contentType: "application/json"], "{\"userId\":\"u\",\"writeKey\":\"nope\"}", 401, "invalid write key"),
            ("/v1/track", basic("old-key"), "{\"userId\":\"u\"}", 404, "source is disabled"),
            (
                "/v1/track", basic("web-key"), "{\"userId\":\"u\",\"p\":\"" + String(repeating: "x", count: 2000) + "\"}", 413,
                "event size exceeds max limit (2265 bytes, limit 1024)"
            ),
            (
                "/v1/batch", basic("web-key"),
                "{\"batch\":[" + String(repeating: "{\"type\":\"track\",\"userId\":\"u\"},", count: 3000) + "{}]}", 413,
                "request size exceeds max limit"
            ),
            ("/v1/track", basic("web-key").merging([.contentEncoding: "gzip"]), "not gzip", 400, "invalid gzip body"),
            (
                "/v1/track", basic("web-key").merging([.contentEncoding: "br"]), "{}", 415,
                "unsupported content encoding \"br\": use gzip or none"
            ),
            ("/v1/nothing", basic("web-key"), "{}", 404, "not found"),
        ] as [(String, HTTPFields, String, Int, String)]
    )
    func refusals(uri: String, headers: HTTPFields, body: String, status: Int, text: String) async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(uri: uri, method: .post, headers: headers, body: buffer(body))
            #expect(response.status.code == status)
            #expect(response.text == text + "\n")
            #expect(response.headers[.contentType] == "text/plain; charset=utf-8")
            #expect(try await storedMessageIds(store).isEmpty)
        }
    }

    @Test("the server keeps serving after bad input, and nothing already accepted is lost")
    func keepsServing() async throws {
        try await Harness.run { client, store in
            let ok = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u","messageId":"before"}"#)
            )
            #expect(ok.status == .ok)
            for junk in ["{", "\u{0}\u{1}", String(repeating: "[", count: 5000), #"{"batch":"#, "\u{FEFF}{}"] {
                _ = try await client.execute(uri: "/v1/batch", method: .post, headers: basic("web-key"), body: buffer(junk))
            }
            _ = try await client.execute(uri: "/v1/track", method: .get, headers: [:], body: nil)
            let after = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u","messageId":"after"}"#)
            )
            #expect(after.status == .ok)
            #expect(try await storedMessageIds(store) == ["before", "after"])
        }
    }

    @Test("a full queue answers 503 with Retry-After, and the event is not half-stored")
    func queueFull() async throws {
        try await Harness.run(maxQueuedJobs: 1) { client, store in
            #expect(
                try await client.execute(
                    uri: "/v1/track",
                    method: .post,
                    headers: basic("web-key"),
                    body: buffer(#"{"userId":"u","messageId":"1"}"#)
                ).status == .ok
            )
            let full = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u","messageId":"2"}"#)
            )
            #expect(full.status == .serviceUnavailable)
            #expect(full.text == "queue is full, retry later\n")
            #expect(full.headers[.retryAfter] == "5")
            #expect(try await storedMessageIds(store) == ["1"])
        }
    }

    @Test("a disk too full to write answers 503 and /ready says why")
    func diskFull() async throws {
        // More free space than any disk has: the store must refuse rather than risk a failed write.
        try await Harness.run(minFreeBytes: Int.max / 2) { client, store in
            let response = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u"}"#)
            )
            #expect(response.status == .serviceUnavailable)
            #expect(response.text.hasPrefix("storage unavailable, retry later: only "))
            #expect(response.text.contains("bytes free on the storage volume"))
            let ready = try await client.execute(uri: "/ready", method: .get)
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.text.hasPrefix("not ready: storage unavailable: "))
            #expect(ready.text.contains("bytes free on the storage volume"))
            #expect(try await storedMessageIds(store).isEmpty)
        }
    }

    @Test("health, readiness and CORS for browser SDKs")
    func healthAndCORS() async throws {
        try await Harness.run { client, _ in
            #expect(try await client.execute(uri: "/health", method: .get).text == "ok\n")
            #expect(try await client.execute(uri: "/ready", method: .get).text == "ready\n")
            let preflight = try await client.execute(
                uri: "/v1/track",
                method: .options,
                headers: [
                    .origin: "https://shop.example", .accessControlRequestMethod: "POST",
                ]
            )
            #expect(preflight.status == .noContent || preflight.status == .ok)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://shop.example")
        }
    }
}

extension HTTPFields {
    func merging(_ other: HTTPFields) -> HTTPFields {
        var copy = self
        for field in other { copy[field.name] = field.value }
        return copy
    }
}
