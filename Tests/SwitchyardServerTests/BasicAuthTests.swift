import Foundation
import Testing

@testable import SwitchyardServer

@Suite("Basic auth write keys", .timeLimit(.minutes(1)))
struct BasicAuthTests {
    static func basic(_ credentials: String) -> String { Data(credentials.utf8).base64EncodedString() }

    @Test(
        "the user part of Basic credentials is the write key, whatever the scheme's case and the spaces around",
        arguments: [
            ("Basic " + basic("web-key:"), "web-key"),
            ("basic " + basic("web-key:"), "web-key"),
            ("BASIC   " + basic("web-key:secret:more") + "  ", "web-key"),
            ("  Basic " + basic("web-key"), "web-key"),
            ("Basic " + basic("clé:"), "clé"),
            // URL-safe alphabet and missing padding, as some clients send.
            ("Basic " + basic("k?>:").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: ""), "k?>"),
        ]
    )
    func accepted(header: String, key: String) {
        #expect(BasicAuth.writeKey(from: header) == key)
    }

    @Test(
        "anything else names no write key",
        arguments: [
            "Bearer " + basic("web-key:"), "Basic", "Basic ", "Basic    ", "Basicc " + basic("web-key:"), "Basi " + basic("k:"),
            "Basic " + basic(":password"), "Basic not*base64", "Basic " + basic("a:") + " " + basic("b:"),
            "Basic " + String(repeating: "QUFB", count: 1100), "Basic /w==",
        ]
    )
    func refused(header: String) {
        #expect(BasicAuth.writeKey(from: header) == nil)
    }
}
