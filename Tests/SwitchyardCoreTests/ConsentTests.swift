import Foundation
import SwitchyardEventBridge
import Testing

@testable import SwitchyardCore

@Suite("Consent per destination: rudder-server's and Segment's decisions", .timeLimit(.minutes(2)))
struct ConsentTests {
    func event(_ json: String) -> JSONValue {
        try! JSONParser.parse(Array(json.utf8))
    }

    /// An event with RudderStack's consent block.
    func rudder(provider: String? = "custom", strategy: String? = nil, denied: [String], allowed: [String] = []) -> JSONValue {
        var info = JSONObject()
        if let provider { info["provider"] = .string(provider) }
        if let strategy { info["resolutionStrategy"] = .string(strategy) }
        info["allowedConsentIds"] = .array(allowed.map(JSONValue.string))
        info["deniedConsentIds"] = .array(denied.map(JSONValue.string))
        return .object(JSONObject([("type", .string("track")), ("context", .object(JSONObject([("consentManagement", .object(info))])))]))
    }

    func rule(_ providers: [ConsentProvider] = [], categories: [String] = [], oneTrust: [String] = [], ketch: [String] = []) -> ConsentRule
    {
        ConsentRule(
            ConsentConfig(
                categories: categories,
                consentManagement: providers,
                oneTrustCookieCategories: oneTrust,
                ketchConsentPurposes: ketch
            )
        )
    }

    @Test("no denied consent ids: delivered, whatever is allowed or configured")
    func nothingDenied() {
        let r = rule([ConsentProvider(provider: "custom", resolutionStrategy: .and, consents: ["C1"])])
        #expect(r.refusal(for: rudder(denied: [], allowed: ["C2"])) == nil)
        #expect(r.refusal(for: rudder(denied: [""])) == nil)
        #expect(r.refusal(for: event(#"{"type":"track","context":{}}"#)) == nil)
        #expect(r.refusal(for: event(#"{"type":"track"}"#)) == nil)
    }

    @Test("custom provider, and: any configured consent denied drops the event")
    func customAnd() {
        let r = rule([ConsentProvider(provider: "custom", resolutionStrategy: .and, consents: ["C1", "C2"])])
        #expect(r.refusal(for: rudder(denied: ["C2"])) == "no consent: denied C2 (resolutionStrategy and)")
        #expect(r.refusal(for: rudder(denied: ["C3"])) == nil)
    }

    @Test("custom provider, or: only all configured consents denied drops the event")
    func customOr() {
        let r = rule([ConsentProvider(provider: "custom", resolutionStrategy: .or, consents: ["C1", "C2"])])
        #expect(r.refusal(for: rudder(denied: ["C2"])) == nil)
        #expect(r.refusal(for: rudder(denied: ["C1", "C2", "C9"])) == "no consent: denied C1, C2 (resolutionStrategy or)")
    }

    @Test("custom: the destination's strategy wins over the event's; other providers: the event's wins")
    func whoseStrategy() {
        let custom = rule([ConsentProvider(provider: "custom", resolutionStrategy: .or, consents: ["C1", "C2"])])
        // The event says and, the destination or: one denied of two is delivered.
        #expect(custom.refusal(for: rudder(provider: "custom", strategy: "and", denied: ["C1"])) == nil)
        let oneTrust = rule([ConsentProvider(provider: "oneTrust", resolutionStrategy: .and, consents: ["C1", "C2"])])
        // The event says or, the destination and: the event's or decides, one of two denied passes.
        #expect(oneTrust.refusal(for: rudder(provider: "oneTrust", strategy: "or", denied: ["C1"])) == nil)
        #expect(oneTrust.refusal(for: rudder(provider: "oneTrust", strategy: "and", denied: ["C1"])) != nil)
        // No strategy from the event: decided as and.
        #expect(
            oneTrust.refusal(for: rudder(provider: "oneTrust", strategy: nil, denied: ["C2"]))
                == "no consent: denied C2 (resolutionStrategy and)"
        )
        // Custom with no strategy on the destination: and.
        let bare = rule([ConsentProvider(provider: "custom", consents: ["C1", "C2"])])
        #expect(bare.refusal(for: rudder(provider: "custom", strategy: "or", denied: ["C1"])) != nil)
    }

    @Test("no consents for the event's provider: delivered, unless a legacy list decides")
    func noMatchingProvider() {
        let r = rule([ConsentProvider(provider: "custom", resolutionStrategy: .and, consents: ["C1"])])
        #expect(r.refusal(for: rudder(provider: "ketch", denied: ["C1"])) == nil)
        #expect(r.refusal(for: rudder(provider: nil, denied: ["C1"])) == nil)
    }

    @Test("legacy OneTrust drops when any is denied, Ketch only when all are; only for their provider or none")
    func legacy() {
        let oneTrust = rule(oneTrust: ["C1", "C2"])
        #expect(oneTrust.refusal(for: rudder(provider: nil, denied: ["C2"])) == "no consent: denied OneTrust category C2")
        #expect(oneTrust.refusal(for: rudder(provider: "oneTrust", denied: ["C9"])) == nil)
        #expect(oneTrust.refusal(for: rudder(provider: "ketch", denied: ["C2"])) == nil)
        let ketch = rule(ketch: ["p1", "p2"])
        #expect(ketch.refusal(for: rudder(provider: "ketch", denied: ["p1"])) == nil)
        #expect(ketch.refusal(for: rudder(provider: nil, denied: ["p1", "p2"])) == "no consent: denied every Ketch purpose (p1, p2)")
        // Generic consents for the provider come first.
        let both = rule([ConsentProvider(provider: "oneTrust", resolutionStrategy: .or, consents: ["C1", "C2"])], oneTrust: ["C1"])
        #expect(both.refusal(for: rudder(provider: "oneTrust", strategy: "or", denied: ["C1"])) == nil)
    }

    @Test("Segment: no consent object delivers; empty preferences are all false; every category must be true")
    func segment() {
        let r = rule(categories: ["Advertising", "Analytics"])
        #expect(r.refusal(for: event(#"{"type":"track","context":{}}"#)) == nil)
        #expect(
            r.refusal(for: event(#"{"type":"track","context":{"consent":{"categoryPreferences":{}}}}"#))
                == "no consent: category Advertising not granted"
        )
        #expect(
            r.refusal(for: event(#"{"context":{"consent":{"categoryPreferences":{"Advertising":true,"Analytics":true,"X":false}}}}"#))
                == nil
        )
        #expect(
            r.refusal(for: event(#"{"context":{"consent":{"categoryPreferences":{"Advertising":true,"Analytics":false}}}}"#))
                == "no consent: category Analytics not granted"
        )
        // Only `true` grants: a string "true" does not.
        #expect(r.refusal(for: event(#"{"context":{"consent":{"categoryPreferences":{"Advertising":"true","Analytics":true}}}}"#)) != nil)
    }

    @Test("routing: a refused destination is skipped with its reason, the others get their jobs; no consent config, no parse")
    func routing() throws {
        let yaml = """
            sources:
              - name: app
                writeKeys: [k]
            destinations:
              - name: ads
                type: eventbridge
                config: { region: us-east-1, detailType: x }
                consent:
                  categories: [Advertising]
                  consentManagement:
                    - { provider: custom, resolutionStrategy: and, consents: [{consent: C0004}] }
              - name: all
                type: eventbridge
                config: { region: us-east-1, detailType: x }
            connections:
              - from: app
                to: [ads, all]
            """
        let loaded = try ConfigLoader(registry: DestinationRegistry([EventBridgePlugin.self]), environment: [:]).load(
            text: yaml,
            file: "s.yaml"
        )
        let routing = Routing(loaded)
        let source = try #require(routing.source(writeKey: "k"))
        func route(_ json: String) -> Routing.Routed {
            routing.route(
                Event(
                    messageId: "m",
                    type: .track,
                    name: "e",
                    userId: "u",
                    anonymousId: nil,
                    receivedAt: .now(),
                    payload: Array(json.utf8)
                ),
                from: source
            )
        }
        let denied = route(#"{"type":"track","context":{"consentManagement":{"provider":"custom","deniedConsentIds":["C0004"]}}}"#)
        #expect(denied.targets.map(\.destination) == ["all"])
        #expect(denied.skipped == [SkippedTarget(destination: "ads", reason: "no consent: denied C0004 (resolutionStrategy and)")])
        let plain = route(#"{"type":"track"}"#)
        #expect(plain.targets.map(\.destination) == ["ads", "all"] && plain.skipped.isEmpty)
    }
}
