import AWSSigV4
import Foundation
import SwitchyardCore
import SwitchyardEventBridge
import Testing

let vectorsFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "../../Destinations/EventBridge/vectors"
).standardized

func vectorFiles(prefix: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: vectorsFolder.path)) ?? []
    return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted()
}

func loadVector(_ name: String) throws -> [String: Any] {
    let data = try Data(contentsOf: vectorsFolder.appendingPathComponent(name))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

@Suite("SigV4 reproduces the official vectors byte for byte", .timeLimit(.minutes(2)))
struct SigV4VectorTests {
    @Test("every sigv4 vector", arguments: vectorFiles(prefix: "sigv4-"))
    func vector(_ file: String) throws {
        let v = try loadVector(file)
        let creds = try #require(v["credentials"] as? [String: Any])
        let request = try #require(v["request"] as? [String: Any])
        let urlString = try #require(request["url"] as? String)
        let url = try #require(URL(string: urlString))
        var host = try #require(url.host)
        if let port = url.port, !((url.scheme == "https" && port == 443) || (url.scheme == "http" && port == 80)) { host += ":\(port)" }
        let headers = try #require(request["headers"] as? [String: String]).sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        let accessKeyID = try #require(creds["accessKeyId"] as? String)
        let secret = try #require(creds["secretAccessKey"] as? String)
        let region = try #require(v["region"] as? String)
        let service = try #require(v["service"] as? String)
        let method = try #require(request["method"] as? String)
        let body = try #require(request["body"] as? String)
        let amzDate = try #require(v["amzDate"] as? String)
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: creds["sessionToken"] as? String),
            region: region,
            service: service
        )
        let signature = signer.sign(
            .init(method: method, host: host, path: url.path.isEmpty ? "/" : url.path, headers: headers, body: Array(body.utf8)),
            amzDate: amzDate
        )
        #expect(signature.canonicalRequest == v["canonicalRequest"] as? String)
        #expect(signature.stringToSign == v["stringToSign"] as? String)
        #expect(signature.authorization == v["authorization"] as? String)
    }

    @Test("the signing key matches AWS's published example")
    func signingKey() {
        // From AWS's "Deriving a signing key" documentation.
        let key = SigV4Signer.signingKey(
            secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            date: "20120215",
            region: "us-east-1",
            service: "iam"
        )
        let hex = key.withUnsafeBytes { Array($0) }.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d")
    }

    @Test("X-Amz-Date is formatted from the clock in UTC")
    func amzDate() {
        #expect(Timestamp(millisecondsSinceEpoch: 1_440_938_160_999).amzDate == "20150830T123600Z")
        #expect(Timestamp(millisecondsSinceEpoch: 0).amzDate == "19700101T000000Z")
    }
}

@Suite("The EventBridge transform matches rudder-transformer", .timeLimit(.minutes(2)))
struct TransformVectorTests {
    @Test("every rudder-transformer vector", arguments: vectorFiles(prefix: "rudder-transformer-eventbridge-"))
    func vector(_ file: String) throws {
        let data = try Data(contentsOf: vectorsFolder.appendingPathComponent(file))
        let root = try #require(try JSONParser.parse(Array(data)).objectValue)
        let message = try #require(root["message"])
        let configJSON = try #require(root["config"]).jsonString
        // rudder-transformer's config, read as YAML (JSON is YAML), through the same decoder the server uses.
        let decoder = ConfigDecoder()
        var problems: [ConfigProblem] = []
        let node = try #require(ConfigParser(file: file, environment: [:]).parse(configJSON, problems: &problems))
        let settings = decoder.decode(EventBridgeSettings.self, from: node)

        if let expectedError = root["expectedError"] {
            // rudder-transformer drops the event for an empty config; Switchyard refuses the config itself.
            #expect(settings == nil)
            #expect(
                decoder.problems.map(\.message) == [#"missing required key "detailType""#],
                "rudder-transformer: \(expectedError.jsonString)"
            )
            return
        }
        let expected = try #require(root["expected"]?.objectValue)
        let resolved = try #require(settings)
        let transform = try EventBridgeTransform(settings: resolved)
        let stored = message.serialized()
        let entry = try transform.entry(forEvent: stored)
        #expect(entry.json.jsonString == JSONValue.object(expected).jsonString)
        #expect(entry.detail == expected["Detail"]?.stringValue, "Detail is byte-identical to JSON.stringify(message)")
    }
}

@Suite("Vector files are present", .timeLimit(.minutes(2)))
struct VectorPresenceTests {
    @Test("the vectors folder holds the transform and signing vectors")
    func present() {
        #expect(vectorFiles(prefix: "sigv4-").count == 4)
        #expect(vectorFiles(prefix: "rudder-transformer-eventbridge-").count == 3)
    }
}
