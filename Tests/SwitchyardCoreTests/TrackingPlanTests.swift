import Foundation
import SwitchyardEventBridge
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite("Tracking plans", .timeLimit(.minutes(1)))
struct TrackingPlanTests {
    let registry = DestinationRegistry([EventBridgePlugin.self])

    func load(_ yaml: String, file: String = "switchyard.yaml") throws(ConfigError) -> LoadedConfig {
        try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: file)
    }

    func problems(_ yaml: String, file: String = "switchyard.yaml") -> [String] {
        do {
            _ = try load(yaml, file: file)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static func config(_ plans: String, source: String = "trackingPlan: web-plan") -> String {
        """
        sources: [{ name: web, writeKeys: [k], \(source) }]
        trackingPlans:
        \(plans)
        destinations:
          - name: bus
            type: eventbridge
            config: { region: us-east-1, eventBusName: b, detailType: d }
        connections: [{ from: web, to: [bus] }]
        """
    }

    static let plan = """
          - name: web-plan
            events:
              - event: Order Completed
                properties: { type: object, required: [total], properties: { total: { type: number } } }
              - type: identify
                traits: { type: object, properties: { email: { type: string, format: email } } }
        """

    func event(_ json: String, type: MessageType = .track, name: String? = "Order Completed") -> Event {
        Event(messageId: "m", type: type, name: name, userId: "u", anonymousId: nil, receivedAt: TestTime.now(), payload: Array(json.utf8))
    }

    func plan(_ options: String = "") throws -> TrackingPlan {
        let loaded = try load(Self.config(Self.plan + "\n" + options.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")))
        return try #require(loaded.trackingPlans["web-plan"])
    }

    @Test("an event that keeps the plan is stored as it came; violations go into its context in RudderStack's shape")
    func propagates() throws {
        let plan = try plan()
        let ok = event(#"{"type":"track","event":"Order Completed","properties":{"total":5}}"#)
        #expect(plan.check(ok).event?.payload == ok.payload)
        #expect(plan.check(ok).violations.isEmpty)

        let bad = plan.check(event(#"{"type":"track","event":"Order Completed","properties":{"total":"5"},"context":{"ip":"1"}}"#))
        #expect(bad.violations.map(\.type) == [.datatypeMismatch])
        let context = try JSONParser.parse(try #require(bad.event).payload)[path: "context"]
        #expect(context?[path: "ip"] == .string("1"))
        #expect(context?[path: "trackingPlanId"] == .string("web-plan"))
        #expect(context?[path: "trackingPlanVersion"] == .number("1"))
        let error = context?[path: "violationErrors"]?.arrayValue?.first
        #expect(error?[path: "type"] == .string("Datatype-Mismatch"))
        #expect(error?[path: "message"] == .string("must be number"))
        #expect(error?[path: "meta.instancePath"] == .string("/properties/total"))
        #expect(error?[path: "meta.schemaPath"] == .string("#/properties/properties/properties/total/type"))

        let unplanned = plan.check(event(#"{"type":"track","event":"Other"}"#, name: "Other"))
        #expect(unplanned.violations.map(\.type) == [.unplannedEvent] && unplanned.event != nil)
        // Types the plan does not name, and alias, are not checked.
        #expect(plan.check(event(#"{"type":"page"}"#, type: .page, name: nil)).violations.isEmpty)
        // Identify traits where RudderStack's SDKs put them.
        let identify = plan.check(event(#"{"type":"identify","context":{"traits":{"email":"x"}}}"#, type: .identify, name: nil))
        #expect(identify.violations.map(\.instancePath) == ["/context/traits/email"])
        // A missing part is checked as an empty object: its required properties are missing.
        #expect(plan.check(event(#"{"type":"track","event":"Order Completed"}"#)).violations.map(\.type) == [.requiredMissing])
    }

    @Test("each choice: drop violating events, drop unplanned events, drop unplanned properties")
    func choices() throws {
        let strict = try plan("onViolation: dropEvent\nonUnplannedEvent: drop\nonUnplannedProperties: drop")
        #expect(strict.check(event(#"{"type":"track","event":"Order Completed","properties":{"total":"5"}}"#)).dropped)
        #expect(strict.check(event(#"{"type":"track","event":"Other"}"#, name: "Other")).dropped)
        let extra = strict.check(event(#"{"type":"track","event":"Order Completed","properties":{"total":5,"debug":true}}"#))
        #expect(!extra.dropped, "removing unplanned properties is not a reason to drop the event")
        let stored = try JSONParser.parse(try #require(extra.event).payload)
        #expect(stored[path: "properties"] == .object(JSONObject([("total", .number("5"))])))
        #expect(extra.violations.map(\.property) == ["debug"])
        #expect(extra.violations.first?.type == .additionalProperties)
    }

    @Test("plans that are not valid, and names that do not resolve, stop the load with where and why")
    func problemsAreReported() {
        let bad = Self.config(
            """
              - name: web-plan
                events:
                  - event: Order Completed
                    properties: { type: object, properties: { total: { type: nombre } } }
            """
        )
        let found = problems(bad)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("switchyard.yaml:6:") == true, "\(found)")
        #expect(
            found.first?.contains(#"tracking plan "web-plan": events[0].properties: at /properties/total/type: unknown type "nombre""#)
                == true
        )

        #expect(
            problems(Self.config(Self.plan, source: "trackingPlan: web-plans")).first?.contains(#"unknown tracking plan "web-plans""#)
                == true
        )
        #expect(
            problems(Self.config(Self.plan + "\n    forwardViolationsTo: nowhere")).first?.contains("unknown destination \"nowhere\"")
                == true
        )
        let twice = Self.config(Self.plan + "\n      - event: Order Completed\n        properties: {}")
        #expect(problems(twice).first?.contains(#"event "Order Completed" is planned twice"#) == true, "\(problems(twice))")
        let block = problems(Self.config("  - name: web-plan\n    onViolation: block"))
        #expect(block.first?.contains("onViolation") == true, "\(block)")
    }

    @Test("a plan file in RudderStack's export shape is read, rules over the whole message")
    func rudderStackExport() async throws {
        try await withTemporaryDirectory { dir in
            let export = """
                {"name": "web", "version": 4, "id": "tp_1", "events": [
                  {"name": "Product Clicked", "eventType": "track", "description": "x", "rules": {"type": "object", "properties": {"properties": {
                    "type": "object", "additionalProperties": false, "required": ["email"], "properties": {"email": {"type": ["string"]}}}}}}
                ]}
                """
            try export.write(toFile: dir + "/plan.json", atomically: true, encoding: .utf8)
            let loaded = try load(Self.config("  - { name: web-plan, file: plan.json }"), file: dir + "/switchyard.yaml")
            let plan = try #require(loaded.trackingPlans["web-plan"])
            let outcome = plan.check(
                event(#"{"type":"track","event":"Product Clicked","properties":{"email":1,"x":2}}"#, name: "Product Clicked")
            )
            #expect(Set(outcome.violations.map(\.type)) == [.additionalProperties, .datatypeMismatch])
            #expect(outcome.violations.map(\.schemaPath).contains("#/properties/properties/properties/email/type"))
        }
    }

    @Test("Segment's forwarded violations carry the event's id, name and the field, nothing of its data")
    func forwarding() throws {
        let plan = try plan()
        let bad = event(#"{"type":"track","event":"Order Completed","properties":{"secret":"s"}}"#)
        let outcome = plan.check(bad)
        let made = plan.violationEvents(for: bad, violations: outcome.violations, source: "web")
        #expect(made.count == 1)
        let forwarded = try JSONParser.parse(made[0].payload)
        #expect(forwarded[path: "event"] == .string("Violation Generated"))
        #expect(forwarded[path: "userId"] == .string("schema-violations"))
        #expect(forwarded[path: "properties.violationField"] == .string("properties.total"))
        #expect(forwarded[path: "properties.violationDescription"] == .string("properties.total is required"))
        #expect(forwarded[path: "properties.violationType"] == .string("Required"))
        #expect(forwarded[path: "properties.eventMessageID"] == .string("m"))
        #expect(!String(decoding: made[0].payload, as: UTF8.self).contains("secret"))
    }
}
