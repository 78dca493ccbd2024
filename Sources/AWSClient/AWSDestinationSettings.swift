import AWSSigV4
import SwitchyardCore

/// The settings every AWS destination shares (RudderStack's key names), checked and resolved the
/// same way for each: a new AWS destination declares its own keys and conforms.
public protocol AWSDestinationSettings {
    var region: String? { get }
    var accessKeyID: String? { get }
    var accessKey: Secret? { get }
    var sessionToken: Secret? { get }
    /// A custom URL instead of the service's regional endpoint.
    var endpoint: String? { get }
}

/// Where and as whom a destination calls its service.
public struct AWSAccess: Sendable {
    public var region: String
    public var credentials: AWSCredentials
    /// Where the credentials came from, for the start-up log (never the values).
    public var credentialsOrigin: String
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
}

extension AWSDestinationSettings {
    /// Problems with the shared keys, each at its key.
    public func accessProblems(environment: [String: String]) -> [SettingsProblem] {
        var problems: [SettingsProblem] = []
        if let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] {
            if !AWSRegion.isValid(region) {
                problems.append(.init(path: ["region"], message: "\"\(region)\" is not an AWS region name (like us-east-1)"))
            }
        } else {
            problems.append(.init(path: ["region"], message: "region is required (or set AWS_REGION)"))
        }
        if (accessKeyID == nil) != (accessKey == nil) {
            problems.append(.init(path: [accessKeyID == nil ? "accessKey" : "accessKeyID"], message: "accessKeyID and accessKey go together: set both or neither"))
        }
        if sessionToken != nil, accessKeyID == nil {
            problems.append(.init(path: ["sessionToken"], message: "sessionToken needs accessKeyID and accessKey"))
        }
        if let endpoint, !AWSEndpoint.isValid(endpoint) {
            problems.append(.init(path: ["endpoint"], message: "endpoint \"\(endpoint)\" must be an http:// or https:// URL with a host"))
        }
        return problems
    }

    /// The region, the credentials (the destination's keys, else the AWS SDKs' chain) and the
    /// endpoint; throws, naming what is missing, when the destination cannot work at all.
    public func resolveAccess(for service: AWSService, destination: String, environment: [String: String]) throws(DestinationSetupError) -> AWSAccess {
        guard let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] else {
            throw DestinationSetupError(destination: destination, message: "no AWS region: set region in its config or AWS_REGION")
        }
        let explicit = accessKeyID.flatMap { id in
            accessKey.map { AWSCredentials(accessKeyID: id, secretAccessKey: $0.reveal(), sessionToken: sessionToken?.reveal()) }
        }
        guard let resolved = CredentialChain(environment: environment).resolve(explicit: explicit) else {
            throw DestinationSetupError(destination: destination, message: """
                no AWS credentials found: set accessKeyID and accessKey in its config (e.g. from ${ENV} variables), \
                or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials (AWS_PROFILE)
                """)
        }
        let url = EndpointResolver.endpoint(explicit: endpoint, serviceEnvName: service.environmentName, hostPrefix: service.hostPrefix, region: region, environment: environment)
        guard let parsed = AWSEndpoint(url) else {
            throw DestinationSetupError(destination: destination, message: "endpoint \"\(url)\" is not an http(s) URL")
        }
        return AWSAccess(region: region, credentials: resolved.credentials, credentialsOrigin: resolved.origin, endpoint: parsed)
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

extension AWSEndpoint {
    /// An http(s) URL with a host, no spaces, and a port (if any) that a socket can have.
    public static func isValid(_ s: String) -> Bool {
        guard !s.contains(" "), AWSEndpoint(s) != nil else { return false }
        let host = s.drop { $0 != "/" }.dropFirst(2).prefix { $0 != "/" && $0 != ":" }
        return !host.isEmpty
    }
}
