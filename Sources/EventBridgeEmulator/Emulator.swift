import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore

/// Settings of the local EventBridge endpoint.
public struct EmulatorOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 4010
    public var region = "us-east-1"
    public var account = "123456789012"
    /// Access key id → secret. Requests signed with anything else are refused as AWS would.
    public var credentials: [String: String] = [:]
    /// Where each delivered event is written as the envelope a rule target receives (JSON lines).
    public var eventsOut: String?
    /// Share of entries answered with a per-entry `ThrottlingException`.
    public var throttleRate = 0.0
    /// Share of requests answered with a whole-request 500 `InternalException`.
    public var errorRate = 0.0
    /// Delay before each answer.
    public var latencyMilliseconds = 0
    /// PutEvents size limit as EventBridge counts it.
    public var maxRequestBytes = 256 * 1024
    /// Add the time each event arrived (`x-emulator-received-ms`) to its envelope, for latency benchmarks.
    public var recordReceiptTime = false

    public init() {}
}

/// A PutEvents endpoint on loopback that behaves like EventBridge where Switchyard depends on it:
/// the AWS JSON 1.1 protocol, SigV4 signature checks, the validation rules and error codes, the
/// envelope targets receive, and faults on demand for demos and drills.
public final class EventBridgeEmulator: Sendable {
    public let options: EmulatorOptions
    /// The events file, only touched under its lock.
    struct OutputFile: @unchecked Sendable {
        let file: UnsafeMutablePointer<FILE>
    }

    private let output: NIOLockedValueBox<OutputFile?>
    private let counters = NIOLockedValueBox((requests: 0, delivered: 0, failed: 0))

    public init(options: EmulatorOptions) throws {
        self.options = options
        if let path = options.eventsOut {
            // The quickstart writes under .switchyard/, which the server has not made yet.
            let folder = (path as NSString).deletingLastPathComponent
            if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
            guard let file = fopen(path, "a") else {
                throw EmulatorError.cannotOpen(path)
            }
            output = NIOLockedValueBox(OutputFile(file: file))
        } else {
            output = NIOLockedValueBox(nil)
        }
    }

    public enum EmulatorError: Error, CustomStringConvertible {
        case cannotOpen(String)
        public var description: String {
            switch self {
            case .cannotOpen(let path): return "cannot open \(path) for writing"
            }
        }
    }

    deinit {
        output.withLockedValue { out in
            if let out { fclose(out.file) }
        }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        router.get("/stats") { _, _ in
            let c = self.counters.withLockedValue { $0 }
            return #"{"requests":\#(c.requests),"delivered":\#(c.delivered),"failedEntries":\#(c.failed)}"# + "\n"
        }
        router.post("/") { request, context in
            try await self.handle(request, context: context)
        }
        return router
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(router: router(), configuration: .init(address: .hostname(options.host, port: options.port), serverName: "eventbridge-emulator"), logger: logger)
    }

    struct AWSError: Error {
        var status: HTTPResponse.Status
        var type: String
        var message: String
    }

    static func json(_ status: HTTPResponse.Status, _ body: JSONValue) -> Response {
        Response(status: status, headers: [.contentType: "application/x-amz-json-1.1", HTTPField.Name("x-amzn-RequestId")!: UUIDv4.make()],
                 body: .init(byteBuffer: ByteBuffer(bytes: body.serialized())))
    }

    static func errorResponse(_ e: AWSError) -> Response {
        json(e.status, .object(JSONObject([("__type", .string(e.type)), ("message", .string(e.message))])))
    }

    func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        counters.withLockedValue { $0.requests += 1 }
        let body = try await request.body.collect(upTo: 16 * 1024 * 1024)
        let bytes = Array(body.readableBytesView)
        if options.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(options.latencyMilliseconds))
        }
        do {
            try verifySignature(request, body: bytes)
            guard request.headers[HTTPField.Name("X-Amz-Target")!] == "AWSEvents.PutEvents" else {
                throw AWSError(status: .badRequest, type: "UnknownOperationException", message: "only AWSEvents.PutEvents is emulated")
            }
            if options.errorRate > 0, Double.random(in: 0..<1) < options.errorRate {
                throw AWSError(status: .internalServerError, type: "InternalException", message: "injected fault (--error-rate)")
            }
            return try putEvents(bytes)
        } catch let error as AWSError {
            return Self.errorResponse(error)
        }
    }

    func verifySignature(_ request: Request, body: [UInt8]) throws {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("AWS4-HMAC-SHA256 ") else {
            throw AWSError(status: .badRequest, type: "MissingAuthenticationTokenException", message: "Missing Authentication Token")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw AWSError(status: .badRequest, type: "IncompleteSignatureException", message: "Authorization header requires Credential, SignedHeaders and Signature")
        }
        let scope = credential.split(separator: "/")
        guard scope.count == 5, scope[4] == "aws4_request" else {
            throw AWSError(status: .badRequest, type: "IncompleteSignatureException", message: "Credential is not of the form AKID/date/region/service/aws4_request")
        }
        let accessKeyID = String(scope[0])
        guard let secret = options.credentials[accessKeyID] else {
            throw AWSError(status: .badRequest, type: "UnrecognizedClientException", message: "The security token included in the request is invalid.")
        }
        guard let amzDate = request.headers[HTTPField.Name("X-Amz-Date")!], amzDate.count == 16 else {
            throw AWSError(status: .badRequest, type: "IncompleteSignatureException", message: "X-Amz-Date is missing")
        }
        if let signedAt = Self.parseAmzDate(amzDate), abs(Timestamp.now().millisecondsSinceEpoch - signedAt) > 15 * 60 * 1000 {
            throw AWSError(status: .badRequest, type: "RequestExpired", message: "Signature expired: \(amzDate) is more than 15 minutes from the current time")
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        guard names.contains("host") else {
            throw AWSError(status: .badRequest, type: "InvalidSignatureException", message: "'Host' must be a signed header")
        }
        var headers: [(String, String)] = []
        for name in names where !["host", "x-amz-date", "x-amz-security-token"].contains(name) {
            guard let field = HTTPField.Name(name) else { continue }
            let values = request.headers[values: field]
            headers.append((name, values.joined(separator: ",")))
        }
        let token = names.contains("x-amz-security-token") ? request.headers[HTTPField.Name("X-Amz-Security-Token")!] : nil
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: token),
            region: String(scope[2]), service: String(scope[3]))
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        let expected = signer.sign(.init(method: request.method.rawValue, host: host, path: request.uri.path, headers: headers, body: body), amzDate: amzDate)
        guard expected.authorization.hasSuffix("Signature=\(signature)") else {
            throw AWSError(status: .badRequest, type: "InvalidSignatureException", message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
        }
        guard String(scope[3]) == "events", String(scope[2]) == options.region else {
            throw AWSError(status: .badRequest, type: "InvalidSignatureException", message: "Credential should be scoped to region '\(options.region)' and service 'events'")
        }
    }

    static func parseAmzDate(_ s: String) -> Int64? {
        let iso = "\(s.prefix(4))-\(s.dropFirst(4).prefix(2))-\(s.dropFirst(6).prefix(2))T\(s.dropFirst(9).prefix(2)):\(s.dropFirst(11).prefix(2)):\(s.dropFirst(13).prefix(2))Z"
        return Timestamp(rfc3339: iso)?.millisecondsSinceEpoch
    }

    func putEvents(_ body: [UInt8]) throws -> Response {
        guard case .object(let request)? = try? JSONParser.parse(body) else {
            throw AWSError(status: .badRequest, type: "SerializationException", message: "the request body is not valid JSON")
        }
        guard case .array(let entries)? = request["Entries"], (1...10).contains(entries.count) else {
            throw AWSError(status: .badRequest, type: "ValidationException", message: "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10")
        }
        var total = 0
        for entry in entries {
            guard case .object(let e) = entry else {
                throw AWSError(status: .badRequest, type: "SerializationException", message: "an entry is not an object")
            }
            if e["Time"] != nil { total += 14 }
            for key in ["Source", "DetailType", "Detail"] { total += e[key]?.stringValue?.utf8.count ?? 0 }
            for resource in e["Resources"]?.arrayValue ?? [] {
                let arn = resource.stringValue ?? ""
                if arn.utf8.count > 2048 {
                    throw AWSError(status: .badRequest, type: "ValidationException", message: "1 validation error detected: Member of 'resources' must have length less than or equal to 2048")
                }
                total += arn.utf8.count
            }
            if let bus = e["EventBusName"]?.stringValue, bus.isEmpty || bus.count > 1600 {
                throw AWSError(status: .badRequest, type: "ValidationException", message: "1 validation error detected: Value at 'eventBusName' failed to satisfy constraint: Member must have length between 1 and 1600")
            }
        }
        if total > options.maxRequestBytes {
            throw AWSError(status: .badRequest, type: "ValidationException", message: "Total size of the entries in the request is over the limit.")
        }

        var results: [JSONValue] = []
        var lines: [UInt8] = []
        var failed = 0
        let now = Timestamp.now()
        for entry in entries {
            let e = entry.objectValue ?? JSONObject()
            func failure(_ code: String, _ message: String) -> JSONValue {
                failed += 1
                return .object(JSONObject([("ErrorCode", .string(code)), ("ErrorMessage", .string(message))]))
            }
            guard let source = e["Source"]?.stringValue, !source.isEmpty else {
                results.append(failure("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."))
                continue
            }
            guard let detailType = e["DetailType"]?.stringValue, !detailType.isEmpty else {
                results.append(failure("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."))
                continue
            }
            guard let detailText = e["Detail"]?.stringValue else {
                results.append(failure("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."))
                continue
            }
            if detailType.count > 128 {
                results.append(failure("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters."))
                continue
            }
            if source.hasPrefix("aws.") {
                results.append(failure("NotAuthorizedForSourceException", "Not authorized for the source."))
                continue
            }
            guard case .object(let detail)? = try? JSONParser.parse(Array(detailText.utf8), maxDepth: 1000) else {
                results.append(failure("MalformedDetail", "Detail is malformed."))
                continue
            }
            if options.throttleRate > 0, Double.random(in: 0..<1) < options.throttleRate {
                results.append(failure("ThrottlingException", "Rate exceeded (injected by --throttle-rate)"))
                continue
            }
            let id = UUIDv4.make()
            var time = now
            // A Time too large to count is treated as absent (EventBridge then uses the call's time).
            if case .number(let n)? = e["Time"], let seconds = Int64(n) {
                let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
                if !overflow { time = Timestamp(millisecondsSinceEpoch: ms) }
            }
            let envelope = JSONValue.object(JSONObject([
                ("version", .string("0")),
                ("id", .string(id)),
                ("detail-type", .string(detailType)),
                ("source", .string(source)),
                ("account", .string(options.account)),
                ("time", .string(String(time.rfc3339.prefix(19)) + "Z")),
                ("region", .string(options.region)),
                ("resources", .array((e["Resources"]?.arrayValue ?? []))),
                ("detail", .object(detail)),
            ]))
            var written = envelope
            if options.recordReceiptTime, case .object(var o) = written {
                o["x-emulator-received-ms"] = .number(String(Timestamp.now().millisecondsSinceEpoch))
                written = .object(o)
            }
            written.write(to: &lines)
            lines.append(UInt8(ascii: "\n"))
            results.append(.object(JSONObject([("EventId", .string(id))])))
        }
        if !lines.isEmpty {
            let recorded = output.withLockedValue { out -> Bool in
                guard let out else { return true }
                let written = lines.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, out.file) }
                return fflush(out.file) == 0 && written == lines.count
            }
            // Events it could not record (a full disk) were not delivered: say so, so they are sent again.
            guard recorded else {
                counters.withLockedValue { $0.failed += entries.count }
                throw AWSError(status: .internalServerError, type: "InternalException", message: "the emulator could not write its events file (is the disk full?)")
            }
        }
        let delivered = entries.count - failed
        counters.withLockedValue {
            $0.delivered += delivered
            $0.failed += failed
        }
        return Self.json(.ok, .object(JSONObject([("FailedEntryCount", .number(String(failed))), ("Entries", .array(results))])))
    }
}
