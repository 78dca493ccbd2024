import AWSSigV4
import AsyncHTTPClient
import NIOCore
import SwitchyardCore

/// The two STS calls the credential chain makes, in STS's query protocol (a form POST, an XML
/// answer): `AssumeRoleWithWebIdentity`, unsigned as the SDKs send it, and `AssumeRole`, signed
/// with the source credentials.
public struct STSClient: Sendable {
    /// `https://sts.<region>.amazonaws.com` (the SDKs' regional default), or `AWS_ENDPOINT_URL_STS`,
    /// or `AWS_ENDPOINT_URL`.
    public let url: String
    public let hostHeader: String
    public let region: String
    public let httpClient: HTTPClient
    public var timeout: TimeAmount = .seconds(10)

    public init?(region: String, environment: [String: String], httpClient: HTTPClient) {
        let url = EndpointResolver.endpoint(
            explicit: nil,
            serviceEnvName: "STS",
            hostPrefix: "sts",
            region: region,
            environment: environment
        )
        guard let (normalized, host) = Self.parse(url) else { return nil }
        self.url = normalized
        hostHeader = host
        self.region = region
        self.httpClient = httpClient
    }

    /// A URL's form for requests (ending in `/`) and the Host value that gets signed.
    static func parse(_ url: String) -> (String, String)? {
        let https = url.hasPrefix("https://")
        guard https || url.hasPrefix("http://") else { return nil }
        let authority = url.dropFirst(https ? 8 : 7).prefix { $0 != "/" && $0 != "?" }
        guard !authority.isEmpty else { return nil }
        var host = String(authority)
        if https, host.hasSuffix(":443") { host.removeLast(4) }
        if !https, host.hasSuffix(":80") { host.removeLast(3) }
        return ((https ? "https://" : "http://") + authority + "/", host)
    }

    public func assumeRoleWithWebIdentity(
        roleArn: String,
        sessionName: String,
        token: String,
        durationSeconds: Int?
    ) async throws(CredentialError) -> TemporaryCredentials {
        var form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleArn), ("RoleSessionName", sessionName),
            ("WebIdentityToken", token),
        ]
        if let durationSeconds { form.append(("DurationSeconds", String(durationSeconds))) }
        return try await call(form, signer: nil, what: "AssumeRoleWithWebIdentity")
    }

    public func assumeRole(
        roleArn: String,
        sessionName: String,
        externalId: String?,
        durationSeconds: Int?,
        with credentials: AWSCredentials
    ) async throws(CredentialError) -> TemporaryCredentials {
        var form = [("Action", "AssumeRole"), ("Version", "2011-06-15"), ("RoleArn", roleArn), ("RoleSessionName", sessionName)]
        if let externalId { form.append(("ExternalId", externalId)) }
        if let durationSeconds { form.append(("DurationSeconds", String(durationSeconds))) }
        return try await call(form, signer: SigV4Signer(credentials: credentials, region: region, service: "sts"), what: "AssumeRole")
    }

    func call(_ form: [(String, String)], signer: SigV4Signer?, what: String) async throws(CredentialError) -> TemporaryCredentials {
        let provider = "STS \(what)"
        let body = Array(form.map { SigV4Signer.uriEncode($0.0) + "=" + SigV4Signer.uriEncode($0.1) }.joined(separator: "&").utf8)
        let contentType = "application/x-www-form-urlencoded; charset=utf-8"
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Host", value: hostHeader)
        request.headers.add(name: "Content-Type", value: contentType)
        if let signer {
            let signature = signer.sign(
                .init(method: "POST", host: hostHeader, path: "/", headers: [("Content-Type", contentType)], body: body),
                amzDate: Timestamp.now().amzDate
            )
            for (name, value) in signature.headers { request.headers.add(name: name, value: value) }
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let status: Int
        let text: String
        do {
            let response = try await httpClient.execute(request, timeout: timeout)
            status = Int(response.status.code)
            text = String(buffer: try await response.body.collect(upTo: 1024 * 1024))
        } catch {
            throw CredentialError(provider: provider, message: "cannot reach \(url): \(error)")
        }
        guard status == 200 else {
            let code = XML.first("Code", in: text) ?? "HTTP\(status)"
            let message = XML.first("Message", in: text).map { ": \($0)" } ?? ""
            throw CredentialError(provider: provider, message: "\(code) (HTTP \(status))\(message)")
        }
        return try Self.credentials(fromXML: text, provider: provider)
    }

    /// `<Credentials>` of an STS answer.
    static func credentials(fromXML text: String, provider: String) throws(CredentialError) -> TemporaryCredentials {
        guard let id = XML.first("AccessKeyId", in: text), let secret = XML.first("SecretAccessKey", in: text),
            let token = XML.first("SessionToken", in: text)
        else {
            throw CredentialError(provider: provider, message: "the answer has no AccessKeyId, SecretAccessKey and SessionToken")
        }
        let expiration = XML.first("Expiration", in: text).flatMap(Timestamp.init(rfc3339:))
        return TemporaryCredentials(AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), expiration: expiration)
    }
}

/// Just enough XML for STS's answers: the text of the first element of a name, unescaped.
enum XML {
    static func first(_ name: String, in text: String) -> String? {
        guard let open = text.range(of: "<\(name)>"), let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
        else { return nil }
        return unescape(String(text[open.upperBound..<close.lowerBound]))
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingAll("&lt;", with: "<").replacingAll("&gt;", with: ">").replacingAll("&quot;", with: "\"")
            .replacingAll("&apos;", with: "'").replacingAll("&amp;", with: "&")
    }
}

extension String {
    func replacingAll(_ target: String, with replacement: String) -> String {
        var out = ""
        var rest = Substring(self)
        while let range = rest.range(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}
