import AWSClient
import AWSCredentialProviders
import AWSSigV4
import AsyncHTTPClient
import NIOCore
import SwitchyardCore

/// An archive in an S3 bucket: PutObject, GetObject, ListObjectsV2 and DeleteObject as REST
/// calls signed with SigV4 (the payload's SHA-256 signed too, so a body changed on the way is
/// refused), through the credentials every AWS destination resolves. Path-style URLs for an
/// explicit endpoint (moto, MinIO), virtual-hosted ones for AWS.
public struct S3ArchiveBucket: ArchiveBucket {
    public let bucket: String
    /// Put before every key; ends with `/` when it is not empty.
    public let prefix: String
    let region: String
    let credentials: RefreshingCredentials
    let endpoint: AWSEndpoint
    /// Whether the bucket goes in the path (`/bucket/key`) rather than the host.
    let pathStyle: Bool
    let httpClient: HTTPClient
    let timeout: TimeAmount
    let signingKeys = SigningKeyCache()
    /// The largest object this reads back (a file is rewritten whole when a user is deleted).
    static let maxObjectBytes = 1 << 30

    public init(
        bucket: String,
        prefix: String,
        region: String,
        credentials: RefreshingCredentials,
        endpoint: AWSEndpoint,
        pathStyle: Bool,
        httpClient: HTTPClient,
        timeout: TimeAmount = .seconds(60)
    ) {
        self.bucket = bucket
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.region = region
        self.credentials = credentials
        self.endpoint = endpoint
        self.pathStyle = pathStyle
        self.httpClient = httpClient
        self.timeout = timeout
    }

    public var location: String { "s3://\(bucket)/\(prefix)" }

    public func put(_ key: String, _ bytes: [UInt8], contentType: String) async throws {
        // Not `application/x-www-form-urlencoded`: moto stores such a body as an empty object.
        _ = try await call("PUT", key: prefix + key, headers: [("Content-Type", contentType)], body: bytes, expect: [200])
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let answer = try await call("GET", key: prefix + key, expect: [200, 404])
        return answer.status == 404 ? nil : answer.body
    }

    public func delete(_ key: String) async throws {
        _ = try await call("DELETE", key: prefix + key, expect: [200, 204, 404])
    }

    public func list(under under: String) async throws -> [String] {
        var keys: [String] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix + under)]
            if let token { query.append(("continuation-token", token)) }
            let answer = try await call("GET", key: nil, query: query, expect: [200])
            let xml = String(decoding: answer.body, as: UTF8.self)
            keys += S3XML.values(of: "Key", in: xml).map { String($0.dropFirst(prefix.count)) }
            token =
                S3XML.values(of: "IsTruncated", in: xml).first == "true" ? S3XML.values(of: "NextContinuationToken", in: xml).first : nil
        } while token != nil
        return keys
    }

    struct Answer {
        var status: Int
        var body: [UInt8]
    }

    /// One signed call; throws with S3's error code and message for a status it did not expect.
    func call(
        _ method: String,
        key: String?,
        query: [(String, String)] = [],
        headers extra: [(String, String)] = [],
        body: [UInt8] = [],
        expect: Set<Int>
    ) async throws -> Answer {
        let keys: AWSCredentials
        do {
            keys = try await credentials.current()
        } catch {
            throw ArchiveBucketError.unreachable("no AWS credentials: \(error.message)")
        }
        // Each segment of the key encoded once, `/` kept.
        let encodedKey = key.map {
            $0.split(separator: "/", omittingEmptySubsequences: false).map { SigV4Signer.uriEncode(String($0)) }.joined(separator: "/")
        }
        let host = pathStyle ? endpoint.hostHeader : "\(bucket).\(endpoint.hostHeader)"
        let path = pathStyle ? "/\(bucket)" + (encodedKey.map { "/" + $0 } ?? "") : "/" + (encodedKey ?? "")
        var headers = extra
        headers.append(("x-amz-content-sha256", SigV4Signer.hexSHA256(body)))
        let signer = SigV4Signer(credentials: keys, region: region, service: "s3", keys: signingKeys)
        let signature = signer.sign(
            .init(method: method, host: host, path: path, query: query, headers: headers, body: body),
            amzDate: Timestamp.now().amzDate
        )
        let base = String(endpoint.url.dropLast())  // without its trailing `/`
        let scheme = base.hasPrefix("https://") ? "https://" : "http://"
        let origin = pathStyle ? base : scheme + bucket + "." + base.dropFirst(scheme.count)
        let queryText = query.map { SigV4Signer.uriEncode($0.0) + "=" + SigV4Signer.uriEncode($0.1) }.joined(separator: "&")
        var request = HTTPClientRequest(url: origin + path + (queryText.isEmpty ? "" : "?" + queryText))
        request.method = .RAW(value: method)
        request.headers.add(name: "Host", value: host)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        for (name, value) in signature.headers { request.headers.add(name: name, value: value) }
        if method == "PUT" { request.body = .bytes(ByteBuffer(bytes: body)) }
        let answer: Answer
        do {
            let deadline = NIODeadline.now() + timeout
            let response = try await httpClient.execute(request, deadline: deadline)
            let bytes = try await AWSJSONClient.collect(
                response.body,
                before: deadline,
                timeout: timeout,
                upTo: Self.maxObjectBytes,
                timers: httpClient.eventLoopGroup.any()
            )
            answer = Answer(status: Int(response.status.code), body: Array(bytes.readableBytesView))
        } catch {
            throw ArchiveBucketError.unreachable("\(method) \(location)\(key.map { String($0.dropFirst(prefix.count)) } ?? ""): \(error)")
        }
        guard expect.contains(answer.status) else {
            let xml = String(decoding: answer.body.prefix(4096), as: UTF8.self)
            throw ArchiveBucketError.refused(
                status: answer.status,
                code: S3XML.values(of: "Code", in: xml).first ?? "",
                message: S3XML.values(of: "Message", in: xml).first ?? ""
            )
        }
        return answer
    }
}

/// The few values read from S3's XML answers (keys of a listing, an error's code), found by
/// element name: these documents are flat, and a full XML parser would be all cost.
enum S3XML {
    static func values(of element: String, in xml: String) -> [String] {
        let open = "<\(element)>"
        let close = "</\(element)>"
        var out: [String] = []
        var rest = Substring(xml)
        while let start = rest.range(of: open) {
            rest = rest[start.upperBound...]
            guard let end = rest.range(of: close) else { break }
            out.append(unescape(String(rest[..<end.lowerBound])))
            rest = rest[end.upperBound...]
        }
        return out
    }

    static func unescape(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&#13;", with: "\r").replacingOccurrences(of: "&amp;", with: "&")
    }
}
