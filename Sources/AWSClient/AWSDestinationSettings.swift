import AWSCredentialProviders
import AWSSigV4
import AsyncHTTPClient
import SwitchyardCore

/// An AWS destination's settings: it declares its own keys and conforms.
public protocol AWSDestinationSettings {
    var access: AWSAccessSettings { get }
}

/// Where and as whom a destination calls its service.
public struct AWSAccess: Sendable {
    public var region: String
    /// Its credentials, cached and refreshed; `CredentialRefresher` keeps them fresh.
    public var credentials: RefreshingCredentials
    public var endpoint: AWSEndpoint
}

/// How one service is named: for signing, in `AWS_ENDPOINT_URL_<NAME>`, and in its endpoint host.
public struct AWSService: Sendable {
    public var signingName: String
    public var environmentName: String
    public var hostPrefix: String

    public init(signingName: String, environmentName: String, hostPrefix: String) {
        self.signingName = signingName
        self.environmentName = environmentName
        self.hostPrefix = hostPrefix
    }

    public static let eventBridge = AWSService(signingName: "events", environmentName: "EVENTBRIDGE", hostPrefix: "events")
    public static let kinesis = AWSService(signingName: "kinesis", environmentName: "KINESIS", hostPrefix: "kinesis")
    public static let s3 = AWSService(signingName: "s3", environmentName: "S3", hostPrefix: "s3")
}

extension AWSDestinationSettings {
    /// Problems with the shared keys, each at its key.
    public func accessProblems(environment: [String: String]) -> [SettingsProblem] {
        var problems: [SettingsProblem] = []
        if let region = access.region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] {
            if !AWSRegion.isValid(region) {
                problems.append(.init(path: ["region"], message: "\"\(region)\" is not an AWS region name (like us-east-1)"))
            }
        } else {
            problems.append(.init(path: ["region"], message: "region is required (or set AWS_REGION)"))
        }
        if (access.accessKeyID == nil) != (access.accessKey == nil) {
            problems.append(
                .init(
                    path: [access.accessKeyID == nil ? "accessKey" : "accessKeyID"],
                    message: "accessKeyID and accessKey go together: set both or neither"
                )
            )
        }
        if access.sessionToken != nil, access.accessKeyID == nil {
            problems.append(.init(path: ["sessionToken"], message: "sessionToken needs accessKeyID and accessKey"))
        }
        if let endpoint = access.endpoint, !AWSEndpoint.isValid(endpoint) {
            problems.append(.init(path: ["endpoint"], message: "endpoint \"\(endpoint)\" must be an http:// or https:// URL with a host"))
        }
        if let role = access.credentials {
            if !AWSRoleARN.isValid(role.roleArn) {
                problems.append(
                    .init(
                        path: ["credentials", "roleArn"],
                        message: "credentials.roleArn \"\(role.roleArn)\" is not a role ARN like arn:aws:iam::123456789012:role/publisher"
                    )
                )
            }
            if let duration = role.durationSeconds, !(900...43_200).contains(duration) {
                problems.append(
                    .init(
                        path: ["credentials", "durationSeconds"],
                        message: "credentials.durationSeconds must be between 900 and 43200 (STS's range)"
                    )
                )
            }
            if let name = role.sessionName,
                !(2...64).contains(name.count) || !name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+=,.@_-".contains($0)) })
            {
                problems.append(
                    .init(
                        path: ["credentials", "sessionName"],
                        message: "credentials.sessionName must be 2 to 64 letters, digits or +=,.@_-"
                    )
                )
            }
        }
        return problems
    }

    /// The region, the credentials (the destination's keys, else the AWS SDKs' chain; then its
    /// role, if it names one) and the endpoint. Throws, naming every step of the chain it tried,
    /// when the destination cannot get credentials at all. Fetches them once, so the start-up log
    /// says whether they work; a failure there is logged and retried, not fatal.
    public func resolveAccess(for service: AWSService, context: DestinationContext) async throws(DestinationSetupError) -> AWSAccess {
        let environment = context.environment
        guard let region = access.region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] else {
            throw DestinationSetupError(destination: context.name, message: "no AWS region: set region in its config or AWS_REGION")
        }
        let url = EndpointResolver.endpoint(
            explicit: access.endpoint,
            serviceEnvName: service.environmentName,
            hostPrefix: service.hostPrefix,
            region: region,
            environment: environment
        )
        guard let endpoint = AWSEndpoint(url) else {
            throw DestinationSetupError(destination: context.name, message: "endpoint \"\(url)\" is not an http(s) URL")
        }
        let credentials = try await resolveCredentials(region: region, context: context)
        do {
            _ = try await credentials.current()
        } catch {
            context.logger.warning(
                "AWS credentials are not available yet; sends wait and retry until they are",
                metadata: [
                    "destination": "\(context.name)", "provider": "\(credentials.provider.description)", "error": "\(error.message)",
                ]
            )
        }
        return AWSAccess(region: region, credentials: credentials, endpoint: endpoint)
    }

    /// The provider the chain picks for this destination (and its role), without fetching
    /// anything beyond the instance-metadata probe: what `validate --print` shows.
    public func describeCredentials(context: DestinationContext) async -> [(String, String)] {
        let region = access.region ?? context.environment["AWS_REGION"] ?? context.environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        do {
            return [("credentials", try await resolveCredentials(region: region, context: context).provider.description)]
        } catch {
            return [("credentials", error.message)]
        }
    }

    func resolveCredentials(region: String, context: DestinationContext) async throws(DestinationSetupError) -> RefreshingCredentials {
        let explicit = access.accessKeyID.flatMap { id in
            access.accessKey.map {
                AWSCredentials(accessKeyID: id, secretAccessKey: $0.reveal(), sessionToken: access.sessionToken?.reveal())
            }
        }
        let chain = CredentialChain(
            environment: context.environment,
            region: region,
            httpClient: context.httpClient,
            metricsFactory: context.metricsFactory
        )
        let provider: any CredentialProvider
        switch await chain.resolve(explicit: explicit) {
        case .found(let found): provider = found
        case .nothing(let nothing): throw DestinationSetupError(destination: context.name, message: nothing.description)
        case .misconfigured(let problem): throw DestinationSetupError(destination: context.name, message: "AWS credentials: \(problem)")
        }
        let base = RefreshingCredentials(
            provider: provider,
            destination: context.name,
            logger: context.logger,
            metricsFactory: context.metricsFactory
        )
        guard let role = access.credentials else { return base }
        guard let sts = STSClient(region: region, environment: context.environment, httpClient: context.httpClient) else {
            throw DestinationSetupError(destination: context.name, message: "the STS endpoint is not an http(s) URL")
        }
        let assume = AssumeRoleProvider(
            source: base,
            roleArn: role.roleArn,
            sessionName: role.sessionName ?? "switchyard-\(context.name)",
            externalId: role.externalId,
            durationSeconds: role.durationSeconds,
            sts: sts
        )
        return RefreshingCredentials(
            provider: assume,
            destination: context.name,
            logger: context.logger,
            metricsFactory: context.metricsFactory
        )
    }
}

public enum AWSRegion {
    /// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`, `cn-north-1`: lowercase words and a number.
    public static func isValid(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, let last = parts.last, last.allSatisfy(\.isNumber) else { return false }
        return parts.dropLast().allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isLowercase } }
    }
}

enum AWSRoleARN {
    /// `arn:<partition>:iam::<account>:role/<path/name>`.
    static func isValid(_ s: String) -> Bool {
        let parts = s.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && parts[1].hasPrefix("aws") && parts[2] == "iam" && parts[3].isEmpty
            && parts[4].count == 12 && parts[4].allSatisfy(\.isNumber) && parts[5].hasPrefix("role/") && parts[5].count > 5
    }
}

extension AWSEndpoint {
    /// An http(s) URL with a host, no spaces, and a port (if any) that a socket can have.
    public static func isValid(_ s: String) -> Bool {
        guard !s.contains(" "), AWSEndpoint(s) != nil else { return false }
        let host = s.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != ":" }
        return !host.isEmpty
    }
}
