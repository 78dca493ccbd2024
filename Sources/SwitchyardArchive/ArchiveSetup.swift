import AWSClient
import AWSCredentialProviders
import AsyncHTTPClient
import Logging
import Metrics
import SwitchyardCore

/// The bucket `archive:` names, ready to write to.
public enum ArchiveSetup {
    /// The directory, or the S3 bucket with its region, endpoint and credentials resolved as an
    /// AWS destination's are (its keys, else the AWS SDKs' chain, then its role). Throws a message
    /// for the start-up when the bucket cannot be reached at all (no region, no credentials).
    public static func bucket(
        for config: ArchiveConfig,
        httpClient: HTTPClient,
        environment: [String: String],
        logger: Logger,
        metricsFactory: any MetricsFactory
    ) async throws(ArchiveSetupError) -> any ArchiveBucket {
        if let path = config.path { return LocalArchiveBucket(path: path) }
        guard let s3 = config.s3 else { throw ArchiveSetupError(message: "set archive.path or archive.s3") }
        let settings = S3Access(access: s3.access)
        if let problem = settings.accessProblems(environment: environment).first {
            throw ArchiveSetupError(message: "archive.s3.\(problem.path.joined(separator: ".")): \(problem.message)")
        }
        let context = DestinationContext(
            name: "archive",
            httpClient: httpClient,
            environment: environment,
            logger: logger,
            metricsFactory: metricsFactory
        )
        let access: AWSAccess
        do {
            access = try await settings.resolveAccess(for: .s3, context: context)
        } catch {
            throw ArchiveSetupError(message: error.message)
        }
        // An endpoint of the user's (moto, MinIO) takes the bucket in the path; AWS's own takes it
        // in the host, unless a dot in its name would break the certificate's wildcard.
        let custom = EndpointResolver.custom(
            explicit: s3.access.endpoint,
            serviceEnvName: AWSService.s3.environmentName,
            environment: environment
        )
        return S3ArchiveBucket(
            bucket: s3.bucket,
            prefix: s3.prefix,
            region: access.region,
            credentials: access.credentials,
            endpoint: access.endpoint,
            pathStyle: custom != nil || s3.bucket.contains("."),
            httpClient: httpClient
        )
    }
}

/// `archive.s3`'s AWS keys, checked and resolved as a destination's are.
struct S3Access: AWSDestinationSettings {
    var access: AWSAccessSettings
}

/// Why the archive cannot start.
public struct ArchiveSetupError: Error, Sendable, CustomStringConvertible {
    public var message: String

    public init(message: String) {
        self.message = message
    }

    public var description: String { "archive: \(message)" }
}
