import Foundation
import SwitchyardEventBridge
import Testing

@testable import SwitchyardCore

@Suite("Configuration", .timeLimit(.minutes(2)))
struct ConfigTests {
    let registry = DestinationRegistry([EventBridgePlugin.self])

    func load(_ yaml: String, env: [String: String] = [:]) throws(ConfigError) -> LoadedConfig {
        try ConfigLoader(registry: registry, environment: env).load(text: yaml, file: "switchyard.yaml")
    }

    func problems(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try load(yaml, env: env)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static let contract = """
        server:
          host: 127.0.0.1
          port: 8080
          adminToken: ${SWITCHYARD_ADMIN_TOKEN:-}      # operator endpoints (live log, replay) need it
          limits: { maxEventBytes: 32768, maxRequestBytes: 4194304 }
        storage:
          path: .switchyard                            # folder holding the SQLite queue
        sources:
          - name: web
            writeKeys: ["${WEB_WRITE_KEY:-dev-write-key}"]
        destinations:
          - name: orders-bus
            type: eventbridge
            config:                                    # type-specific; EventBridge's keys are in its own issue
              region: us-east-1
              eventBusName: orders
              detailType: "{{ event }}"
              endpoint: http://127.0.0.1:4010
            filter:
              types: [track, identify]
              events: { allow: ["Order Completed"] }   # or deny: [...]
        connections:
          - from: web
            to: [orders-bus]
        """

    @Test("the documented example loads with its defaults and interpolations")
    func contractExample() throws {
        let loaded = try load(Self.contract)
        let c = loaded.config
        #expect(c.server.port == 8080)
        #expect(c.server.adminToken == nil)
        #expect(c.server.limits.maxRequestBytes == 4_194_304)
        #expect(c.storage.sync == .full)
        #expect(c.sources[0].writeKeys == [Secret("dev-write-key")])
        #expect(c.destinations[0].filter == EventFilter(types: [.track, .identify], events: .init(allow: ["Order Completed"])))
        let settings = try #require(loaded.destinations[0].settings as? EventBridgeSettings)
        #expect(settings.eventBusName == "orders")
        #expect(settings.source == "rudderstack")
        #expect(c.connections[0].to == ["orders-bus"])
    }

    @Test("environment variables are interpolated, with defaults")
    func interpolation() throws {
        let loaded = try load(Self.contract, env: ["WEB_WRITE_KEY": "from-env", "SWITCHYARD_ADMIN_TOKEN": "tok"])
        #expect(loaded.config.sources[0].writeKeys[0].reveal() == "from-env")
        #expect(loaded.config.server.adminToken?.reveal() == "tok")
        let p = problems("server:\n  port: ${PORT}\n")
        #expect(p == ["switchyard.yaml:2:9: environment variable PORT is not set (write ${PORT:-default} to give a default)"])
        #expect(try load("storage: { path: \"a$$b\" }\n").config.storage.path == "a$b")
    }

    @Test("an unknown destination type is pointed at, with a suggestion")
    func unknownType() {
        let yaml = """
            sources:
              - name: web
                writeKeys: [k]
            destinations:
              - name: bus
                type: eventbrige
                config: { region: us-east-1, detailType: x }
            """
        #expect(problems(yaml) == [#"switchyard.yaml:6:11: destination "bus" has unknown type "eventbrige" (did you mean "eventbridge"?)"#])
    }

    @Test("unknown keys are errors, at every level, with suggestions")
    func unknownKeys() {
        let yaml = """
            server:
              prot: 8080
            storage:
              path: q
              snyc: full
            sources:
              - name: web
                writeKeys: [k]
                enabeld: false
            destinations:
              - name: bus
                type: eventbridge
                config: { region: us-east-1, detailType: x, evntBusName: b }
            colors: red
            """
        let p = problems(yaml)
        #expect(p.contains(#"switchyard.yaml:2:3: unknown key "prot" in server (did you mean "port"?)"#))
        #expect(p.contains(#"switchyard.yaml:5:3: unknown key "snyc" in storage (did you mean "sync"?)"#))
        #expect(p.contains(#"switchyard.yaml:9:5: unknown key "enabeld" in sources[0] (did you mean "enabled"?)"#))
        #expect(p.contains(#"switchyard.yaml:13:49: unknown key "evntBusName" in destinations[0].config (did you mean "eventBusName"?)"#))
        #expect(p.contains { $0.hasPrefix(#"switchyard.yaml:14:1: unknown key "colors" at the top level"#) })
        #expect(p.count == 5)
    }

    @Test("a destination key placed outside its config block is still unknown")
    func misplacedKey() {
        let yaml = """
            destinations:
              - name: bus
                type: eventbridge
                detailType: x
            """
        #expect(
            problems(yaml) == [
                #"switchyard.yaml:2:5: missing required key "detailType" in destinations[0].config"#,
                #"switchyard.yaml:4:5: unknown key "detailType" in destinations[0] (known keys: config, consent, delivery, enabled, filter, heartbeat, name, privacy, rules, transformations, type)"#,
            ]
        )
    }

    @Test("every problem is listed in one run, in file order")
    func allProblems() {
        let yaml = """
            server:
              port: eighty
            storage:
              sync: sometimes
            sources:
              - name: web
              - name: web
                writeKeys: [k]
            destinations:
              - name: bus
                type: eventbridge
                config: { region: Mars, detailType: x, source: aws.events }
            connections:
              - from: wbe
                to: [bus, nowhere]
            """
        let p = problems(yaml)
        #expect(
            p == [
                #"switchyard.yaml:2:9: expected a whole number for server.port, found "eighty""#,
                #"switchyard.yaml:4:9: "sometimes" is not a valid sync; expected one of full, normal"#,
                #"switchyard.yaml:6:5: missing required key "writeKeys" in sources[0]"#,
                #"switchyard.yaml:12:23: destination "bus": "Mars" is not an AWS region name (like us-east-1)"#,
                #"switchyard.yaml:12:52: destination "bus": source must not start with "aws." (reserved for AWS services)"#,
                #"switchyard.yaml:14:11: connection from unknown source "wbe" (did you mean "web"?)"#,
                #"switchyard.yaml:15:15: connection to unknown destination "nowhere""#,
            ]
        )
    }

    @Test("duplicate names and write keys shared between sources are refused")
    func duplicates() {
        let yaml = """
            sources:
              - { name: a, writeKeys: [k1] }
              - { name: a, writeKeys: [k1] }
            """
        let p = problems(yaml)
        #expect(p.contains(#"switchyard.yaml:3:13: source "a" is defined twice"#))
        #expect(p.contains(#"switchyard.yaml:3:28: source "a" reuses a write key of source "a"; each key must name one source"#))
    }

    @Test("broken YAML is reported with its position")
    func brokenYAML() {
        let p = problems("server:\n  port: [1,\n")
        #expect(p.count == 1)
        #expect(p[0].hasPrefix("switchyard.yaml:3:1: invalid YAML"))
    }

    @Test("wrong shapes are reported, not crashed on")
    func shapes() {
        #expect(problems("sources: web\n") == [#"switchyard.yaml:1:10: expected a list for sources, found "web""#])
        #expect(problems("- a\n") == [#"switchyard.yaml:1:1: expected a mapping for the document, found a list"#])
        #expect(
            problems(
                "destinations:\n  - name: d\n    type: eventbridge\n    filter: { types: [trak] }\n    config: { region: us-east-1, detailType: x }\n"
            )
                == [
                    #"switchyard.yaml:4:23: unknown message type "trak" (did you mean "track"?); expected one of track, identify, page, screen, group, alias"#
                ]
        )
    }

    @Test("a problem with a value from the environment quotes the ${VAR}, never the secret in it")
    func problemsHideEnvironmentValues() {
        let env = ["WEB_WRITE_KEY": "sk_live_write_secret", "RETRIES": "lots"]
        let p = problems(
            """
            sources:
              - name: web
                writeKeys: ${WEB_WRITE_KEY}
            destinations:
              - name: bus
                type: eventbridge
                config: { region: us-east-1, detailType: x }
                delivery: { maxAttempts: "${RETRIES}" }
              - name: other
                type: eventbridge
                config: { region: us-east-1, detailType: x }
                delivery: { timeout: "${WEB_WRITE_KEY}" }
            """,
            env: env
        )
        #expect(p.contains(#"switchyard.yaml:3:16: expected a list for sources[0].writeKeys, found "${WEB_WRITE_KEY}""#))
        #expect(p.contains { $0.contains(#"found "${RETRIES}""#) })
        #expect(p.contains { $0.contains(#""${WEB_WRITE_KEY}" is not a duration"#) })
        #expect(!p.joined().contains("sk_live_write_secret"))
    }

    @Test("a duration too large to count is a problem, not a crash")
    func hugeDurations() {
        #expect(ConfigDuration(parsing: "200000000000d") == nil)
        #expect(ConfigDuration(parsing: "9223372036854775807") == nil)
        #expect(ConfigDuration(parsing: "36500d") == ConfigDuration(milliseconds: 3_153_600_000_000))
        #expect(ConfigDuration(parsing: "1500ms")?.milliseconds == 1500)
        #expect(ConfigDuration(parsing: "90")?.milliseconds == 90_000)
        let p = problems(
            """
            destinations:
              - name: bus
                type: eventbridge
                config: { region: us-east-1, detailType: x }
                delivery: { retryWindow: 200000000000d }
            """
        )
        #expect(p.contains { $0.contains(#""200000000000d" is not a duration of at most 100 years"#) })
    }

    @Test("the dump shows every secret as ***")
    func redaction() throws {
        let yaml = """
            server: { adminToken: admin-secret-1 }
            sources: [{ name: web, writeKeys: [write-secret-2] }]
            destinations:
              - name: bus
                type: eventbridge
                config: { region: us-east-1, detailType: x, accessKeyID: AKIDEXAMPLE, accessKey: aws-secret-3, sessionToken: token-secret-4 }
            """
        let dump = try load(yaml).redactedYAML()
        for secret in ["admin-secret-1", "write-secret-2", "aws-secret-3", "token-secret-4"] {
            #expect(!dump.contains(secret))
        }
        #expect(dump.contains("***"))
        #expect(dump.contains("AKIDEXAMPLE"))
        #expect("\(Secret("x"))" == "***")
    }

    @Test("Examples/quickstart.yaml loads as it is shipped, and delivers every message type")
    func quickstart() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Examples/quickstart.yaml").path
        let loaded = try ConfigLoader(registry: registry, environment: [:]).load(path: path)
        #expect(loaded.config.sources.map(\.name) == ["web"])
        #expect(loaded.config.destinations.map(\.filter) == [nil])
    }

    @Test("a detail type that renders empty for a type the destination admits is a warning, not a problem")
    func detailTypeWarnings() throws {
        func warnings(_ detailType: String, types: String? = nil) throws -> [String] {
            let filter = types.map { "\n    filter: { types: [\($0)] }" } ?? ""
            return try load(
                """
                destinations:
                  - name: bus
                    type: eventbridge
                    config: { region: us-east-1, detailType: '\(detailType)' }\(filter)
                """
            ).warnings.map(\.description)
        }
        #expect(
            try warnings("{{ event }}", types: "track, identify") == [
                #"switchyard.yaml:4:46: destination "bus": detailType "{{ event }}" renders empty for identify events (they have no event): they are sent with their type as DetailType ("identify"); give the template a fallback, like {{ event | "other" }}, to choose another"#
            ]
        )
        #expect(try warnings("{{ event }}").first?.contains("renders empty for identify, page, screen, group, alias events") == true)
        #expect(try warnings("{{ event }}", types: "track") == [])
        #expect(try warnings("{{ name }}", types: "page, screen") == [])
        #expect(try warnings(#"{{ event | "other" }}"#) == [], "a fallback always renders")
        #expect(try warnings("shop.{{ event }}") == [], "literal text always renders")
        #expect(
            try warnings("{{ traits.plan }}", types: "identify, group, track").first?.contains(
                "renders empty for track events (they have no traits.plan)"
            ) == true
        )
        #expect(try warnings("orders") == [])
    }

    @Test("server.publicURL is an http(s) URL with a host; a trailing slash is dropped")
    func publicURL() throws {
        #expect(try load("server: { publicURL: 'https://collect.example.com/' }").config.server.publicURL == "https://collect.example.com")
        #expect(try load("server: { publicURL: '' }").config.server.publicURL == nil)
        #expect(PublicURL("https://edge.example/collect")?.hostAndPath == "edge.example/collect")
        #expect(PublicURL("HTTP://[::1]:8080")?.description == "http://[::1]:8080")
        for bad in ["collect.example.com", "ftp://x", "https://", "https://a b", "https://x/?q=1", "https://u:p@x", "https://x/#f"] {
            #expect(
                problems("server: { publicURL: '\(bad)' }").first?.contains(
                    "server.publicURL \"\(bad)\" must be an http:// or https:// URL"
                ) == true,
                "\(bad)"
            )
        }
    }
}
