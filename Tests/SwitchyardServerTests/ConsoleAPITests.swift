import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import SwitchyardSQLite
import Testing

/// The console's pages and the API they read, through the router.
@Suite("Console and stats API", .timeLimit(.minutes(2)))
struct ConsoleAPITests {
    static let admin: HTTPFields = [.authorization: "Bearer admin-token"]

    static func json(_ response: TestResponse) throws -> JSONValue { try JSONParser.parse(Array(response.body.readableBytesView)) }

    @Test("the pages need no token; the API does, and counts what ingestion saw, by source, refusal and destination")
    func statsAndPages() async throws {
        try await Harness.run(server: "adminToken: admin-token") { client, store in
            for path in ["/console", "/console/app.js", "/console/charts.js", "/console/pages.js", "/console/entry.js"] {
                let page = try await client.execute(uri: path, method: .get)
                #expect(page.status == .ok && page.body.readableBytes > 100, "\(path)")
            }
            #expect(try await client.execute(uri: "/v1/stats", method: .get).status == .unauthorized)
            for n in 1...3 {
                let r = try await client.execute(
                    uri: "/v1/track",
                    method: .post,
                    headers: basic("web-key"),
                    body: buffer(#"{"userId":"u","event":"A","messageId":"m\#(n)"}"#)
                )
                #expect(r.status == .ok)
            }
            let dup = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u","event":"A","messageId":"m1"}"#)
            )
            #expect(dup.status == .ok)
            #expect(
                try await client.execute(uri: "/v1/track", method: .post, headers: basic("nope"), body: buffer("{}")).status
                    == .unauthorized
            )
            #expect(
                try await client.execute(uri: "/v1/track", method: .post, headers: basic("web-key"), body: buffer("[")).status
                    == .badRequest
            )

            let stats = try Self.json(try await client.execute(uri: "/v1/stats?from=10m&step=1m", method: .get, headers: Self.admin))
            #expect(stats[path: "resolution"] == .string("minute"))
            #expect(stats[path: "sources.web.totals.received"]?.integerValue == 3)
            #expect(stats[path: "sources.web.totals.duplicates"]?.integerValue == 1)
            #expect(
                stats[path: "sources.web.totals.refused"] == .object(JSONObject([("400", .number("1"))])),
                "a refusal after the key named its source"
            )
            #expect(stats[path: "sources.(unknown).totals.refused"] == .object(JSONObject([("401", .number("1"))])))
            let recent = try Self.json(try await client.execute(uri: "/v1/stats?from=15m&step=10s", method: .get, headers: Self.admin))
            #expect(recent[path: "resolution"] == .string("second"))
            #expect(recent[path: "sources.web.received"]?.arrayValue?.reduce(0) { $0 + ($1.integerValue ?? 0) } == 3)

            let bad = try await client.execute(uri: "/v1/stats?from=3h&step=10s", method: .get, headers: Self.admin)
            #expect(bad.status == .badRequest && bad.text.contains("stats.recent"))
            #expect(try await client.execute(uri: "/v1/stats?step=soon", method: .get, headers: Self.admin).status == .badRequest)
            #expect(try await client.execute(uri: "/v1/stats?from=1h&to=2h", method: .get, headers: Self.admin).status == .badRequest)

            // Dead letters, grouped by the code a replay selects them by.
            let jobs = try await store.claim(destination: "bus", limit: 10, leaseFor: .seconds(60))
            try await store.finish(
                jobs.map { JobResult(job: $0, outcome: .dead(reason: "AccessDeniedException (HTTP 400): no"), log: nil) }
            )
            let groups = try Self.json(try await client.execute(uri: "/v1/dead-letters/groups", method: .get, headers: Self.admin))
            #expect(groups[path: "groups"]?.arrayValue?.first?[path: "errorCode"] == .string("AccessDeniedException"))
            #expect(groups[path: "groups"]?.arrayValue?.first?[path: "count"]?.integerValue == 3)
            let health = try Self.json(try await client.execute(uri: "/v1/destinations", method: .get, headers: Self.admin))
            let bus = try #require(health[path: "destinations"]?.arrayValue?.first)
            #expect(
                bus[path: "name"] == .string("bus") && bus[path: "state"] == .string("idle") && bus[path: "deadLetters"]?.integerValue == 3
            )
            #expect(bus[path: "credentials"] == .null, "no destination was built here")
        }
    }
}
