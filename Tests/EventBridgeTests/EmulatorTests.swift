import AWSSigV4
import EventBridgeEmulator
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import Testing

/// Signs a PutEvents body the way the destination does.
func signedHeaders(
    _ body: String,
    secret: String = "emu-secret",
    keyID: String = "AKIDEMU",
    region: String = "us-east-1",
    at ms: Int64 = Timestamp.now().millisecondsSinceEpoch
) -> HTTPFields {
    let signer = SigV4Signer(credentials: AWSCredentials(accessKeyID: keyID, secretAccessKey: secret), region: region, service: "events")
    let signature = signer.sign(
        .init(
            method: "POST",
            host: "localhost",
            path: "/",
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "AWSEvents.PutEvents"),
            ],
            body: Array(body.utf8)
        ),
        amzDate: Timestamp(millisecondsSinceEpoch: ms).amzDate
    )
    var fields: HTTPFields = [
        .contentType: "application/x-amz-json-1.1", HTTPField.Name("X-Amz-Target")!: "AWSEvents.PutEvents",
        HTTPField.Name("Host")!: "localhost",
    ]
    for (name, value) in signature.headers { fields[HTTPField.Name(name)!] = value }
    return fields
}

@Suite("The EventBridge emulator behaves like EventBridge where it matters", .timeLimit(.minutes(2)))
struct EmulatorTests {
    func withEmulator(
        eventsOut: String? = nil,
        _ body: @escaping @Sendable (any TestClientProtocol, String) async throws -> Void
    ) async throws {
        let out = eventsOut ?? FileManager.default.temporaryDirectory.appendingPathComponent("emu-\(UUID().uuidString).jsonl").path
        defer { if eventsOut == nil { try? FileManager.default.removeItem(atPath: out) } }
        var options = EmulatorOptions()
        options.credentials = ["AKIDEMU": "emu-secret"]
        options.eventsOut = out
        let emulator = try EventBridgeEmulator(options: options, httpClient: .shared)
        let app = Application(router: emulator.router())
        try await app.test(.router) { client in try await body(client, out) }
    }

    func put(_ client: any TestClientProtocol, _ body: String, headers: HTTPFields? = nil) async throws -> (Int, JSONValue) {
        let response = try await client.execute(
            uri: "/",
            method: .post,
            headers: headers ?? signedHeaders(body),
            body: ByteBuffer(string: body)
        )
        return (Int(response.status.code), try JSONParser.parse(Array(response.body.readableBytesView)))
    }

    static let entry =
        #"{"Source":"rudderstack","DetailType":"Paid","Detail":"{\"event\":\"Paid\",\"n\":1}","Resources":["arn:x"],"EventBusName":"orders"}"#

    @Test("a signed PutEvents is accepted and written as the envelope a target receives")
    func accepted() async throws {
        try await withEmulator { client, out in
            let (status, answer) = try await self.put(client, #"{"Entries":[\#(Self.entry)]}"#)
            #expect(status == 200)
            #expect(answer[path: "FailedEntryCount"] == .number("0"))
            let id = try #require(answer[path: "Entries.0.EventId"]?.stringValue)
            let line = try String(contentsOfFile: out, encoding: .utf8).split(separator: "\n").first.map(String.init)
            let envelope = try JSONParser.parse(try #require(line))
            #expect(envelope[path: "id"] == .string(id))
            #expect(envelope[path: "detail-type"] == .string("Paid"))
            #expect(envelope[path: "source"] == .string("rudderstack"))
            #expect(envelope[path: "account"] == .string("123456789012"))
            #expect(envelope[path: "resources"] == .array([.string("arn:x")]))
            #expect(envelope[path: "detail.n"] == .number("1"))
        }
    }

    @Test("a wrong secret, an unknown key, a missing signature and a stale one are refused with AWS's codes")
    func signatures() async throws {
        try await withEmulator { client, _ in
            let body = #"{"Entries":[\#(Self.entry)]}"#
            let wrong = try await self.put(client, body, headers: signedHeaders(body, secret: "nope"))
            #expect(wrong.0 == 400 && wrong.1[path: "__type"] == .string("InvalidSignatureException"))
            let unknown = try await self.put(client, body, headers: signedHeaders(body, keyID: "AKIDOTHER"))
            #expect(unknown.1[path: "__type"] == .string("UnrecognizedClientException"))
            let unsigned = try await self.put(client, body, headers: [.contentType: "application/x-amz-json-1.1"])
            #expect(unsigned.1[path: "__type"] == .string("MissingAuthenticationTokenException"))
            let stale = try await self.put(
                client,
                body,
                headers: signedHeaders(body, at: Timestamp.now().millisecondsSinceEpoch - 20 * 60_000)
            )
            #expect(stale.1[path: "__type"] == .string("RequestExpired"))
            var tampered = signedHeaders(body)
            tampered[HTTPField.Name("X-Amz-Target")!] = "AWSEvents.ListRules"
            #expect(try await self.put(client, body, headers: tampered).1[path: "__type"] == .string("InvalidSignatureException"))
        }
    }

    @Test("events it cannot record (a full disk) are answered 500, not acknowledged")
    func fullDisk() async throws {
        try await withEmulator(eventsOut: "/dev/full") { client, _ in
            let (status, answer) = try await self.put(client, #"{"Entries":[\#(Self.entry)]}"#)
            #expect(status == 500)
            #expect(answer[path: "__type"] == .string("InternalException"))
        }
    }

    @Test("a Time too large to count is taken as absent, not crashed on")
    func hugeTime() async throws {
        try await withEmulator { client, out in
            let entry = #"{"Source":"s","DetailType":"d","Detail":"{}","Time":9223372036854775807}"#
            let (status, answer) = try await self.put(client, #"{"Entries":[\#(entry)]}"#)
            #expect(status == 200)
            #expect(answer[path: "FailedEntryCount"] == .number("0"))
            let line = try String(contentsOfFile: out, encoding: .utf8)
            #expect(line.contains("\"time\":\"\(Timestamp.now().rfc3339.prefix(4))"))
        }
    }

    @Test("validation: too many entries and too large a request fail whole; bad entries fail alone")
    func validation() async throws {
        try await withEmulator { client, _ in
            let eleven = "{\"Entries\":[" + Array(repeating: Self.entry, count: 11).joined(separator: ",") + "]}"
            #expect(try await self.put(client, eleven).1[path: "__type"] == .string("ValidationException"))
            let hugeDetail = "{\\\"p\\\":\\\"" + String(repeating: "x", count: 300_000) + "\\\"}"
            let huge = #"{"Entries":[{"Source":"s","DetailType":"d","Detail":"\#(hugeDetail)"}]}"#
            let tooBig = try await self.put(client, huge)
            #expect(tooBig.1[path: "message"] == .string("Total size of the entries in the request is over the limit."))
            let mixed =
                #"{"Entries":[\#(Self.entry),{"DetailType":"d","Detail":"{}"},{"Source":"s","DetailType":"d","Detail":"[1]"},{"Source":"aws.events","DetailType":"d","Detail":"{}"}]}"#
            let (status, answer) = try await self.put(client, mixed)
            #expect(status == 200)
            #expect(answer[path: "FailedEntryCount"] == .number("3"))
            #expect(answer[path: "Entries.1.ErrorCode"] == .string("InvalidArgument"))
            #expect(answer[path: "Entries.2.ErrorCode"] == .string("MalformedDetail"))
            #expect(answer[path: "Entries.3.ErrorCode"] == .string("NotAuthorizedForSourceException"))
        }
    }
}
