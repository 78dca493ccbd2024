import Foundation
import SwitchyardEventBridge
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite("Configuration: transformations", .timeLimit(.minutes(1)))
struct TransformationConfigTests {
    let registry = DestinationRegistry([EventBridgePlugin.self])

    func load(_ yaml: String, file: String = "switchyard.yaml") throws(ConfigError) -> LoadedConfig {
        try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: file)
    }

    func problems(_ yaml: String) -> [String] {
        do {
            _ = try load(yaml)
            return []
        } catch {
            return error.problems.map(\.description)
        }
    }

    static func config(_ transformations: String, destination: String = "transformations: [rename]") -> String {
        """
        sources: [{ name: web, writeKeys: [k] }]
        \(transformations)
        destinations:
          - name: bus
            type: eventbridge
            \(destination)
            config: { region: us-east-1, eventBusName: b, detailType: d }
        connections: [{ from: web, to: [bus] }]
        """
    }

    @Test("inline code and files are read, with where each starts, and limits default to rudder-transformer's")
    func reads() async throws {
        try await withTemporaryDirectory { dir in
            try "export function transformEvent(e) { return e; }\n".write(toFile: dir + "/lib.js", atomically: true, encoding: .utf8)
            let yaml = Self.config(
                """
                transformations:
                  - name: rename
                    timeout: 250ms
                    code: |
                      export function transformEvent(event) {
                        return event;
                      }
                libraries:
                  - { name: hash, file: lib.js }
                """
            )
            let loaded = try load(yaml, file: dir + "/switchyard.yaml")
            let rename = try #require(loaded.scripts.transformations.first)
            #expect(rename.name == "rename" && rename.origin == dir + "/switchyard.yaml")
            #expect(rename.firstLine == 6, "the block's first line, after `code: |`")
            #expect(rename.code.hasPrefix("export function transformEvent(event) {\n"))
            #expect(rename.timeout.milliseconds == 250 && rename.memoryLimit == 128 << 20)
            #expect(loaded.scripts.libraries.map(\.origin) == [dir + "/lib.js"])
            #expect(loaded.config.destinations[0].transformations == ["rename"])
            #expect(loaded.scripts.chain(["rename"]) == [rename])
        }
    }

    @Test("unknown references, both or neither of code and file, a missing file and bad limits are each a problem with its place")
    func problems() {
        let found = problems(
            Self.config(
                """
                transformations:
                  - { name: rename, code: "x", file: x.js }
                  - { name: empty }
                  - { name: gone, file: no-such-file.js }
                  - { name: slow, code: "x", timeout: 1h, memoryLimit: 1000 }
                  - { name: slow, code: "y" }
                """,
                destination: "transformations: [rename, renam]"
            )
        )
        #expect(
            found.contains { $0.hasPrefix("switchyard.yaml:3:") && $0.contains("takes its code inline (code:) or from a file (file:)") }
        )
        #expect(found.contains { $0.hasPrefix("switchyard.yaml:4:") && $0.contains("\"empty\" takes its code") })
        #expect(found.contains { $0.hasPrefix("switchyard.yaml:5:") && $0.contains("no-such-file.js cannot be read") })
        #expect(found.contains { $0.contains("\"slow\": timeout must be between 10ms and 10m") })
        #expect(found.contains { $0.contains("\"slow\": memoryLimit must be between") })
        #expect(found.contains { $0.contains("transformation \"slow\" is defined twice") })
        #expect(found.contains { $0.contains("runs unknown transformation \"renam\"") && $0.contains("rename") })
    }

    @Test("the dump names each transformation's file or says it is inline, without the code")
    func dump() throws {
        let loaded = try load(Self.config("transformations: [{ name: rename, code: \"const secretish = 1;\" }]"))
        let yaml = try loaded.redactedYAML()
        #expect(yaml.contains("rename") && yaml.contains("(inline, 20 bytes)") && !yaml.contains("secretish"))
    }
}
