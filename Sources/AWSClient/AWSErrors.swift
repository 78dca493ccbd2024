import Logging
import Metrics
import NIOConcurrencyHelpers
import SwitchyardCore

/// How a refused call, or one refused entry of it, is handled.
public enum AWSFailureKind: Sendable, Hashable {
    /// Transient (throttling, a 5xx, an expired signature after a clock step): try again later.
    case retry
    /// Final for what the request carried (validation): dead-letter it.
    case reject
    /// Final, and every later request will fail the same way until someone fixes the
    /// configuration (credentials, permissions, a missing stream, a KMS key): dead-letter it and
    /// raise the alarm.
    case misconfigured
}

/// Which AWS error codes are worth retrying and which mean the configuration is wrong. The
/// shared table holds what every JSON-protocol service answers; a service adds its own.
public struct AWSErrorCodes: Sendable {
    public var retryable: Set<String>
    public var misconfigured: Set<String>

    public static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504, 509]

    public static let common = AWSErrorCodes(
        retryable: [
            "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
            "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException", "RequestExpired",
            "RequestTimeout", "RequestTimeoutException", "InternalFailure", "InternalException", "ServiceUnavailable",
        ],
        misconfigured: authentication
    )

    /// Codes that say the credentials or their permissions are wrong.
    public static let authentication: Set<String> = [
        "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId",
        "AccessDeniedException", "AccessDenied", "ExpiredTokenException", "ExpiredToken", "IncompleteSignature",
        "MissingAuthenticationToken", "NotAuthorized",
    ]

    public init(retryable: Set<String>, misconfigured: Set<String>) {
        self.retryable = retryable
        self.misconfigured = misconfigured
    }

    public func adding(retryable more: Set<String> = [], misconfigured worse: Set<String> = []) -> AWSErrorCodes {
        AWSErrorCodes(retryable: retryable.union(more), misconfigured: misconfigured.union(worse))
    }

    /// A whole request refused with this status and code.
    public func classify(status: Int, code: String?) -> AWSFailureKind {
        let code = code ?? ""
        if Self.retryableStatuses.contains(status) || retryable.contains(code) { return .retry }
        if status == 401 || status == 403 || misconfigured.contains(code) { return .misconfigured }
        return .reject
    }
}

/// The loud signal for failures that every event will hit until someone fixes the configuration:
/// a critical log line (at most once per 10 s per destination, so it cannot flood the log) and
/// `switchyard_destination_auth_failures_total`.
public final class MisconfigurationAlarm: Sendable {
    let destination: String
    let service: String
    let logger: Logger
    let counter: Counter
    private let lastLogged = NIOLockedValueBox<Int64>(0)
    static let interval: Int64 = 10_000

    public init(destination: String, service: String, logger: Logger, metricsFactory: any MetricsFactory) {
        self.destination = destination
        self.service = service
        self.logger = logger
        counter = Counter(
            label: "switchyard_destination_auth_failures_total",
            dimensions: [("destination", destination)],
            factory: metricsFactory
        )
    }

    public func raise(code: String, status: Int, accessKeyID: String) {
        counter.increment()
        let now = Timestamp.now().millisecondsSinceEpoch
        let due = lastLogged.withLockedValue { last in
            guard now - last >= Self.interval else { return false }
            last = now
            return true
        }
        guard due else { return }
        let what =
            status == 401 || status == 403 || AWSErrorCodes.authentication.contains(code)
            ? "\(service) refused our credentials: every event to this destination will be dead-lettered until they are fixed"
            : "\(service) refused the request with \(code): every event to this destination will be dead-lettered until the configuration is fixed"
        logger.critical(
            "\(what)",
            metadata: [
                "destination": "\(destination)", "code": "\(code)", "status": "\(status)", "accessKeyID": "\(accessKeyID)",
            ]
        )
    }
}
