import AWSSigV4
import AsyncHTTPClient
import Foundation
import NIOCore
import SwitchyardCore

/// Keys that do not expire: the destination's own, the environment's, a profile's.
public struct StaticCredentialProvider: CredentialProvider {
    public let credentials: AWSCredentials
    public let description: String
    public let kind: String

    public init(_ credentials: AWSCredentials, description: String, kind: String) {
        self.credentials = credentials
        self.description = description
        self.kind = kind
    }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        TemporaryCredentials(credentials)
    }
}

/// EKS IRSA and other OIDC federation: the token file (re-read at every fetch, since it
/// rotates) traded for a role's credentials with STS `AssumeRoleWithWebIdentity`.
public struct WebIdentityProvider: CredentialProvider {
    public let tokenFile: String
    public let roleArn: String
    public let sessionName: String
    public let durationSeconds: Int?
    public let sts: STSClient
    public var kind: String { "web-identity" }
    public var description: String { "web identity (\(roleArn), token \(tokenFile))" }

    public init(tokenFile: String, roleArn: String, sessionName: String, durationSeconds: Int?, sts: STSClient) {
        self.tokenFile = tokenFile
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.durationSeconds = durationSeconds
        self.sts = sts
    }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        guard let token = readSmallFile(tokenFile)?.trimmingWhitespace(), !token.isEmpty else {
            throw CredentialError(provider: description, message: "cannot read the web identity token file \(tokenFile)")
        }
        do {
            return try await sts.assumeRoleWithWebIdentity(
                roleArn: roleArn,
                sessionName: sessionName,
                token: token,
                durationSeconds: durationSeconds
            )
        } catch {
            throw CredentialError(provider: description, message: error.message)
        }
    }
}

/// A role assumed with another source's credentials: a profile's `role_arn`, or a destination's
/// `credentials.roleArn`, so one server publishes into several accounts.
public struct AssumeRoleProvider: CredentialProvider {
    public let source: RefreshingCredentials
    public let roleArn: String
    public let sessionName: String
    public let externalId: String?
    public let durationSeconds: Int?
    public let sts: STSClient
    public var kind: String { "assume-role" }
    public var description: String { "role \(roleArn) assumed with \(source.provider.description)" }

    public init(
        source: RefreshingCredentials,
        roleArn: String,
        sessionName: String,
        externalId: String?,
        durationSeconds: Int?,
        sts: STSClient
    ) {
        self.source = source
        self.roleArn = roleArn
        self.sessionName = sessionName
        self.externalId = externalId
        self.durationSeconds = durationSeconds
        self.sts = sts
    }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        let credentials: AWSCredentials
        do {
            credentials = try await source.current()
        } catch {
            throw CredentialError(provider: description, message: "its source has no credentials: \(error.message)")
        }
        do {
            return try await sts.assumeRole(
                roleArn: roleArn,
                sessionName: sessionName,
                externalId: externalId,
                durationSeconds: durationSeconds,
                with: credentials
            )
        } catch {
            throw CredentialError(provider: description, message: error.message)
        }
    }
}

/// A profile's `credential_process`: the command's standard output, `{"Version": 1,
/// "AccessKeyId", "SecretAccessKey", "SessionToken"?, "Expiration"?}`; a non-zero exit fails.
public struct ProcessCredentialProvider: CredentialProvider {
    public let command: String
    public let profile: String
    public var timeout: Duration = .seconds(30)
    public var kind: String { "process" }
    public var description: String { "credential_process of profile \(profile)" }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        switch await ShellCommand.run(command, timeout: timeout) {
        case .exited(0, let output, _):
            return try Self.parse(output, provider: description)
        case .exited(let status, _, let errorOutput):
            let detail = errorOutput.split(whereSeparator: \.isNewline).first.map { ": \($0.prefix(200))" } ?? ""
            throw CredentialError(provider: description, message: "the command exited with status \(status)\(detail)")
        case .timedOut:
            throw CredentialError(provider: description, message: "the command did not finish within \(timeout)")
        case .failed(let why):
            throw CredentialError(provider: description, message: why)
        }
    }

    static func parse(_ output: [UInt8], provider: String) throws(CredentialError) -> TemporaryCredentials {
        guard case .object(let o)? = try? JSONParser.parse(output) else {
            throw CredentialError(provider: provider, message: "the command's output is not a JSON object")
        }
        guard o["Version"] == .number("1") else {
            throw CredentialError(provider: provider, message: "the command's output must have \"Version\": 1")
        }
        guard let id = o["AccessKeyId"]?.stringValue, !id.isEmpty, let secret = o["SecretAccessKey"]?.stringValue, !secret.isEmpty else {
            throw CredentialError(provider: provider, message: "the command's output has no AccessKeyId and SecretAccessKey")
        }
        var expiration: Timestamp?
        if let text = o["Expiration"]?.stringValue {
            guard let parsed = Timestamp(rfc3339: text) else {
                throw CredentialError(
                    provider: provider,
                    message: "the command's Expiration \"\(text.prefix(40))\" is not an RFC 3339 time"
                )
            }
            expiration = parsed
        }
        let token = o["SessionToken"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        return TemporaryCredentials(AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), expiration: expiration)
    }
}

/// ECS task roles and EKS Pod Identity: `GET` the container credentials endpoint, with the
/// authorization token when the full URI needs one; JSON with `AccessKeyId`, `SecretAccessKey`,
/// `Token`, `Expiration`.
public struct ContainerCredentialProvider: CredentialProvider {
    public let url: String
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`.
    public let token: String?
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, re-read at every fetch (EKS rotates it).
    public let tokenFile: String?
    public let httpClient: HTTPClient
    public var kind: String { "container" }
    public var description: String { "container credentials (\(url))" }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Accept", value: "application/json")
        if let tokenFile {
            guard let value = readSmallFile(tokenFile)?.trimmingWhitespace(), !value.isEmpty else {
                throw CredentialError(provider: description, message: "cannot read the authorization token file \(tokenFile)")
            }
            request.headers.add(name: "Authorization", value: value)
        } else if let token {
            request.headers.add(name: "Authorization", value: token)
        }
        let (status, body) = try await get(request, provider: description, client: httpClient, timeout: .seconds(5))
        guard status == 200 else {
            throw CredentialError(provider: description, message: "HTTP \(status): \(String(decoding: body.prefix(200), as: UTF8.self))")
        }
        return try credentials(fromJSON: body, provider: description)
    }

    /// Plain-HTTP full URIs are allowed only to this machine and the container agents' own
    /// addresses, as the AWS SDKs allow them; https to any host.
    public static func isAllowed(_ url: String) -> Bool {
        if url.hasPrefix("https://") { return true }
        guard url.hasPrefix("http://") else { return false }
        let authority = url.dropFirst(7).prefix { $0 != "/" && $0 != "?" }
        var host = authority
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") {
            host = host[host.index(after: host.startIndex)..<end]
        } else if let colon = host.lastIndex(of: ":") {
            host = host[..<colon]
        }
        let h = host.lowercased()
        if h == "localhost" || h == "::1" || h == "169.254.170.2" || h == "169.254.170.23" || h == "fd00:ec2::23" { return true }
        let octets = h.split(separator: ".")
        return octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil }
    }
}

/// EC2 instance roles through IMDSv2: a session token first (`PUT /latest/api/token`), then the
/// role's name and its credentials, each with the token.
public struct InstanceMetadataProvider: CredentialProvider {
    /// `http://169.254.169.254`, or `AWS_EC2_METADATA_SERVICE_ENDPOINT`.
    public let endpoint: String
    public let httpClient: HTTPClient
    public var timeout: TimeAmount = .seconds(1)
    public var kind: String { "instance-metadata" }
    public var description: String { "instance metadata (\(endpoint))" }

    public func fetch() async throws(CredentialError) -> TemporaryCredentials {
        let base = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        var tokenRequest = HTTPClientRequest(url: base + "/latest/api/token")
        tokenRequest.method = .PUT
        tokenRequest.headers.add(name: "X-aws-ec2-metadata-token-ttl-seconds", value: "21600")
        let (tokenStatus, tokenBody) = try await get(tokenRequest, provider: description, client: httpClient, timeout: timeout)
        guard tokenStatus == 200, !tokenBody.isEmpty else {
            throw CredentialError(provider: description, message: "no session token (HTTP \(tokenStatus))")
        }
        let token = String(decoding: tokenBody, as: UTF8.self).trimmingWhitespace()
        func metadata(_ path: String) async throws(CredentialError) -> [UInt8] {
            var request = HTTPClientRequest(url: base + path)
            request.headers.add(name: "X-aws-ec2-metadata-token", value: token)
            let (status, body) = try await get(request, provider: description, client: httpClient, timeout: timeout)
            guard status == 200 else { throw CredentialError(provider: description, message: "\(path): HTTP \(status)") }
            return body
        }
        let roles = String(decoding: try await metadata("/latest/meta-data/iam/security-credentials/"), as: UTF8.self)
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init)?.trimmingWhitespace(), !role.isEmpty else {
            throw CredentialError(provider: description, message: "the instance has no IAM role")
        }
        return try credentials(fromJSON: try await metadata("/latest/meta-data/iam/security-credentials/\(role)"), provider: description)
    }
}

/// The JSON both metadata services answer: `AccessKeyId`, `SecretAccessKey`, `Token`, `Expiration`.
func credentials(fromJSON body: [UInt8], provider: String) throws(CredentialError) -> TemporaryCredentials {
    guard case .object(let o)? = try? JSONParser.parse(body) else {
        throw CredentialError(provider: provider, message: "the answer is not a JSON object")
    }
    if let code = o["Code"]?.stringValue, code != "Success" {
        throw CredentialError(provider: provider, message: "\(code): \(o["Message"]?.stringValue ?? "")")
    }
    guard let id = o["AccessKeyId"]?.stringValue, let secret = o["SecretAccessKey"]?.stringValue else {
        throw CredentialError(provider: provider, message: "the answer has no AccessKeyId and SecretAccessKey")
    }
    let expiration = o["Expiration"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
    // Long-term keys come without a token (or with an empty one): nothing to send then.
    let token = o["Token"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
    return TemporaryCredentials(AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token), expiration: expiration)
}

func get(
    _ request: HTTPClientRequest,
    provider: String,
    client: HTTPClient,
    timeout: TimeAmount
) async throws(CredentialError) -> (Int, [UInt8]) {
    do {
        let response = try await client.execute(request, timeout: timeout)
        let body = try await response.body.collect(upTo: 1024 * 1024)
        return (Int(response.status.code), Array(body.readableBytesView))
    } catch {
        throw CredentialError(provider: provider, message: "no answer from \(request.url): \(error)")
    }
}

func readSmallFile(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else { return nil }
    return String(decoding: data, as: UTF8.self)
}
