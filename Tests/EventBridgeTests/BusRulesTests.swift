import EventBridgeEmulator
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import Testing

@Suite("The emulator as a local bus, with rules and targets", .timeLimit(.minutes(2)))
struct BusRulesTests {
    func temporary(_ name: String) -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("bus-\(UUID().uuidString)-\(name)").path
    }

    @Test("each accepted event goes to the target of every rule that matches it, as the envelope EventBridge delivers")
    func routedToTargets() async throws {
        let (retention, everything) = (temporary("retention.jsonl"), temporary("all.jsonl"))
        defer { for path in [retention, everything] { try? FileManager.default.removeItem(atPath: path) } }
        var options = EmulatorOptions()
        options.credentials = ["AKIDEMU": "emu-secret"]
        options.rules = try BusRules.parse(
            """
            rules:
              - name: retention-team
                pattern: { source: [contact-lens], detail: { ruleName: [ACCOUNT_CANCELLATION] } }
                target: { file: \(retention) }
              - name: orders-only
                eventBusName: arn:aws:events:us-east-1:123456789012:event-bus/orders
                pattern: { source: [{prefix: ""}] }
                target: { file: \(everything) }
            """,
            file: "rules.yaml"
        )
        let emulator = try EventBridgeEmulator(options: options, httpClient: .shared)
        let body = #"""
            {"Entries":[
              {"Source":"contact-lens","DetailType":"Rules Matched","Detail":"{\"ruleName\":\"ACCOUNT_CANCELLATION\"}","EventBusName":"orders"},
              {"Source":"contact-lens","DetailType":"Rules Matched","Detail":"{\"ruleName\":\"OTHER\"}","EventBusName":"orders"},
              {"Source":"contact-lens","DetailType":"Rules Matched","Detail":"{\"ruleName\":\"ACCOUNT_CANCELLATION\"}"}
            ]}
            """#
        try await Application(router: emulator.router()).test(.router) { client in
            let response = try await client.execute(uri: "/", method: .post, headers: signedHeaders(body), body: ByteBuffer(string: body))
            #expect(response.status == .ok)
            let stats = try await client.execute(uri: "/stats", method: .get)
            #expect(
                try JSONParser.parse(Array(stats.body.readableBytesView))[path: "matchedByRule"]?.jsonString
                    == #"{"orders-only":2,"retention-team":2}"#
            )
        }
        let lines = { (path: String) in
            (try? String(contentsOfFile: path, encoding: .utf8))?.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
                ?? []
        }
        #expect(lines(retention).map { $0[path: "detail.ruleName"]?.stringValue } == ["ACCOUNT_CANCELLATION", "ACCOUNT_CANCELLATION"])
        #expect(lines(retention).allSatisfy { $0[path: "version"] == .string("0") && $0[path: "detail-type"] == .string("Rules Matched") })
        #expect(
            lines(everything).map { $0[path: "detail.ruleName"]?.stringValue } == ["ACCOUNT_CANCELLATION", "OTHER"],
            "the default bus's event is not on orders"
        )
    }

    @Test("a rule EventBridge would refuse is reported with its reason and line, and none of the file is used")
    func refusedRules() {
        do {
            _ = try BusRules.parse(
                """
                rules:
                  - name: ok
                    pattern: { source: [a] }
                    target: { file: out.jsonl }
                  - name: upper
                    pattern: { source: [{Prefix: a}] }
                    target: { file: out.jsonl }
                  - name: "has space"
                    pattern: { source: [a] }
                    target: { url: http://127.0.0.1:9/x }
                  - name: ok
                    pattern: { source: [a] }
                    target: { url: "ftp://x" }
                """,
                file: "rules.yaml"
            )
            Issue.record("accepted")
        } catch {
            #expect(
                error.problems.map(\.description) == [
                    #"rules.yaml:6:14: rule "upper": invalid event pattern: Unrecognized match type Prefix"#,
                    #"rules.yaml:8:11: rule name "has space" is not valid: EventBridge rule names are 1 to 64 letters, digits, '.', '-' or '_'"#,
                    #"rules.yaml:13:13: rule "ok": target url "ftp://x" is not an http:// or https:// URL"#,
                ]
            )
        }
    }
}
