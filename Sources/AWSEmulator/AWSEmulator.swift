import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore

/// What the local AWS emulators (`switchyard emulate eventbridge|kinesis`) share: SigV4 checked
/// as AWS checks it, AWS's JSON error shape, and the JSON-lines file they write what they accept to.
public enum AWSEmulator {
    /// A refusal in AWS's JSON 1.1 shape: `{"__type": …, "message": …}` with its status.
    public struct Failure: Error, Sendable {
        public var status: HTTPResponse.Status
        public var type: String
        public var message: String

        public init(status: HTTPResponse.Status = .badRequest, type: String, message: String) {
            self.status = status
            self.type = type
            self.message = message
        }

        public var response: Response {
            json(status, .object(JSONObject([("__type", .string(type)), ("message", .string(message))])))
        }
    }

    public static func json(_ status: HTTPResponse.Status, _ body: JSONValue) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/x-amz-json-1.1", HTTPField.Name("x-amzn-RequestId")!: UUIDv4.make()],
            body: .init(byteBuffer: ByteBuffer(bytes: body.serialized()))
        )
    }

    /// Checks a request's Signature Version 4 as AWS does: a known access key, a date within 15
    /// minutes, `host` signed, the signature recomputed over the signed headers and the body, and
    /// the scope's region and service the emulated ones.
    public static func verifySignature(
        _ request: Request,
        body: [UInt8],
        credentials: [String: String],
        region: String,
        service: String,
        keys: SigningKeyCache
    ) throws(Failure) {
        guard let authorization = request.headers[.authorization], authorization.hasPrefix("AWS4-HMAC-SHA256 ") else {
            throw Failure(type: "MissingAuthenticationTokenException", message: "Missing Authentication Token")
        }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let kv = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if kv.count == 2 { fields[String(kv[0])] = String(kv[1]) }
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"] else {
            throw Failure(
                type: "IncompleteSignatureException",
                message: "Authorization header requires Credential, SignedHeaders and Signature"
            )
        }
        let scope = credential.split(separator: "/")
        guard scope.count == 5, scope[4] == "aws4_request" else {
            throw Failure(
                type: "IncompleteSignatureException",
                message: "Credential is not of the form AKID/date/region/service/aws4_request"
            )
        }
        let accessKeyID = String(scope[0])
        guard let secret = credentials[accessKeyID] else {
            throw Failure(type: "UnrecognizedClientException", message: "The security token included in the request is invalid.")
        }
        guard let amzDate = request.headers[HTTPField.Name("X-Amz-Date")!], amzDate.count == 16 else {
            throw Failure(type: "IncompleteSignatureException", message: "X-Amz-Date is missing")
        }
        if let signedAt = parseAmzDate(amzDate), abs(Timestamp.now().millisecondsSinceEpoch - signedAt) > 15 * 60 * 1000 {
            throw Failure(type: "RequestExpired", message: "Signature expired: \(amzDate) is more than 15 minutes from the current time")
        }
        let names = signedHeaders.split(separator: ";").map(String.init)
        guard names.contains("host") else {
            throw Failure(type: "InvalidSignatureException", message: "'Host' must be a signed header")
        }
        var headers: [(String, String)] = []
        for name in names where !["host", "x-amz-date", "x-amz-security-token"].contains(name) {
            guard let field = HTTPField.Name(name) else { continue }
            headers.append((name, request.headers[values: field].joined(separator: ",")))
        }
        let token = names.contains("x-amz-security-token") ? request.headers[HTTPField.Name("X-Amz-Security-Token")!] : nil
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: token),
            region: String(scope[2]),
            service: String(scope[3]),
            keys: keys
        )
        let host = request.head.authority ?? request.headers[HTTPField.Name("Host")!] ?? ""
        let expected = signer.sign(
            .init(method: request.method.rawValue, host: host, path: request.uri.path, headers: headers, body: body),
            amzDate: amzDate
        )
        guard expected.authorization.hasSuffix("Signature=\(signature)") else {
            throw Failure(
                type: "InvalidSignatureException",
                message:
                    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
            )
        }
        guard String(scope[3]) == service, String(scope[2]) == region else {
            throw Failure(
                type: "InvalidSignatureException",
                message: "Credential should be scoped to region '\(region)' and service '\(service)'"
            )
        }
    }

    static func parseAmzDate(_ s: String) -> Int64? {
        let iso =
            "\(s.prefix(4))-\(s.dropFirst(4).prefix(2))-\(s.dropFirst(6).prefix(2))T\(s.dropFirst(9).prefix(2)):\(s.dropFirst(11).prefix(2)):\(s.dropFirst(13).prefix(2))Z"
        return Timestamp(rfc3339: iso)?.millisecondsSinceEpoch
    }
}

/// The file an emulator appends what it accepted to, one JSON document per line, flushed per
/// request. Its folder is made when missing (the quickstart writes under `.switchyard/`).
public final class JSONLinesFile: Sendable {
    struct Handle: @unchecked Sendable {
        let file: UnsafeMutablePointer<FILE>
    }

    private let handle: NIOLockedValueBox<Handle?>

    public struct CannotOpen: Error, CustomStringConvertible {
        public let path: String
        public var description: String { "cannot open \(path) for writing" }
    }

    /// - Parameter path: nil writes nothing.
    public init(path: String?) throws {
        guard let path else {
            handle = NIOLockedValueBox(nil)
            return
        }
        let folder = (path as NSString).deletingLastPathComponent
        if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
        guard let file = fopen(path, "a") else { throw CannotOpen(path: path) }
        handle = NIOLockedValueBox(Handle(file: file))
    }

    deinit {
        handle.withLockedValue { h in
            if let h { fclose(h.file) }
        }
    }

    /// Writes the lines and flushes them; false when they could not all be written (a full disk).
    public func append(_ lines: [UInt8]) -> Bool {
        guard !lines.isEmpty else { return true }
        return handle.withLockedValue { h -> Bool in
            guard let h else { return true }
            let written = lines.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, h.file) }
            return fflush(h.file) == 0 && written == lines.count
        }
    }
}
