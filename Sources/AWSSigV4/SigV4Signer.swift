import Crypto
import NIOConcurrencyHelpers

/// AWS Signature Version 4 for requests with a body in hand (the JSON protocols). Written against
/// the official test vectors, which `SigV4Tests` reproduces byte for byte.
public struct SigV4Signer: Sendable {
    public var credentials: AWSCredentials
    public var region: String
    public var service: String
    /// Where derived signing keys are kept between requests; whoever signs many requests (a
    /// client, an emulator) owns one and passes it to every signer it makes.
    public var keys: SigningKeyCache

    public init(credentials: AWSCredentials, region: String, service: String, keys: SigningKeyCache = SigningKeyCache()) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.keys = keys
    }

    /// The parts of a request that are signed.
    public struct Request: Sendable {
        public var method: String
        /// `host` or `host:port` exactly as it goes in the Host header (the port only when it is not the scheme's default).
        public var host: String
        /// The path, already percent-encoded as it goes on the wire (`/` for PutEvents).
        public var path: String
        public var query: [(String, String)]
        /// Headers to sign besides `host`, `x-amz-date` and `x-amz-security-token`, which are added.
        public var headers: [(String, String)]
        public var body: [UInt8]

        public init(
            method: String,
            host: String,
            path: String = "/",
            query: [(String, String)] = [],
            headers: [(String, String)],
            body: [UInt8]
        ) {
            self.method = method
            self.host = host
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }
    }

    public struct Signature: Sendable {
        public var canonicalRequest: String
        public var stringToSign: String
        public var authorization: String
        public var amzDate: String
        /// Headers to add to the request: `X-Amz-Date`, `Authorization` and, with temporary credentials, `X-Amz-Security-Token`.
        public var headers: [(String, String)]
    }

    /// - Parameter amzDate: `yyyyMMdd'T'HHmmss'Z'` in UTC (`Timestamp.amzDate`).
    public func sign(_ request: Request, amzDate: String) -> Signature {
        let date = String(amzDate.prefix(8))
        var headers: [(String, String)] = request.headers.map { ($0.0.lowercased(), Self.trimAll($0.1)) }
        headers.append(("host", request.host))
        headers.append(("x-amz-date", amzDate))
        if let token = credentials.sessionToken { headers.append(("x-amz-security-token", token)) }
        // Sorted by name; repeated names join their values with commas, in order.
        var merged: [String: [String]] = [:]
        for (name, value) in headers { merged[name, default: []].append(value) }
        let names = merged.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(merged[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        var encoded: [(String, String)] = request.query.map { pair in (Self.uriEncode(pair.0), Self.uriEncode(pair.1)) }
        encoded.sort { a, b in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let query: String = encoded.map { pair in pair.0 + "=" + pair.1 }.joined(separator: "&")
        let canonicalRequest = [
            request.method, request.path.isEmpty ? "/" : request.path, query, canonicalHeaders, signedHeaders, Self.hexSHA256(request.body),
        ].joined(separator: "\n")
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, Self.hexSHA256(Array(canonicalRequest.utf8))].joined(separator: "\n")
        let key = keys.key(secret: credentials.secretAccessKey, date: date, region: region, service: service)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization =
            "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        var add = [("X-Amz-Date", amzDate), ("Authorization", authorization)]
        if let token = credentials.sessionToken { add.append(("X-Amz-Security-Token", token)) }
        return Signature(
            canonicalRequest: canonicalRequest,
            stringToSign: stringToSign,
            authorization: authorization,
            amzDate: amzDate,
            headers: add
        )
    }

    /// The HMAC chain `"AWS4"+secret` → date → region → service → `aws4_request`.
    public static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Array(("AWS4" + secret).utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        return key
    }

    static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
    }

    /// RFC 3986 percent-encoding as AWS signs it (unreserved characters as they are), also what
    /// AWS's query APIs read in a form body.
    public static func uriEncode(_ s: String) -> String {
        var out = ""
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(2)
            }
        }
        return out
    }

    public static func hexSHA256(_ bytes: [UInt8]) -> String {
        hex(SHA256.hash(data: bytes))
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        String(repeating: "0", count: max(0, width - count)) + self
    }
}

/// Signing keys change once a day per secret, region and service; deriving one costs five HMACs,
/// so keep the last few instead of deriving one per request.
public final class SigningKeyCache: Sendable {
    private let keys = NIOLockedValueBox([String: SymmetricKey]())

    public init() {}

    func key(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        let id = SHA256.hash(data: Array("\(secret)\u{0}\(date)\u{0}\(region)\u{0}\(service)".utf8)).description
        if let key = keys.withLockedValue({ $0[id] }) { return key }
        let key = SigV4Signer.signingKey(secret: secret, date: date, region: region, service: service)
        keys.withLockedValue { cache in
            if cache.count > 64 { cache.removeAll() }
            cache[id] = key
        }
        return key
    }
}
