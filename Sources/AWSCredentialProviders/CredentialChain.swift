import AWSSigV4
import AsyncHTTPClient
import Foundation
import Metrics
import SwitchyardCore

/// Finds credentials the way the AWS SDKs do, in their order: the destination's own keys; the
/// environment (`AWS_ACCESS_KEY_ID`, …); web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` with
/// `AWS_ROLE_ARN`); the shared config and credentials files for `AWS_PROFILE` (static keys, a
/// `role_arn` with `source_profile` or `credential_source`, `credential_process`,
/// `web_identity_token_file`); container credentials (ECS, EKS Pod Identity); EC2 instance
/// metadata (IMDSv2). A step is taken when it is configured, as the SDKs take it (a configured
/// step that then fails is reported, not skipped for another identity); instance metadata, which
/// needs no configuration, is taken when it answers.
public struct CredentialChain: Sendable {
    public var environment: [String: String]
    /// The region STS calls go to (the destination's).
    public var region: String
    public var httpClient: HTTPClient
    /// Where a profile's source credentials count their refreshes (the server's `/metrics`).
    public var metricsFactory: any MetricsFactory

    public init(environment: [String: String], region: String, httpClient: HTTPClient, metricsFactory: any MetricsFactory) {
        self.environment = environment
        self.region = region
        self.httpClient = httpClient
        self.metricsFactory = metricsFactory
    }

    /// Nothing in the chain gave credentials: what each step said.
    public struct NothingFound: Error, Sendable, CustomStringConvertible {
        public var tried: [String]
        public var description: String { "no AWS credentials found; tried " + tried.joined(separator: "; ") }
    }

    /// A step that is configured but cannot work (a profile naming a missing source, a
    /// container URI on a host the SDKs refuse): an error, never a fallback to other credentials.
    public struct Misconfigured: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public enum Outcome: Sendable {
        case found(any CredentialProvider)
        case nothing(NothingFound)
        case misconfigured(Misconfigured)
    }

    public func resolve(explicit: AWSCredentials?) async -> Outcome {
        var tried: [String] = []
        if let explicit {
            return .found(StaticCredentialProvider(explicit, description: "its configuration (accessKeyID)", kind: "configuration"))
        }
        tried.append("its configuration (no accessKeyID and accessKey)")

        if let id = value("AWS_ACCESS_KEY_ID"), let secret = value("AWS_SECRET_ACCESS_KEY") {
            return .found(
                StaticCredentialProvider(
                    AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: value("AWS_SESSION_TOKEN")),
                    description: "the environment (AWS_ACCESS_KEY_ID)",
                    kind: "environment"
                )
            )
        }
        tried.append("the environment (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY not set)")

        if let tokenFile = value("AWS_WEB_IDENTITY_TOKEN_FILE") {
            guard let role = value("AWS_ROLE_ARN") else {
                return .misconfigured(.init(description: "AWS_WEB_IDENTITY_TOKEN_FILE is set without AWS_ROLE_ARN"))
            }
            guard let sts else { return .misconfigured(.init(description: "the STS endpoint is not an http(s) URL")) }
            return .found(
                WebIdentityProvider(
                    tokenFile: tokenFile,
                    roleArn: role,
                    sessionName: value("AWS_ROLE_SESSION_NAME") ?? Self.sessionName(),
                    durationSeconds: nil,
                    sts: sts
                )
            )
        }
        tried.append("web identity (AWS_WEB_IDENTITY_TOKEN_FILE not set)")

        let profiles = SharedProfiles(environment: environment)
        do {
            if let provider = try profiles.provider(profile: profiles.selected, chain: self) { return .found(provider) }
            tried.append(profiles.absence)
        } catch {
            return .misconfigured(error)
        }

        if let relative = value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
            return .found(
                ContainerCredentialProvider(url: "http://169.254.170.2" + relative, token: nil, tokenFile: nil, httpClient: httpClient)
            )
        }
        if let full = value("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
            guard ContainerCredentialProvider.isAllowed(full) else {
                return .misconfigured(
                    .init(
                        description:
                            "AWS_CONTAINER_CREDENTIALS_FULL_URI \(full) is plain http to a host other than this machine or the container agent (169.254.170.2, 169.254.170.23, fd00:ec2::23); use https"
                    )
                )
            }
            return .found(
                ContainerCredentialProvider(
                    url: full,
                    token: value("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                    tokenFile: value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                    httpClient: httpClient
                )
            )
        }
        tried.append("container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and _FULL_URI not set)")

        if value("AWS_EC2_METADATA_DISABLED")?.lowercased() == "true" {
            tried.append("instance metadata (AWS_EC2_METADATA_DISABLED=true)")
        } else {
            let imds = instanceMetadata
            do {
                _ = try await imds.fetch()
                return .found(imds)
            } catch {
                tried.append("\(imds.description): \(error.message)")
            }
        }
        return .nothing(NothingFound(tried: tried))
    }

    var sts: STSClient? { STSClient(region: region, environment: environment, httpClient: httpClient) }

    var instanceMetadata: InstanceMetadataProvider {
        InstanceMetadataProvider(endpoint: value("AWS_EC2_METADATA_SERVICE_ENDPOINT") ?? "http://169.254.169.254", httpClient: httpClient)
    }

    func value(_ name: String) -> String? {
        guard let s = environment[name], !s.isEmpty else { return nil }
        return s
    }

    /// A session name the SDKs would make up: unique enough to tell sessions apart in CloudTrail.
    static func sessionName() -> String {
        "switchyard-\(Timestamp.now().millisecondsSinceEpoch)"
    }
}

/// `~/.aws/config` and `~/.aws/credentials` (moved by `AWS_CONFIG_FILE` and
/// `AWS_SHARED_CREDENTIALS_FILE`), read as the SDKs read them: a profile's keys from both files,
/// the credentials file's winning.
struct SharedProfiles {
    let configFile: String
    let credentialsFile: String
    let config: [String: [String: String]]
    let credentials: [String: [String: String]]
    let selected: String

    init(environment: [String: String]) {
        func value(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let home = value("HOME") ?? "~"
        configFile = value("AWS_CONFIG_FILE") ?? "\(home)/.aws/config"
        credentialsFile = value("AWS_SHARED_CREDENTIALS_FILE") ?? "\(home)/.aws/credentials"
        selected = value("AWS_PROFILE") ?? value("AWS_DEFAULT_PROFILE") ?? "default"
        config = readSmallFile(configFile).map { Self.sections($0, config: true) } ?? [:]
        credentials = readSmallFile(credentialsFile).map { Self.sections($0, config: false) } ?? [:]
    }

    var absence: String { "profile \"\(selected)\" (not in \(credentialsFile) or \(configFile), or without credentials)" }

    func keys(_ profile: String) -> [String: String]? {
        let fromConfig = config[profile]
        let fromCredentials = credentials[profile]
        guard fromConfig != nil || fromCredentials != nil else { return nil }
        return (fromConfig ?? [:]).merging(fromCredentials ?? [:]) { $1 }
    }

    /// The provider a profile describes, in the SDKs' precedence: `role_arn` (with its source),
    /// `web_identity_token_file`, `credential_process`, static keys. Nil when the profile is
    /// missing or has none of them.
    func provider(
        profile name: String,
        chain: CredentialChain,
        visited: Set<String> = []
    ) throws(CredentialChain.Misconfigured) -> (any CredentialProvider)? {
        guard let keys = keys(name) else {
            if visited.isEmpty { return nil }
            throw .init(description: "profile \"\(name)\", a source_profile, is not in \(credentialsFile) or \(configFile)")
        }
        func sts() throws(CredentialChain.Misconfigured) -> STSClient {
            guard let sts = chain.sts else { throw .init(description: "the STS endpoint is not an http(s) URL") }
            return sts
        }
        let duration = keys["duration_seconds"].flatMap(Int.init)
        if let role = keys["role_arn"] {
            let session = keys["role_session_name"] ?? CredentialChain.sessionName()
            if let tokenFile = keys["web_identity_token_file"], keys["source_profile"] == nil, keys["credential_source"] == nil {
                return WebIdentityProvider(
                    tokenFile: tokenFile,
                    roleArn: role,
                    sessionName: session,
                    durationSeconds: duration,
                    sts: try sts()
                )
            }
            let source: any CredentialProvider
            if let sourceName = keys["source_profile"] {
                if sourceName == name, let statics = staticKeys(keys, profile: name) {
                    source = statics
                } else {
                    guard !visited.contains(sourceName), sourceName != name else {
                        throw .init(description: "profile \"\(name)\": source_profile makes a loop back to \"\(sourceName)\"")
                    }
                    guard let found = try provider(profile: sourceName, chain: chain, visited: visited.union([name])) else {
                        throw .init(description: "profile \"\(name)\": its source_profile \"\(sourceName)\" has no credentials")
                    }
                    source = found
                }
            } else if let credentialSource = keys["credential_source"] {
                switch credentialSource {
                case "Environment":
                    guard let id = chain.value("AWS_ACCESS_KEY_ID"), let secret = chain.value("AWS_SECRET_ACCESS_KEY") else {
                        throw .init(
                            description:
                                "profile \"\(name)\": credential_source Environment, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set"
                        )
                    }
                    source = StaticCredentialProvider(
                        AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: chain.value("AWS_SESSION_TOKEN")),
                        description: "the environment (AWS_ACCESS_KEY_ID)",
                        kind: "environment"
                    )
                case "Ec2InstanceMetadata":
                    source = chain.instanceMetadata
                case "EcsContainer":
                    if let relative = chain.value("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
                        source = ContainerCredentialProvider(
                            url: "http://169.254.170.2" + relative,
                            token: nil,
                            tokenFile: nil,
                            httpClient: chain.httpClient
                        )
                    } else if let full = chain.value("AWS_CONTAINER_CREDENTIALS_FULL_URI"), ContainerCredentialProvider.isAllowed(full) {
                        source = ContainerCredentialProvider(
                            url: full,
                            token: chain.value("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
                            tokenFile: chain.value("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"),
                            httpClient: chain.httpClient
                        )
                    } else {
                        throw .init(
                            description:
                                "profile \"\(name)\": credential_source EcsContainer, but no usable AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI"
                        )
                    }
                default:
                    throw .init(
                        description:
                            "profile \"\(name)\": credential_source \"\(credentialSource)\" is not Environment, Ec2InstanceMetadata or EcsContainer"
                    )
                }
            } else {
                throw .init(description: "profile \"\(name)\": role_arn needs source_profile, credential_source or web_identity_token_file")
            }
            return AssumeRoleProvider(
                source: RefreshingCredentials(
                    provider: source,
                    destination: "profile \(name)",
                    logger: .init(label: "switchyard.credentials"),
                    metricsFactory: chain.metricsFactory
                ),
                roleArn: role,
                sessionName: session,
                externalId: keys["external_id"],
                durationSeconds: duration,
                sts: try sts()
            )
        }
        if keys["web_identity_token_file"] != nil {
            throw .init(description: "profile \"\(name)\": web_identity_token_file needs role_arn")
        }
        if let command = keys["credential_process"] {
            return ProcessCredentialProvider(command: command, profile: name)
        }
        return staticKeys(keys, profile: name)
    }

    func staticKeys(_ keys: [String: String], profile: String) -> StaticCredentialProvider? {
        guard let id = keys["aws_access_key_id"], let secret = keys["aws_secret_access_key"] else { return nil }
        return StaticCredentialProvider(
            AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: keys["aws_session_token"]),
            description: "profile \(profile)",
            kind: "profile"
        )
    }

    /// INI sections and their keys (lower-cased names; empty values dropped). In the config file a
    /// profile's section is `[profile name]`, except `[default]`.
    static func sections(_ text: String, config: Bool) -> [String: [String: String]] {
        var out: [String: [String: String]] = [:]
        var current: String?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                var name = String(line.dropFirst().dropLast()).trimmingCharacters()
                if config, name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters() }
                current = name
                if out[name] == nil { out[name] = [:] }
                continue
            }
            guard let section = current, let eq = line.firstIndex(of: "=") else { continue }
            let value = line[line.index(after: eq)...].trimmingCharacters()
            if !value.isEmpty { out[section]![line[..<eq].trimmingCharacters().lowercased()] = value }
        }
        return out
    }
}

/// Where to send requests for a service, as the AWS SDKs decide it: an explicit endpoint, then
/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the public regional endpoint.
public enum EndpointResolver {
    /// An endpoint the user chose (the setting, then `AWS_ENDPOINT_URL_<SERVICE>`, then
    /// `AWS_ENDPOINT_URL`), as the AWS SDKs look for one; nil means AWS's own.
    public static func custom(explicit: String?, serviceEnvName: String, environment: [String: String]) -> String? {
        if let explicit, !explicit.isEmpty { return explicit }
        if let url = environment["AWS_ENDPOINT_URL_\(serviceEnvName)"], !url.isEmpty { return url }
        if let url = environment["AWS_ENDPOINT_URL"], !url.isEmpty { return url }
        return nil
    }

    public static func endpoint(
        explicit: String?,
        serviceEnvName: String,
        hostPrefix: String,
        region: String,
        environment: [String: String]
    ) -> String {
        if let custom = custom(explicit: explicit, serviceEnvName: serviceEnvName, environment: environment) { return custom }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return "https://\(hostPrefix).\(region).\(suffix)"
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
