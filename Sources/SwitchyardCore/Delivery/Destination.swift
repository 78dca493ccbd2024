import AsyncHTTPClient
import Logging
import Metrics
import ServiceLifecycle

/// A configured destination, ready to deliver. The delivery engine (`DeliveryWorker`) owns
/// claiming, batching, retries and dead letters; a destination only turns stored events into its
/// wire entries and sends a batch of them.
public protocol Destination: Sendable {
    /// What one send may carry.
    var batchLimits: BatchLimits { get }

    /// Turns one stored event into the entry this destination sends, or says why it never can be
    /// sent (it is dead-lettered at once, not retried).
    func prepare(_ job: Job) -> Prepared

    /// Sends one batch and reports one outcome per entry, in order. Never throws: a failure of the
    /// whole request is an outcome for every entry.
    func send(_ entries: [PreparedEntry]) async -> SendResult

    /// Where its credentials come from and when they refresh, for the console; nil when it has none.
    var credentialStatus: CredentialStatus? { get }
}

extension Destination {
    public var credentialStatus: CredentialStatus? { nil }
}

/// A destination's credentials as an operator may see them: the provider, never a key.
public struct CredentialStatus: Sendable, Hashable {
    /// Where they come from (`the environment (AWS_ACCESS_KEY_ID)`, `assumed role arn:…`).
    public var provider: String
    public var expiresAt: Timestamp?
    /// When the background refresh fetches new ones.
    public var refreshesAt: Timestamp?
    /// Why the last fetch failed, while no fetch since has worked.
    public var failure: String?

    public init(provider: String, expiresAt: Timestamp? = nil, refreshesAt: Timestamp? = nil, failure: String? = nil) {
        self.provider = provider
        self.expiresAt = expiresAt
        self.refreshesAt = refreshesAt
        self.failure = failure
    }
}

public struct SendResult: Sendable, Hashable {
    public var outcomes: [EntryOutcome]
    /// The destination's id for the request (`x-amzn-RequestId`), for the delivery log.
    public var requestId: String?
    /// Set when the request failed as a whole in a way that says the destination is unavailable
    /// (no connection, a 5xx, the request throttled): the worker then backs off the destination
    /// as a whole instead of trying every queued event once against it.
    public var unavailable: EntryOutcome.Failure?

    public init(outcomes: [EntryOutcome], requestId: String? = nil, unavailable: EntryOutcome.Failure? = nil) {
        self.outcomes = outcomes
        self.requestId = requestId
        self.unavailable = unavailable
    }
}

public struct BatchLimits: Sendable, Hashable {
    public var maxEntries: Int
    /// In the destination's own measure (EventBridge counts only some fields).
    public var maxBytes: Int

    public init(maxEntries: Int, maxBytes: Int) {
        self.maxEntries = maxEntries
        self.maxBytes = maxBytes
    }
}

public enum Prepared: Sendable {
    case entry(PreparedEntry)
    case drop(reason: String)
}

/// One event in the destination's wire form.
public struct PreparedEntry: Sendable {
    public var job: Job
    /// The entry as the destination will put it in a request (for EventBridge, one PutEvents entry's JSON).
    public var body: [UInt8]
    /// The entry as the delivery log shows it.
    public var display: JSONValue?
    /// The entry's size as the destination counts it against `BatchLimits.maxBytes`.
    public var size: Int
    /// `display` as text, when the log should not store the wire form (Kinesis shows `Data`
    /// decoded rather than in base64). Nil: the log stores `body`.
    public var logText: [UInt8]?

    public init(job: Job, body: [UInt8], size: Int, display: JSONValue? = nil, logText: [UInt8]? = nil) {
        self.job = job
        self.body = body
        self.size = size
        self.display = display
        self.logText = logText
    }
}

/// What happened to one entry of a send.
public enum EntryOutcome: Sendable, Hashable {
    /// Accepted; `reference` is the destination's id for it (EventBridge's `EventId`).
    case delivered(reference: String?)
    /// A transient failure (throttling, 5xx, a dropped connection): try again later.
    case retry(Failure)
    /// A failure that will not go away by retrying (validation, authorization): dead-letter it.
    case reject(Failure)

    public struct Failure: Sendable, Hashable, CustomStringConvertible {
        public var code: String
        public var message: String
        public var httpStatus: Int?
        /// A refusal of the destination's credentials or configuration, which every event will
        /// meet until someone fixes it (not a problem with this event).
        public var misconfigured: Bool

        public init(code: String, message: String, httpStatus: Int? = nil, misconfigured: Bool = false) {
            self.code = code
            self.message = message
            self.httpStatus = httpStatus
            self.misconfigured = misconfigured
        }

        public var description: String {
            let status = httpStatus.map { " (HTTP \($0))" } ?? ""
            return message.isEmpty ? "\(code)\(status)" : "\(code)\(status): \(message)"
        }
    }
}

/// What a plugin gets to build its destination: shared HTTP client, environment, logger, the
/// server's metrics factory, and a place for the background work it needs (an AWS destination's
/// credential refresher), which the server runs in its `ServiceGroup`.
public struct DestinationContext: Sendable {
    public var name: String
    public var httpClient: HTTPClient
    public var environment: [String: String]
    public var logger: Logger
    /// Where the destination's own metrics go: the server's, so they show at its `/metrics`.
    public var metricsFactory: any MetricsFactory
    public var addService: @Sendable (any Service) -> Void
    /// The destination's `rules:`, for plugins that support them: each job names one.
    public var rules: [DestinationRule]

    public init(
        name: String,
        httpClient: HTTPClient,
        environment: [String: String],
        logger: Logger,
        metricsFactory: any MetricsFactory,
        rules: [DestinationRule] = [],
        addService: @escaping @Sendable (any Service) -> Void = { _ in }
    ) {
        self.rules = rules
        self.metricsFactory = metricsFactory
        self.name = name
        self.httpClient = httpClient
        self.environment = environment
        self.logger = logger
        self.addService = addService
    }
}

/// Why a destination cannot be built; the server refuses to start with this message.
public struct DestinationSetupError: Error, Sendable, CustomStringConvertible {
    public var destination: String
    public var message: String

    public init(destination: String, message: String) {
        self.destination = destination
        self.message = message
    }

    public var description: String { "destination \"\(destination)\": \(message)" }
}
