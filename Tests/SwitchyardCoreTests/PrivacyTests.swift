import Foundation
import SwitchyardEventBridge
import Testing

@testable import SwitchyardCore

@Suite("Field-level privacy per destination and per source", .timeLimit(.minutes(2)))
struct PrivacyTests {
    func json(_ text: String) -> JSONValue {
        try! JSONParser.parse(Array(text.utf8))
    }

    func apply(_ config: DestinationPrivacyConfig, _ event: String) -> String {
        PrivacyRules(config).apply(to: json(event)).jsonString
    }

    @Test("IPv4 keeps /24; IPv6 keeps /48 in compressed form; IPv4-mapped is cut as IPv4; garbage is nil")
    func addresses() {
        #expect(AnonymizedIP.anonymize("203.0.113.77") == "203.0.113.0")
        #expect(AnonymizedIP.anonymize("::1") == "::")
        #expect(AnonymizedIP.anonymize("2001:db8::1") == "2001:db8::")
        #expect(AnonymizedIP.anonymize("2001:0DB8:85a3:08d3:1319:8a2e:0370:7344") == "2001:db8:85a3::")
        #expect(AnonymizedIP.anonymize("2001:db8:0:1::1") == "2001:db8::")
        #expect(AnonymizedIP.anonymize("::ffff:198.51.100.23") == "::ffff:198.51.100.0")
        for garbage in ["", "not an ip", "1.2.3", "1.2.3.4.5", "256.1.1.1", "1.2.3.4:80", "fe80::1%eth0", "2001:db8::g"] {
            #expect(AnonymizedIP.anonymize(garbage) == nil, "\(garbage)")
        }
    }

    @Test("SHA-256 against a known vector; strings hashed with the salt appended, numbers by their JSON text")
    func hashing() {
        #expect(PrivacyRules.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let config = DestinationPrivacyConfig(
            hash: ["userId", "traits.email", "properties.n", "properties.flag", "properties.missing"],
            salt: "s"
        )
        let out = json(apply(config, #"{"userId":"u1","traits":{"email":"a@b.c"},"properties":{"n":42,"flag":true}}"#))
        #expect(out[path: "userId"]?.stringValue == PrivacyRules.sha256Hex("u1s"))
        #expect(out[path: "traits.email"]?.stringValue == PrivacyRules.sha256Hex("a@b.cs"))
        #expect(out[path: "properties.n"]?.stringValue == PrivacyRules.sha256Hex("42s"))
        #expect(out[path: "properties.flag"] == .bool(true))
        #expect(out[path: "properties.missing"] == nil)
    }

    @Test("dropProperties removes keys from properties, traits and context.traits, dotted names reaching in")
    func drop() {
        let config = DestinationPrivacyConfig(dropProperties: ["email", "address.street"])
        let out = apply(
            config,
            #"{"email":"top","properties":{"email":"p","a":1,"address":{"street":"s","city":"c"}},"traits":{"email":"t"},"context":{"traits":{"email":"c","name":"n"}}}"#
        )
        #expect(out == #"{"email":"top","properties":{"a":1,"address":{"city":"c"}},"traits":{},"context":{"traits":{"name":"n"}}}"#)
    }

    @Test("allowProperties keeps only its keys; a key both allowed and dropped is dropped")
    func allow() {
        let config = DestinationPrivacyConfig(dropProperties: ["plan"], allowProperties: ["total", "plan"])
        let out = apply(
            config,
            #"{"properties":{"total":3,"plan":"pro","email":"e"},"traits":{"email":"e"},"context":{"traits":{"total":1,"x":2}}}"#
        )
        #expect(out == #"{"properties":{"total":3},"traits":{},"context":{"traits":{"total":1}}}"#)
    }

    @Test("anonymizeIP cuts request_ip and context.ip, and removes what is no address")
    func ipFields() {
        let config = DestinationPrivacyConfig(anonymizeIP: true)
        #expect(
            apply(config, #"{"request_ip":"192.0.2.9","context":{"ip":"2001:db8::5"}}"#)
                == #"{"request_ip":"192.0.2.0","context":{"ip":"2001:db8::"}}"#
        )
        #expect(apply(config, #"{"request_ip":"unknown","context":{"ip":7}}"#) == #"{"context":{}}"#)
    }

    @Test("a source's anonymizeIP cuts the addresses before the event is stored")
    func atIngestion() throws {
        let body = Array(#"{"userId":"u","event":"e","context":{"ip":"198.51.100.7"}}"#.utf8)
        let context = IngestContext(receivedAt: .now(), requestIP: "203.0.113.77", maxEventBytes: 32_768, anonymizeIP: true)
        let batch = try Ingestion.events(route: .track, body: body, context: context)
        let stored = String(decoding: try #require(batch.events.first).payload, as: UTF8.self)
        #expect(stored.contains(#""request_ip":"203.0.113.0""#) && stored.contains(#""ip":"198.51.100.0""#))
        #expect(!stored.contains("203.0.113.77") && !stored.contains("198.51.100.7"))
    }

    @Test("the wrapped destination sees the rewritten event; its entry keeps the stored job")
    func wrapped() {
        struct Echo: Destination {
            var batchLimits: BatchLimits { BatchLimits(maxEntries: 10, maxBytes: 1 << 20) }
            func prepare(_ job: Job) -> Prepared {
                .entry(PreparedEntry(job: job, body: job.payload + Array((job.userId ?? "-").utf8), size: job.payload.count))
            }
            func send(_ entries: [PreparedEntry]) async -> SendResult {
                SendResult(outcomes: entries.map { _ in .delivered(reference: nil) })
            }
        }
        let payload = Array(#"{"userId":"u1","properties":{"email":"e","a":1}}"#.utf8)
        let job = Job(
            id: 1,
            lease: 1,
            destination: "d",
            attempt: 1,
            source: "s",
            messageId: "m",
            type: .track,
            name: "e",
            userId: "u1",
            receivedAt: .now(),
            payload: payload
        )
        let wrapped = PrivacyAppliedDestination(
            Echo(),
            rules: PrivacyRules(DestinationPrivacyConfig(dropProperties: ["email"], hash: ["userId"], salt: "x"))
        )
        guard case .entry(let entry) = wrapped.prepare(job) else {
            Issue.record("no entry")
            return
        }
        let hashed = PrivacyRules.sha256Hex("u1x")
        #expect(String(decoding: entry.body, as: UTF8.self) == #"{"userId":"\#(hashed)","properties":{"a":1}}"# + hashed)
        #expect(entry.job.payload == payload)
    }

    @Test(
        "configuration: hash needs a salt, paths must have no empty parts, allowProperties takes top-level keys; the salt is never dumped"
    )
    func config() throws {
        func load(_ privacy: String, env: [String: String] = [:]) throws(ConfigError) -> LoadedConfig {
            let yaml = """
                sources:
                  - name: app
                    writeKeys: [k]
                    privacy: { anonymizeIP: true }
                destinations:
                  - name: bus
                    type: eventbridge
                    config: { region: us-east-1, detailType: x }
                    privacy: \(privacy)
                connections:
                  - from: app
                    to: [bus]
                """
            return try ConfigLoader(registry: DestinationRegistry([EventBridgePlugin.self]), environment: env).load(
                text: yaml,
                file: "s.yaml"
            )
        }
        func problems(_ privacy: String) -> [String] {
            do {
                _ = try load(privacy)
                return []
            } catch {
                return error.problems.map(\.description)
            }
        }
        #expect(problems("{ hash: [userId] }").first?.contains("s.yaml:9:") == true)
        #expect(problems("{ hash: [userId] }").first?.contains("privacy.hash needs privacy.salt") == true)
        #expect(problems("{ hash: [\"traits..email\"], salt: s }").first?.contains("is not a path into the event") == true)
        #expect(problems("{ allowProperties: [a.b] }").first?.contains("top-level key") == true)
        #expect(problems("{ dropProperties: [x], colour: red }").first?.contains("unknown key \"colour\"") == true)
        let loaded = try load("{ hash: [userId], salt: \"${PRIVACY_SALT}\", anonymizeIP: true }", env: ["PRIVACY_SALT": "pepper-123"])
        #expect(loaded.config.destinations[0].privacy?.salt?.reveal() == "pepper-123")
        #expect(loaded.config.sources[0].privacy.anonymizeIP)
        let dump = try loaded.redactedYAML()
        #expect(!dump.contains("pepper-123") && dump.contains("salt: ") && dump.contains("anonymizeIP: true"))
    }
}

@Suite("Regulation subjects", .timeLimit(.minutes(1)))
struct SubjectTests {
    @Test("records match on whole string values of their detail, escaped or not, never on parts")
    func detailMatching() throws {
        let subjects = Subjects(userIds: ["u1"], anonymousIds: ["a \"quoted\" é"])
        func matches(_ json: String, user: String? = nil) -> Bool {
            RecordMatcher(subjects).matches(recordUserId: user, detail: Array(json.utf8))
        }
        #expect(matches(#"{"Detail":{"userId":"u1"}}"#))
        #expect(matches(#"{"k":["x","a \"quoted\" \u00e9"]}"#))
        #expect(!matches(#"{"userId":"u12","name":"xu1"}"#))
        #expect(!matches(#"{"u":"u1\u0000"}"#))
        #expect(matches("{}", user: "u1"))
        #expect(matches("{}", user: "a \"quoted\" é"), "a record's user column holds an anonymous id when there is no user id")
        #expect(matches(#"{"cut":"u1"#), "text cut short still counts: a deletion errs on the side of deleting")
    }

    @Test("a regulation body is checked field by field; ids are kept distinct, in order")
    func requestParsing() throws {
        let body = try JSONParser.parse(
            #"{"regulationType":"SUPPRESS_WITH_DELETE","subjectType":"ANONYMOUS_ID","subjectIds":["b","a","b"]}"#
        )
        let request = try RegulationRequest(json: body)
        #expect(request == RegulationRequest(kind: .suppressWithDelete, subjectType: .anonymousId, subjectIds: ["b", "a"]))
        let long = try JSONParser.parse(
            #"{"regulationType":"SUPPRESS_ONLY","subjectType":"USER_ID","subjectIds":["\#(String(repeating: "x", count: 1025))"]}"#
        )
        #expect(throws: RegulationRequest.Problem.self) { try RegulationRequest(json: long) }
    }

    @Test("the suppression list keeps the newer of two readings, and answers nil until it has one")
    func suppressionsKeepTheNewer() {
        let suppressions = Suppressions()
        #expect(suppressions.verdict([1], userId: { _ in "u1" }, anonymousId: { _ in nil }) == .unknown)
        suppressions.update(Suppressions.Snapshot(version: 2, subjects: Subjects(userIds: [SubjectDigest.of("u1")])))
        suppressions.update(Suppressions.Snapshot(version: 1, subjects: Subjects()))
        #expect(suppressions.verdict(["u1", "u2"], userId: { $0 }, anonymousId: { _ in nil }) == .keep([false, true]))
        suppressions.update(Suppressions.Snapshot(version: 3, subjects: Subjects()))
        #expect(suppressions.verdict(["u1"], userId: { $0 }, anonymousId: { _ in nil }) == .keepAll)
    }
}
