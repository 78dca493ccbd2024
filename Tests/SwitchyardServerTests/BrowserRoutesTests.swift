import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import SwitchyardSQLite
import SwitchyardServer
import Testing

/// The stored events' payloads, oldest first, as JSON objects.
func storedPayloads(_ store: SQLiteJobStore) async throws -> [JSONValue] {
    try await store.read { db in try Data.fetchAll(db, sql: "SELECT payload FROM events ORDER BY id") }.map {
        try JSONParser.parse(Array($0))
    }
}

let textPlain: HTTPFields = [.contentType: "text/plain;charset=UTF-8"]
let transparentGIF = Data(base64Encoded: "R0lGODlhAQABAIAAAAAAAAAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==")!

@Suite("Browser SDK routes", .timeLimit(.minutes(2)))
struct BrowserRoutesTests {
    @Test(
        "analytics.js's short routes take one message, typed by the route's letter, with the write key in a text/plain body",
        arguments: [
            ("t", "track"), ("i", "identify"), ("p", "page"), ("s", "screen"), ("g", "group"), ("a", "alias"),
        ]
    )
    func shortRoutes(letter: String, type: String) async throws {
        try await Harness.run { client, store in
            let body =
                #"{"anonymousId":"anon-1","type":"ignored","event":"Clicked","writeKey":"web-key","sentAt":"2026-01-01T00:00:01.000Z","_metadata":{"bundled":["Segment.io"],"unbundled":[],"bundledIds":[]},"messageId":"ajs-next-1"}"#
            let response = try await client.execute(uri: "/v1/\(letter)", method: .post, headers: textPlain, body: buffer(body))
            #expect(response.status == .ok)
            #expect(response.text == "ok\n")
            let stored = try #require(try await storedPayloads(store).first)
            #expect(stored[path: "type"] == .string(type))
            #expect(stored[path: "writeKey"] == nil, "the write key is not stored with the event")
            #expect(stored[path: "_metadata.bundled.0"] == .string("Segment.io"), "analytics.js's _metadata is kept as sent")
            #expect(stored[path: "receivedAt"] != nil && stored[path: "request_ip"] != nil)
        }
    }

    @Test("analytics.js from 1.84 also sends Basic auth; the header's key decides")
    func shortRouteWithBasicAuth() async throws {
        try await Harness.run { client, store in
            var headers = basic("web-key")
            headers[.contentType] = "text/plain"
            let response = try await client.execute(
                uri: "/v1/t",
                method: .post,
                headers: headers,
                body: buffer(#"{"anonymousId":"a","event":"E","writeKey":"web-key","messageId":"b1"}"#)
            )
            #expect(response.status == .ok)
            #expect(try await storedMessageIds(store) == ["b1"])
            let wrong = try await client.execute(
                uri: "/v1/t",
                method: .post,
                headers: basic("wrong"),
                body: buffer(#"{"anonymousId":"a","writeKey":"web-key"}"#)
            )
            #expect(wrong.status == .unauthorized && wrong.text == "invalid write key\n")
        }
    }

    @Test("/v1/b is analytics.js's batching strategy: the batch's sentAt fills each event's, whose own writeKey is dropped")
    func segmentBatch() async throws {
        try await Harness.run { client, store in
            let body =
                #"{"writeKey":"web-key","batch":[{"type":"track","event":"A","anonymousId":"x","writeKey":"web-key","messageId":"b-1","_metadata":{"bundled":["Segment.io"]}},{"type":"identify","anonymousId":"x","traits":{"plan":"pro"},"writeKey":"web-key","messageId":"b-2"}],"sentAt":"2026-01-01T00:00:05.000Z"}"#
            let response = try await client.execute(uri: "/v1/b", method: .post, headers: textPlain, body: buffer(body))
            #expect(response.status == .ok)
            let stored = try await storedPayloads(store)
            #expect(stored.map { $0[path: "messageId"] } == [.string("b-1"), .string("b-2")])
            #expect(stored.allSatisfy { $0[path: "sentAt"] == .string("2026-01-01T00:00:05.000Z") && $0[path: "writeKey"] == nil })
        }
    }

    @Test("/v1/import is a batch, with the batch route's checks")
    func importRoute() async throws {
        try await Harness.run { client, store in
            let ok = try await client.execute(
                uri: "/v1/import",
                method: .post,
                headers: basic("web-key"),
                body: buffer(
                    #"{"batch":[{"type":"track","userId":"u","event":"Old","timestamp":"2020-02-02T00:00:00.000Z","messageId":"imp-1"}]}"#
                )
            )
            #expect(ok.status == .ok)
            #expect(
                try await storedPayloads(store).first?[path: "timestamp"] == .string("2020-02-02T00:00:00.000Z"),
                "a historical timestamp is kept"
            )
            let empty = try await client.execute(
                uri: "/v1/import",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"batch":[]}"#)
            )
            #expect(empty.status == .badRequest && empty.text == "empty batch payload\n")
        }
    }

    @Test("a batch body sent to a single-event route is refused, not stored as one event", arguments: ["/v1/t", "/v1/track", "/v1/i"])
    func batchOnSingleRoute(uri: String) async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(
                uri: uri,
                method: .post,
                headers: textPlain,
                body: buffer(#"{"writeKey":"web-key","userId":"u","batch":[{"type":"track","userId":"u"}]}"#)
            )
            #expect(response.status == .badRequest)
            #expect(response.text.hasPrefix(#"a {"batch": [...]} body goes to /v1/batch (or /v1/b); this route takes one "#))
            #expect(try await storedMessageIds(store).isEmpty)
        }
    }

    @Test("the beacon is authenticated by its query's write key; its body is sendBeacon's text/plain batch")
    func beacon() async throws {
        try await Harness.run { client, store in
            let body =
                #"{"batch":[{"type":"page","anonymousId":"a","name":"Home","messageId":"bc-1"}],"sentAt":"2026-01-01T00:00:00.000Z"}"#
            let ok = try await client.execute(
                uri: "/beacon/v1/batch?writeKey=web-key",
                method: .post,
                headers: textPlain,
                body: buffer(body)
            )
            #expect(ok.status == .ok && ok.text == "ok\n")
            #expect(try await storedMessageIds(store) == ["bc-1"])

            for uri in ["/beacon/v1/batch", "/beacon/v1/batch?writeKey="] {
                let missing = try await client.execute(uri: uri, method: .post, headers: basic("web-key"), body: buffer(body))
                #expect(missing.status == .unauthorized)
                #expect(missing.text == "failed to read writekey from query params\n", "a header does not stand in for the query key")
            }
            let wrong = try await client.execute(
                uri: "/beacon/v1/batch?writeKey=nope",
                method: .post,
                headers: textPlain,
                body: buffer(body)
            )
            #expect(wrong.status == .unauthorized && wrong.text == "invalid write key\n")
            #expect(try await storedMessageIds(store) == ["bc-1"])
        }
    }

    @Test("a beacon over the 64 KiB browsers can send is refused with 413, as declared or as sent")
    func beaconOverLimit() async throws {
        try await Harness.run { client, store in
            let padding = String(repeating: "x", count: 65 * 1024)
            let body = buffer(#"{"batch":[{"type":"track","anonymousId":"a","event":"E"}],"pad":""# + padding + #""}"#)
            let response = try await client.execute(uri: "/beacon/v1/batch?writeKey=web-key", method: .post, headers: textPlain, body: body)
            #expect(response.status == .contentTooLarge)
            #expect(response.text == "request size exceeds max limit\n")
            #expect(try await storedMessageIds(store).isEmpty)
        }
    }

    @Test("a pixel stores the event rudder-server's gateway builds from its query, and answers a transparent GIF")
    func pixelTrack() async throws {
        try await Harness.run { client, store in
            let uri =
                "/pixel/v1/track?writeKey=web-key&anonymousId=%22anon-7%22&event=Email+Opened&properties.price=9.90&context.page.url=https%3A%2F%2Fshop.example%2Fa%3Fb%3D1&properties.price=1"
            let response = try await client.execute(uri: uri, method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "image/gif")
            #expect(response.headers[.cacheControl] == "no-cache, no-store, must-revalidate")
            #expect(response.headers[HTTPField.Name("X-Switchyard-Refused")!] == nil)
            #expect(Data(response.body.readableBytesView) == transparentGIF)

            let stored = try #require(try await storedPayloads(store).first)
            guard case .object(let event) = stored else {
                Issue.record("not an object")
                return
            }
            #expect(
                Array(event.keys.prefix(9)) == [
                    "channel", "integrations", "originalTimestamp", "sentAt", "anonymousId", "event", "properties", "context", "type",
                ]
            )
            #expect(stored[path: "channel"] == .string("web") && stored[path: "integrations.All"] == .bool(true))
            #expect(stored[path: "anonymousId"] == .string("anon-7"), "the quotes a cookie value carries are removed")
            #expect(stored[path: "event"] == .string("Email Opened"))
            #expect(stored[path: "properties.price"] == .string("9.90"), "values stay strings, and a repeated name keeps its first value")
            #expect(stored[path: "context.page.url"] == .string("https://shop.example/a?b=1"))
            #expect(stored[path: "type"] == .string("track"))
            #expect(stored[path: "messageId"] != nil && stored[path: "receivedAt"] != nil)
        }
    }

    @Test("a page pixel's empty name becomes \"Unknown Page\"")
    func pixelPage() async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(uri: "/pixel/v1/page?writeKey=web-key&anonymousId=a&name=", method: .get)
            #expect(response.status == .ok)
            #expect(try await storedPayloads(store).first?[path: "name"] == .string("Unknown Page"))
        }
    }

    @Test(
        "a pixel whose event cannot be stored still answers the GIF (an <img> must load), and says why",
        arguments: [
            ("/pixel/v1/track?anonymousId=a&event=E", "401 failed to read writekey from query params"),
            ("/pixel/v1/track?writeKey=nope&anonymousId=a&event=E", "401 invalid write key"),
            ("/pixel/v1/page?writeKey=old-key&anonymousId=a", "404 source is disabled"),
            ("/pixel/v1/page?writeKey=web-key&userId=u", "400 a pixel needs anonymousId"),
            ("/pixel/v1/track?writeKey=web-key&anonymousId=a", "400 track: mandatory field 'event' missing"),
            ("/pixel/v1/track?writeKey=web-key&anonymousId=a&event=", "400 track: mandatory field 'event' missing"),
            (
                "/pixel/v1/page?writeKey=web-key&anonymousId=a&properties.p=" + String(repeating: "x", count: 1500),
                "413 event size exceeds max limit"
            ),
        ]
    )
    func pixelRefused(uri: String, refused: String) async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(uri: uri, method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "image/gif")
            #expect(Data(response.body.readableBytesView) == transparentGIF)
            #expect(response.headers[HTTPField.Name("X-Switchyard-Refused")!]?.hasPrefix(refused) == true)
            #expect(try await storedMessageIds(store).isEmpty)
        }
    }

    @Test(
        "a pixel query past the bounds, or not well formed, is refused with its status",
        arguments: [
            (Array(repeating: "a=1", count: 10_000).joined(separator: "&"), 400, "too many query parameters (10000, limit 128)"),
            (Array(repeating: "a=1", count: 129).joined(separator: "&"), 400, "too many query parameters (129, limit 128)"),
            (
                "writeKey=web-key&anonymousId=a&x=" + String(repeating: "y", count: 17_000), 413,
                "query string exceeds max limit (17033 bytes, limit 16384)"
            ),
            ("writeKey=web-key&anonymousId=a&bad=%zz", 400, "invalid query string: a parameter is not valid percent-encoded UTF-8"),
            ("writeKey=web-key&anonymousId=a&bad=%ff%fe", 400, "invalid query string: a parameter is not valid percent-encoded UTF-8"),
            (
                "writeKey=web-key&anonymousId=a&a.b.c.d.e.f.g.h.i=1", 400,
                #"invalid query string: parameter name "a.b.c.d.e.f.g.h.i" has more than 8 dotted parts"#
            ),
            (
                "writeKey=web-key&anonymousId=a&properties..x=1", 400,
                #"invalid query string: parameter name "properties..x" has an empty dotted part"#
            ),
            (
                "writeKey=web-key&anonymousId=a&" + String(repeating: "k", count: 300) + "=1", 400,
                "invalid query string: parameter name \"" + String(repeating: "k", count: 32) + "…\" is longer than 256 bytes"
            ),
        ]
    )
    func pixelBounds(query: String, status: Int, text: String) async throws {
        try await Harness.run { client, store in
            let response = try await client.execute(uri: "/pixel/v1/page?" + query, method: .get)
            #expect(response.status.code == status)
            #expect(response.text == text + "\n")
            #expect(try await storedMessageIds(store).isEmpty)
            // Still serving.
            #expect(
                try await client.execute(uri: "/pixel/v1/page?writeKey=web-key&anonymousId=a", method: .get).headers[
                    HTTPField.Name("X-Switchyard-Refused")!
                ] == nil
            )
        }
    }

    @Test("CORS: a preflight allows the method and the headers an SDK asks for; answers and refusals carry the origin")
    func cors() async throws {
        try await Harness.run { client, _ in
            let preflight = try await client.execute(
                uri: "/v1/track",
                method: .options,
                headers: [
                    .origin: "https://shop.example", .accessControlRequestMethod: "POST",
                    .accessControlRequestHeaders: "authorization,content-type,anonymousid,sentat",
                ]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "https://shop.example")
            #expect(preflight.headers[.accessControlAllowHeaders] == "authorization,content-type,anonymousid,sentat")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)
            #expect(preflight.headers[.accessControlAllowCredentials] == "true")

            let odd = try await client.execute(
                uri: "/sourceConfig/",
                method: .options,
                headers: [
                    .origin: "https://shop.example", .accessControlRequestMethod: "GET", .accessControlRequestHeaders: "x-a(b), {\"y\"}",
                ]
            )
            #expect(
                odd.headers[.accessControlAllowHeaders]?.hasPrefix("Accept, Authorization, Content-Type") == true,
                "only plain header names are echoed"
            )

            let refused = try await client.execute(
                uri: "/v1/t",
                method: .post,
                headers: [.origin: "https://shop.example", .contentType: "text/plain"],
                body: buffer(#"{"writeKey":"nope","anonymousId":"a"}"#)
            )
            #expect(refused.status == .unauthorized && refused.text == "invalid write key\n")
            #expect(refused.headers[.accessControlAllowOrigin] == "https://shop.example", "a page can read why it was refused")
            #expect(refused.headers[.accessControlExposeHeaders]?.contains("Retry-After") == true)

            let unknown = try await client.execute(
                uri: "/v1/nothing",
                method: .post,
                headers: [.origin: "https://shop.example"],
                body: buffer("{}")
            )
            #expect(unknown.status == .notFound && unknown.headers[.accessControlAllowOrigin] == "https://shop.example")
        }
    }
}
