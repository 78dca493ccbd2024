import AWSSigV4
import AsyncHTTPClient
import Logging
import SwitchyardCore
import Testing

@testable import SwitchyardEventBridge

@Suite("EventBridge entries for destination rules, and payload mapping", .timeLimit(.minutes(2)))
struct RulesAndMappingTests {
    let cancellation = DestinationRule(name: "ACCOUNT_CANCELLATION", action: "NOTIFY_CUSTOMER_RETENTION")
    let stored = #"{"type":"track","event":"Cancel Requested","userId":"u1","properties":{"plan":"pro","seats":12}}"#

    func mapping(_ json: String) throws -> ConfigJSON {
        ConfigJSON(try JSONParser.parse(json))
    }

    func detail(_ entry: PutEventsEntry) throws -> String {
        try JSONParser.parse(entry.detail).jsonString
    }

    @Test("an entry made for a rule has ruleName and actionName first in its Detail, the event after them untouched")
    func ruleTags() throws {
        let transform = try EventBridgeTransform(settings: settings("Contact Lens Post Call Rules Matched"), rules: [cancellation])
        let entry = try transform.entry(forEvent: Array(stored.utf8), rule: cancellation)
        #expect(entry.detail == #"{"ruleName":"ACCOUNT_CANCELLATION","actionName":"NOTIFY_CUSTOMER_RETENTION","# + stored.dropFirst())
        #expect(
            try transform.entry(forEvent: Array("{}".utf8), rule: cancellation).detail
                == #"{"ruleName":"ACCOUNT_CANCELLATION","actionName":"NOTIFY_CUSTOMER_RETENTION"}"#
        )
        // An event that has those keys itself gets the rule's values, once.
        let own = try transform.entry(forEvent: Array(#"{"ruleName":"mine","event":"E"}"#.utf8), rule: cancellation)
        #expect(own.detail == #"{"ruleName":"ACCOUNT_CANCELLATION","actionName":"NOTIFY_CUSTOMER_RETENTION","event":"E"}"#)
        // Without a rule the Detail is the stored event, byte for byte.
        #expect(try transform.entry(forEvent: Array(stored.utf8)).detail == stored)
    }

    @Test("a rule's detailType replaces the destination's; templates read $rule.name and $rule.action")
    func ruleDetailType() throws {
        let rule = DestinationRule(name: "HIGH_VALUE", action: "PAGE", detailType: "Contact Lens {{ $rule.name }} Matched")
        let transform = try EventBridgeTransform(settings: settings("{{ event }}"), rules: [rule, cancellation])
        #expect(try transform.entry(forEvent: Array(stored.utf8), rule: rule).detailType == "Contact Lens HIGH_VALUE Matched")
        #expect(try transform.entry(forEvent: Array(stored.utf8), rule: cancellation).detailType == "Cancel Requested")
    }

    @Test("a job for a rule the destination no longer has is dead-lettered with a reason that says how to recover")
    func removedRule() throws {
        let transform = try EventBridgeTransform(settings: settings(), rules: [cancellation])
        #expect(try transform.rule(named: "ACCOUNT_CANCELLATION") == cancellation)
        #expect(try transform.rule(named: nil) == nil)
        #expect(throws: EventBridgeTransform.Drop.ruleRemoved("OLD")) { try transform.rule(named: "OLD") }
        let destination = EventBridgeDestination(
            name: "bus",
            transform: transform,
            endpoint: .init("http://127.0.0.1:4010")!,
            signer: SigV4Signer(
                credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"),
                region: "us-east-1",
                service: "events"
            ),
            httpClient: HTTPClient.shared,
            timeout: .seconds(1),
            logger: Logger(label: "test")
        )
        var job = Job(
            id: 1,
            lease: 1,
            destination: "bus",
            attempt: 1,
            source: "app",
            messageId: "m",
            type: .track,
            name: "E",
            userId: "u1",
            receivedAt: .now(),
            payload: Array(stored.utf8)
        )
        job.rule = "OLD"
        guard case .drop(let reason) = destination.prepare(job) else {
            Issue.record("prepared")
            return
        }
        #expect(reason.hasPrefix("RuleRemoved: the event was accepted for rule \"OLD\""))
    }

    @Test("detail: is a JSON template; a whole placeholder keeps its JSON type, a missing one is null or its fallback")
    func detailMapping() throws {
        var s = settings()
        s.detail = try mapping(
            #"""
            {"version":"1.0","plan":"{{ properties.plan }}","seats":"{{ properties.seats }}","properties":"{{ properties }}",
             "label":"{{ userId }}/{{ properties.seats }}","missing":"{{ properties.nope }}","state":"{{ properties.state | \"OPEN\" }}"}
            """#
        )
        let transform = try EventBridgeTransform(settings: s, rules: [cancellation])
        let entry = try transform.entry(forEvent: Array(stored.utf8))
        #expect(
            try detail(entry)
                == #"{"version":"1.0","plan":"pro","seats":12,"properties":{"plan":"pro","seats":12},"label":"u1/12","missing":null,"state":"OPEN"}"#
        )
        // For a rule, the tags go first unless the mapping places them itself.
        let tagged = try transform.entry(forEvent: Array(stored.utf8), rule: cancellation)
        #expect(
            try detail(tagged).hasPrefix(#"{"ruleName":"ACCOUNT_CANCELLATION","actionName":"NOTIFY_CUSTOMER_RETENTION","version":"1.0","#)
        )
        s.detail = try mapping(#"{"version":"1.0","ruleName":"{{ $rule.name }}","actionName":"{{ $rule.action }}"}"#)
        let placed = try EventBridgeTransform(settings: s, rules: [cancellation]).entry(forEvent: Array(stored.utf8), rule: cancellation)
        #expect(try detail(placed) == #"{"version":"1.0","ruleName":"ACCOUNT_CANCELLATION","actionName":"NOTIFY_CUSTOMER_RETENTION"}"#)
    }

    @Test("source and resources may be templates; a resource that renders empty is left out")
    func sourceAndResources() throws {
        var s = settings()
        s.source = "ilert.com/{{ properties.plan }}"
        s.resourceID = [
            .init(arn: "arn:aws:connect:us-east-1:123456789012:instance/{{ properties.plan }}"), .init(arn: "{{ properties.nope }}"),
            .init(arn: "ilert"),
        ]
        let entry = try EventBridgeTransform(settings: s).entry(forEvent: Array(stored.utf8))
        #expect(entry.source == "ilert.com/pro")
        #expect(entry.resources == ["arn:aws:connect:us-east-1:123456789012:instance/pro", "ilert"])
        s.source = "{{ properties.nope }}"
        #expect(throws: EventBridgeTransform.Drop.self) { try EventBridgeTransform(settings: s).entry(forEvent: Array(stored.utf8)) }
        s.source = "aws.{{ properties.plan }}"
        #expect(throws: EventBridgeTransform.Drop.invalidSource(#""aws.pro" starts with "aws.", which is reserved for AWS services"#)) {
            try EventBridgeTransform(settings: s).entry(forEvent: Array(stored.utf8))
        }
    }

    @Test("a detail mapping that is not a mapping, or a template that does not parse, is a config error")
    func mappingProblems() throws {
        var s = settings()
        s.detail = try mapping(#"["not", "an", "object"]"#)
        #expect(
            EventBridgePlugin.validate(s, environment: [:]).map(\.message).contains(
                "detail must be a mapping: EventBridge's Detail is a JSON object"
            )
        )
        s.detail = try mapping(#"{"a":"{{ properties.x"}"#)
        #expect(EventBridgePlugin.validate(s, environment: [:]).contains { $0.path == ["detail"] && $0.message.hasPrefix("detail: ") })
        s.detail = nil
        s.source = "{{ nope"
        #expect(EventBridgePlugin.validate(s, environment: [:]).contains { $0.path == ["source"] })
    }

    @Test("a preview and a bus event for a rule show the entry that rule makes")
    func previewForRule() throws {
        guard case .entry(let entry) = EventBridgePlugin.preview(settings(), payload: Array(stored.utf8), rule: cancellation) else {
            Issue.record("dropped")
            return
        }
        #expect(entry[path: "Detail"]?.stringValue?.hasPrefix(#"{"ruleName":"ACCOUNT_CANCELLATION""#) == true)
        guard case .events(let envelopes)? = EventBridgePlugin.busEvents(settings(), payload: Array(stored.utf8), rule: cancellation) else {
            Issue.record("no envelope")
            return
        }
        #expect(envelopes.first?[path: "detail.actionName"] == .string("NOTIFY_CUSTOMER_RETENTION"))
    }
}
