import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import SwitchyardSQLite
import Testing

/// `POST/GET /v1/regulations` and what a suppression does to ingestion, through the router.
@Suite("Regulations API", .timeLimit(.minutes(2)))
struct RegulationAPITests {
    static let admin: HTTPFields = [.authorization: "Bearer admin-token", .contentType: "application/json"]

    static func run(_ body: @escaping @Sendable (any TestClientProtocol, SQLiteJobStore) async throws -> Void) async throws {
        try await Harness.run(server: "adminToken: admin-token", body)
    }

    static func post(_ client: any TestClientProtocol, _ json: String, headers: HTTPFields = admin) async throws -> TestResponse {
        try await client.execute(uri: "/v1/regulations", method: .post, headers: headers, body: buffer(json))
    }

    @Test("a suppressed user's events are answered 200 and not stored; others' are, and UNSUPPRESS lets them in again")
    func suppressionAtIngestion() async throws {
        try await Self.run { client, store in
            let created = try await Self.post(client, #"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":["u1"]}"#)
            #expect(created.status == .ok)
            let answer = try JSONParser.parse(Array(created.body.readableBytesView))
            let id = try #require(answer[path: "data.regulateId"]?.stringValue)
            #expect(answer[path: "data.regulation.overallStatus"]?.stringValue == "FINISHED")

            let batch =
                #"{"batch":[{"type":"track","userId":"u1","event":"A","messageId":"x1"},{"type":"track","userId":"u2","event":"A","messageId":"x2"}]}"#
            let sent = try await client.execute(uri: "/v1/batch", method: .post, headers: basic("web-key"), body: buffer(batch))
            #expect(sent.status == .ok)
            #expect(try await storedMessageIds(store) == ["x2"])

            _ = try await Self.post(client, #"{"regulationType":"UNSUPPRESS","subjectType":"USER_ID","subjectIds":["u1"]}"#)
            let again = try await client.execute(
                uri: "/v1/track",
                method: .post,
                headers: basic("web-key"),
                body: buffer(#"{"userId":"u1","event":"A","messageId":"x3"}"#)
            )
            #expect(again.status == .ok)
            #expect(try await storedMessageIds(store) == ["x2", "x3"])

            let list = try await client.execute(uri: "/v1/regulations", method: .get, headers: Self.admin)
            let regulations = try JSONParser.parse(Array(list.body.readableBytesView))[path: "data.regulations"]?.arrayValue ?? []
            #expect(regulations.compactMap { $0[path: "regulationType"]?.stringValue } == ["UNSUPPRESS", "SUPPRESS_ONLY"])
            #expect(!list.text.contains("u1"), "a regulation's record keeps no subject")
            let shown = try await client.execute(uri: "/v1/regulations/\(id)", method: .get, headers: Self.admin)
            #expect(shown.status == .ok)
            #expect(try await client.execute(uri: "/v1/regulations/reg_none", method: .get, headers: Self.admin).status == .notFound)
        }
    }

    @Test("bodies that are not a regulation get 400 with what to fix, never echoing an id; no token gets 401")
    func refusals() async throws {
        try await Self.run { client, _ in
            let cases: [(String, String)] = [
                ("[]", "JSON object"),
                (#"{"regulationType":"DELETE","subjectType":"USER_ID","subjectIds":["u1"]}"#, "regulationType must be one of"),
                (#"{"regulationType":"SUPPRESS_ONLY","subjectType":"EMAIL","subjectIds":["u1"]}"#, "subjectType must be one of"),
                (#"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":[]}"#, "non-empty array"),
                (#"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":["ok",7]}"#, "subjectIds[1]"),
                (#"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":["secret\u0000id"]}"#, "NUL"),
                ("{not json", "must be JSON"),
            ]
            for (body, message) in cases {
                let response = try await Self.post(client, body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response.text.contains(message), "\(response.text)")
                #expect(!response.text.contains("secret"))
            }
            let tooMany = "[" + (0...100_000).map { "\"\($0)\"" }.joined(separator: ",") + "]"
            let many = try await Self.post(client, #"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":\#(tooMany)}"#)
            #expect(many.status == .badRequest)
            #expect(many.text.contains("at most 100000"))
            let unauthorized = try await Self.post(client, "{}", headers: [.contentType: "application/json"])
            #expect(unauthorized.status == .unauthorized)
        }
    }
}
