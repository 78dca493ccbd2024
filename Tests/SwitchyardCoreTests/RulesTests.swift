import Foundation
import SwitchyardEventBridge
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite("Pattern filters, destination rules and heartbeats in the configuration", .timeLimit(.minutes(2)))
struct RulesConfigTests {
    let registry = DestinationRegistry([EventBridgePlugin.self, NoRulesPlugin.self])

    func load(_ yaml: String) throws(ConfigError) -> LoadedConfig {
        try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: "switchyard.yaml")
    }

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try load(yaml)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static func config(destination extra: String, type: String = "eventbridge") -> String {
        """
        sources:
          - name: app
            writeKeys: [k]
        destinations:
          - name: bus
            type: \(type)
            config: { region: us-east-1, detailType: "{{ event }}" }
        \(extra)
        connections:
          - from: app
            to: [bus]
        """
    }

    func event(_ json: String) -> Event {
        let value = try! JSONParser.parse(Array(json.utf8))
        let type = MessageType(rawValue: value[path: "type"]?.stringValue ?? "track") ?? .track
        return Event(
            messageId: "m",
            type: type,
            name: value[path: "event"]?.stringValue,
            userId: value[path: "userId"]?.stringValue,
            anonymousId: nil,
            receivedAt: .now(),
            payload: Array(json.utf8)
        )
    }

    func reason(_ pattern: String) -> String {
        do {
            _ = try EventPattern(json: pattern)
            return "(valid)"
        } catch {
            return error.reason
        }
    }

    func targets(_ yaml: String, _ json: String) throws -> [JobTarget] {
        let loaded = try load(yaml)
        let routing = Routing(loaded)
        let source = try #require(routing.source(writeKey: "k"))
        return routing.targets(for: event(json), from: source)
    }

    @Test("filter.pattern is an EventBridge pattern over the Switchyard event, written in YAML")
    func patternFilter() throws {
        let yaml = Self.config(
            destination: """
                    filter:
                      types: [track]
                      pattern:
                        properties:
                          plan: [{prefix: pro}]
                          seats: [{numeric: [">=", 10]}]
                """
        )
        #expect(
            try targets(yaml, #"{"type":"track","event":"Paid","properties":{"plan":"pro-annual","seats":12}}"#).map(\.destination) == [
                "bus"
            ]
        )
        #expect(try targets(yaml, #"{"type":"track","event":"Paid","properties":{"plan":"pro-annual","seats":9}}"#).isEmpty)
        #expect(try targets(yaml, #"{"type":"track","event":"Paid","properties":{"plan":"free","seats":12}}"#).isEmpty)
        #expect(try targets(yaml, #"{"type":"identify","properties":{"plan":"pro","seats":12}}"#).isEmpty)
    }

    @Test("a pattern EventBridge would refuse is a config error at its line, with EventBridge's reason")
    func invalidPattern() {
        let yaml = Self.config(
            destination: """
                    filter:
                      pattern:
                        event: Paid
                """
        )
        let found = problems(yaml)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("switchyard.yaml:10:9: invalid event pattern: ") == true, "\(found)")
        #expect(found.first?.hasSuffix(reason(#"{"event":"Paid"}"#)) == true)
    }

    @Test("an event gets one job per rule it matches, named by the rule, in the rules' order")
    func rulesMakeJobs() throws {
        let yaml = Self.config(
            destination: """
                    rules:
                      - name: ACCOUNT_CANCELLATION
                        action: NOTIFY_CUSTOMER_RETENTION
                        match: { event: [Cancel Requested] }
                      - name: HIGH_VALUE
                        action: PAGE_ACCOUNT_MANAGER
                        match: { properties: { arr: [{numeric: [">", 10000]}] } }
                      - name: EVERYTHING
                        action: ARCHIVE
                """
        )
        let both = try targets(yaml, #"{"type":"track","event":"Cancel Requested","userId":"u","properties":{"arr":50000}}"#)
        #expect(both.map(\.rule) == ["ACCOUNT_CANCELLATION", "HIGH_VALUE", "EVERYTHING"])
        #expect(Set(both.map(\.destination)) == ["bus"])
        #expect(try targets(yaml, #"{"type":"track","event":"Login","userId":"u"}"#).map(\.rule) == ["EVERYTHING"])
    }

    @Test("with rules, an event that matches none gets no job; without rules, every admitted event gets one")
    func unmatchedEvents() throws {
        let yaml = Self.config(
            destination: """
                    rules:
                      - { name: CANCELLATION, action: RETAIN, match: { event: [Cancel Requested] } }
                """
        )
        #expect(try targets(yaml, #"{"type":"track","event":"Login","userId":"u"}"#).isEmpty)
        let plain = try targets(Self.config(destination: ""), #"{"type":"track","event":"Login","userId":"u"}"#)
        #expect(plain == [JobTarget(destination: "bus")])
    }

    @Test("rule names are unique per destination; names and actions are short, non-empty identifiers")
    func ruleNames() {
        let yaml = Self.config(
            destination: """
                    rules:
                      - { name: A, action: X }
                      - { name: A, action: Y }
                      - { name: "", action: Z }
                """
        )
        #expect(
            problems(yaml) == [
                #"switchyard.yaml:10:17: destination "bus": rule "A" is defined twice"#,
                #"switchyard.yaml:11:17: rule name must be 1 to 128 characters"#,
            ]
        )
    }

    @Test("a rule's detailType is a template, checked when the configuration loads")
    func ruleDetailType() {
        let yaml = Self.config(
            destination: """
                    rules:
                      - { name: A, action: X, detailType: "{{ event" }
                """
        )
        #expect(problems(yaml) == [#"switchyard.yaml:9:43: rule "A": detailType: "{{" without a closing "}}" in "{{ event""#])
    }

    @Test("rules on a destination type that cannot tag its entries are refused")
    func rulesNeedSupport() {
        let yaml = Self.config(
            destination: """
                    rules:
                      - { name: A, action: X }
                """,
            type: "plain"
        )
        #expect(
            problems(yaml) == [
                #"switchyard.yaml:9:7: destination "bus": plain destinations take no rules (rules tag EventBridge entries; types that take them: eventbridge)"#
            ]
        )
    }

    @Test("a heartbeat needs an interval of at least a second and an event with an identity")
    func heartbeatChecks() {
        let good = Self.config(
            destination: """
                    heartbeat: { every: 120s, event: { event: HEART_BEAT, userId: switchyard } }
                """
        )
        #expect(problems(good).isEmpty)
        #expect(
            problems(
                Self.config(
                    destination: """
                            heartbeat: { every: 500ms, event: { event: HEART_BEAT, userId: switchyard } }
                        """
                )
            ) == [#"switchyard.yaml:8:25: heartbeat.every must be at least 1s"#]
        )
        #expect(
            problems(
                Self.config(
                    destination: """
                            heartbeat: { every: 2m, event: { event: HEART_BEAT } }
                        """
                )
            ) == [#"switchyard.yaml:8:36: heartbeat.event: request neither has anonymousId nor userId"#]
        )
        #expect(
            problems(
                Self.config(
                    destination: """
                            heartbeat: { every: 2m, event: [HEART_BEAT] }
                        """
                )
            ).first?.contains("heartbeat.event: the event must be a mapping") == true
        )
    }

    @Test("validate --print shows patterns, rules and the heartbeat, and what it prints loads again the same")
    func printed() throws {
        let yaml = Self.config(
            destination: """
                    filter:
                      pattern: { properties: { seats: [{ numeric: [">", 1] }] } }
                    rules:
                      - { name: BIG, action: CALL, match: { properties: { plan: [pro] } }, detailType: "{{ event }} (big)" }
                    heartbeat: { every: 2m, event: { event: HEART_BEAT, userId: switchyard } }
                """
        )
        let printed = try load(yaml).redactedYAML()
        #expect(printed.contains("pattern:") && printed.contains("numeric:"))
        #expect(printed.contains("- name: BIG") && printed.contains("action: CALL"))
        #expect(printed.contains("heartbeat:") && printed.contains("every: 2m"))
        let again = try load(printed)
        let destination = try #require(again.config.destinations.first)
        #expect(destination.rules == (try load(yaml)).config.destinations.first?.rules)
        #expect(destination.filter?.pattern == (try load(yaml)).config.destinations.first?.filter?.pattern)
        #expect(destination.heartbeat?.every == .seconds(120))
    }

    @Test("no configured source may take the name heartbeat events are logged under")
    func reservedSource() {
        let yaml = """
            sources:
              - name: heartbeat
                writeKeys: [k]
            """
        #expect(problems(yaml) == [#"switchyard.yaml:2:11: source name "heartbeat" is reserved: heartbeat events are logged under it"#])
    }
}

/// A destination type without rule support, for the configuration checks.
enum NoRulesPlugin: DestinationPlugin {
    struct Settings: Codable, Sendable {}
    static let typeName = "plain"
    static func validate(_ settings: Settings, environment: [String: String]) -> [SettingsProblem] { [] }
    static func makeDestination(
        _ settings: Settings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination {
        throw DestinationSetupError(destination: context.name, message: "not for sending")
    }
    static func preview(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> Preview { .entry(.null) }
}

@Suite("Templates over the pipeline's variables", .timeLimit(.minutes(2)))
struct TemplateVariableTests {
    @Test("$rule.name and $rule.action read the rule an entry is made for; other $ names are refused")
    func ruleVariables() throws {
        let template = try Template("{{ $rule.name }}/{{ $rule.action }}/{{ event }}")
        let scope = TemplateScope(event: .object(JSONObject([("event", .string("Paid"))])), rule: RuleTag(name: "R", action: "A"))
        #expect(template.render(scope) == "R/A/Paid")
        #expect(template.render(TemplateScope(event: .object(JSONObject()))) == "//")
        #expect(throws: Template.ParseError.self) { try Template("{{ $ruleName }}") }
    }

    @Test("a placeholder that is a whole JSON value keeps its type; a missing one is its fallback or null")
    func wholeValues() throws {
        let template = try JSONTemplate(
            try JSONParser.parse(
                Array(
                    #"""
                    {"count":"{{ properties.count }}","agent":"{{ properties.agent }}","label":"n={{ properties.count }}",
                     "state":"{{ properties.state | \"unknown\" }}","gone":"{{ properties.gone }}","fixed":[1,true,"x"]}
                    """#.utf8
                )
            )
        )
        let event = try JSONParser.parse(Array(#"{"properties":{"count":3,"agent":{"id":7}}}"#.utf8))
        #expect(
            template.render(event).jsonString
                == #"{"count":3,"agent":{"id":7},"label":"n=3","state":"unknown","gone":null,"fixed":[1,true,"x"]}"#
        )
    }
}

@Suite("Heartbeats", .timeLimit(.minutes(2)))
struct HeartbeatTests {
    @Test("a heartbeat is due once nothing was delivered for the interval")
    func dueAfterQuiet() {
        var clock = HeartbeatClock(every: 120_000, startedAt: 0)
        #expect(clock.next(at: 1_000) == .sleep(until: 120_000))
        clock.sent(at: 60_000)
        #expect(clock.next(at: 120_000) == .sleep(until: 180_000))
        #expect(clock.next(at: 180_000) == .askStore)
        clock.decided(.stored, at: 180_000)
        // The heartbeat counts as a send: the next is due an interval later.
        #expect(clock.next(at: 180_001) == .sleep(until: 300_000))
    }

    @Test("no heartbeat while a backlog waits; the backlog is looked at again a few seconds later")
    func backlogHoldsHeartbeats() {
        var clock = HeartbeatClock(every: 120_000, startedAt: 0)
        #expect(clock.next(at: 120_000) == .askStore)
        clock.decided(.backlog(3), at: 120_000)
        #expect(clock.next(at: 121_000) == .sleep(until: 125_000))
        #expect(clock.next(at: 125_000) == .askStore)
        // The backlog drains: its deliveries push the next heartbeat an interval out.
        clock.sent(at: 126_000)
        #expect(clock.next(at: 126_000) == .sleep(until: 246_000))
    }

    @Test("another node's delivery or heartbeat puts the next heartbeat an interval after it")
    func activityElsewhere() {
        var clock = HeartbeatClock(every: 120_000, startedAt: 0)
        #expect(clock.next(at: 120_000) == .askStore)
        clock.decided(.active(at: Timestamp(millisecondsSinceEpoch: 100_000)), at: 120_000)
        #expect(clock.next(at: 120_000) == .sleep(until: 220_000))
        // A time the clock already had (never expected) still waits before asking again.
        clock.decided(.active(at: Timestamp(millisecondsSinceEpoch: 50_000)), at: 220_000)
        #expect(clock.next(at: 220_000) == .sleep(until: 225_000))
    }

    @Test("a heartbeat event is enriched like an ingested one, and templates read $now")
    func heartbeatEvent() throws {
        let now = Timestamp(millisecondsSinceEpoch: 1_700_000_000_000)
        let template = try JSONParser.parse(Array(#"{"event":"HEART_BEAT","userId":"switchyard","properties":{"at":"{{ $now }}"}}"#.utf8))
        let event = try Heartbeat.makeEvent(template, now: now, maxEventBytes: 32768)
        #expect(event.type == .track)
        #expect(event.name == "HEART_BEAT")
        let json = try JSONParser.parse(event.payload)
        #expect(json[path: "properties.at"]?.stringValue == now.rfc3339)
        #expect(json[path: "timestamp"]?.stringValue == now.rfc3339)
        #expect(json[path: "messageId"]?.stringValue == event.messageId)
        #expect(json[path: "request_ip"] == nil)
    }

    @Test("a due heartbeat is stored as an event of source heartbeat, with one job for its destination")
    func heartbeatStored() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            let config = HeartbeatConfig(
                every: .seconds(120),
                event: ConfigJSON(try JSONParser.parse(Array(#"{"event":"HEART_BEAT","userId":"agent-1"}"#.utf8)))
            )
            let service = HeartbeatService(
                destination: "stream",
                config: config,
                activity: DeliveryActivity(every: config.every),
                store: store,
                orderingKey: .userOrAnonymousId,
                maxEventBytes: 32768,
                logger: .init(label: "test"),
                metrics: testMetrics()
            )
            #expect(try await service.beat(at: .now()) == .stored)
            #expect(try await service.beat(at: .now()) == .backlog(1), "the first one still waits")
            let jobs = try await store.claim(destination: "stream", limit: 10, leaseFor: .seconds(30))
            #expect(jobs.count == 1)
            #expect(jobs.first?.source == Heartbeat.source)
            #expect(jobs.first?.name == "HEART_BEAT")
            #expect(jobs.first?.orderingKey == "agent-1")
            store.close()
        }
    }
}
