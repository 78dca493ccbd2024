import Foundation
import SwitchyardServer
import Testing

@Suite("Embedded configuration", .timeLimit(.minutes(2)))
struct EmbeddedConfigTests {
    @Test("the configuration compiled into the binary is Examples/quickstart.yaml, word for word")
    func matchesExample() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Examples/quickstart.yaml")
        let shipped = try String(contentsOf: path, encoding: .utf8)
        #expect(
            EmbeddedConfig.quickstart == shipped,
            "regenerate Sources/SwitchyardServer/EmbeddedConfig.swift from Examples/quickstart.yaml"
        )
    }
}
