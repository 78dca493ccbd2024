import AWSSigV4
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SwitchyardCore

/// Credentials and when they stop working.
public struct TemporaryCredentials: Sendable, Hashable {
    public var credentials: AWSCredentials
    /// Nil: they do not expire (keys from the configuration, the environment, a profile).
    public var expiration: Timestamp?
    /// When they were obtained: short-lived credentials are refreshed proportionally sooner.
    public var obtained: Timestamp

    public init(_ credentials: AWSCredentials, expiration: Timestamp? = nil, obtained: Timestamp = .now()) {
        self.credentials = credentials
        self.expiration = expiration
        self.obtained = obtained
    }

    var lifetime: Int64? { expiration.map { max(0, $0.millisecondsSinceEpoch - obtained.millisecondsSinceEpoch) } }

    /// When to fetch new ones: the AWS SDKs' 5 minutes before expiry, or a quarter of the
    /// lifetime ahead when they live less than 20 minutes.
    public var refreshAt: Timestamp? {
        guard let expiration, let lifetime else { return nil }
        return Timestamp(millisecondsSinceEpoch: expiration.millisecondsSinceEpoch - min(300_000, lifetime / 4))
    }

    /// From when they are not used to sign anything: a minute before expiry (the SDKs' "stale"
    /// time), or a twelfth of the lifetime for short-lived ones, so a request signed just before
    /// cannot arrive after.
    public var unusableAt: Timestamp? {
        guard let expiration, let lifetime else { return nil }
        return Timestamp(millisecondsSinceEpoch: expiration.millisecondsSinceEpoch - min(60_000, lifetime / 12))
    }

    public func usable(at now: Timestamp) -> Bool {
        guard let unusableAt else { return true }
        return now < unusableAt
    }
}

/// Where credentials come from: one step of the chain (the environment, web identity, a
/// container's endpoint, …) or a role assumed with another source's credentials.
public protocol CredentialProvider: Sendable {
    /// What the log and `validate --print` name: the provider, never a value.
    var description: String { get }
    /// A label for metrics: `environment`, `web-identity`, `assume-role`, …
    var kind: String { get }
    func fetch() async throws(CredentialError) -> TemporaryCredentials
}

/// Why a provider gave no credentials, in words an operator can act on.
public struct CredentialError: Error, Sendable, Hashable, CustomStringConvertible {
    public var provider: String
    public var message: String

    public init(provider: String, message: String) {
        self.provider = provider
        self.message = message
    }

    public var description: String { "\(provider): \(message)" }
}

/// The cache's state machine, kept apart from locks and tasks so every transition can be tested
/// without sleeping. `Waiter` is whatever a caller waits with (a continuation in the server).
struct CredentialCache<Waiter: Sendable>: Sendable {
    enum State {
        case idle
        /// One fetch runs; these callers wait for it (they had no usable credentials).
        case fetching(waiters: [Waiter])
    }

    private(set) var state = State.idle
    private(set) var cached: TemporaryCredentials?
    private(set) var lastFailure: (error: CredentialError, at: Timestamp, consecutive: Int)?

    enum GetAction {
        case use(AWSCredentials)
        /// No usable credentials and no fetch running: the caller fetches, then calls `fetched`.
        case fetch
        /// A fetch runs; the waiter was kept and is handed back by `fetched`.
        case wait
    }

    /// What a caller that needs credentials now does.
    mutating func get(now: Timestamp, waiter: Waiter) -> GetAction {
        if let cached, cached.usable(at: now) { return .use(cached.credentials) }
        switch state {
        case .idle:
            state = .fetching(waiters: [])
            return .fetch
        case .fetching(var waiters):
            waiters.append(waiter)
            state = .fetching(waiters: waiters)
            return .wait
        }
    }

    /// Whether the background refresh should fetch now: the credentials are due (or missing, or
    /// the last fetch failed and its retry is due) and no fetch runs.
    mutating func startRefresh(now: Timestamp) -> Bool {
        guard case .idle = state, let due = nextRefresh(), now >= due else { return false }
        state = .fetching(waiters: [])
        return true
    }

    /// When the background refresh should next try: when the credentials are due, or after a
    /// failure, after a backoff (1 s doubling to 30 s); nil for credentials that never expire.
    func nextRefresh() -> Timestamp? {
        if let failure = lastFailure {
            let wait = min(30_000, 1000 << min(failure.consecutive - 1, 5))
            return Timestamp(millisecondsSinceEpoch: failure.at.millisecondsSinceEpoch + Int64(wait))
        }
        guard let cached else { return Timestamp(millisecondsSinceEpoch: 0) }
        return cached.refreshAt
    }

    /// A fetch finished: keep what it brought, or the old credentials while they last. Returns
    /// the waiters and what to hand them.
    mutating func fetched(
        _ result: Result<TemporaryCredentials, CredentialError>,
        now: Timestamp
    ) -> (waiters: [Waiter], result: Result<AWSCredentials, CredentialError>) {
        var waiters: [Waiter] = []
        if case .fetching(let waiting) = state { waiters = waiting }
        state = .idle
        switch result {
        case .success(let fresh):
            cached = fresh
            lastFailure = nil
            return (waiters, .success(fresh.credentials))
        case .failure(let error):
            lastFailure = (error, now, (lastFailure?.consecutive ?? 0) + 1)
            if let cached, cached.usable(at: now) { return (waiters, .success(cached.credentials)) }
            return (waiters, .failure(error))
        }
    }
}

/// A provider's credentials, cached: fetched once however many sends ask at the same moment,
/// never handed out once they are about to expire, refreshed ahead of expiry by
/// `CredentialRefresher`, and kept in use while a refresh fails and they are still good.
public final class RefreshingCredentials: Sendable {
    public let provider: any CredentialProvider
    let destination: String
    let logger: Logger
    private let cache = NIOLockedValueBox(CredentialCache<CheckedContinuation<Got, Never>>())
    let refreshes: Counter
    let failures: Counter

    enum Got: Sendable {
        case credentials(AWSCredentials)
        case failure(CredentialError)
        case fetch
    }

    /// - Parameter metricsFactory: where refreshes and failed refreshes are counted (the server's).
    public init(provider: any CredentialProvider, destination: String, logger: Logger, metricsFactory: any MetricsFactory) {
        self.provider = provider
        self.destination = destination
        self.logger = logger
        let dimensions = [("destination", destination), ("provider", provider.kind)]
        refreshes = Counter(label: "switchyard_credential_refreshes_total", dimensions: dimensions, factory: metricsFactory)
        failures = Counter(label: "switchyard_credential_refresh_failures_total", dimensions: dimensions, factory: metricsFactory)
    }

    /// Credentials good to sign with now; waits for a fetch when there are none.
    public func current() async throws(CredentialError) -> AWSCredentials {
        let got: Got = await withCheckedContinuation { continuation in
            let action = cache.withLockedValue { $0.get(now: .now(), waiter: continuation) }
            switch action {
            case .use(let credentials): continuation.resume(returning: .credentials(credentials))
            case .fetch: continuation.resume(returning: .fetch)
            case .wait: break
            }
        }
        switch got {
        case .credentials(let credentials): return credentials
        case .failure(let error): throw error
        case .fetch: return try await fetchAndSettle().get()
        }
    }

    /// Which provider, when the credentials in hand expire and when they are refreshed, and the
    /// last fetch's failure while it lasts: what the console shows, never a key.
    public var status: CredentialStatus {
        cache.withLockedValue { c in
            CredentialStatus(
                provider: provider.description,
                expiresAt: c.cached?.expiration,
                refreshesAt: c.cached?.refreshAt,
                failure: c.lastFailure.map { $0.error.message }
            )
        }
    }

    /// The background refresh: fetches when due and no fetch runs. Returns when to look again.
    @discardableResult
    public func refreshIfDue() async -> Timestamp? {
        if cache.withLockedValue({ $0.startRefresh(now: .now()) }) {
            _ = await fetchAndSettle()
        }
        return cache.withLockedValue { $0.nextRefresh() }
    }

    private func fetchAndSettle() async -> Result<AWSCredentials, CredentialError> {
        let result: Result<TemporaryCredentials, CredentialError>
        do {
            result = .success(try await provider.fetch())
            refreshes.increment()
        } catch {
            result = .failure(error)
            failures.increment()
        }
        let (waiters, outcome) = cache.withLockedValue { $0.fetched(result, now: .now()) }
        if case .failure(let error) = result {
            let still = cache.withLockedValue { $0.cached.map { $0.usable(at: .now()) } ?? false }
            logger.error(
                still
                    ? "cannot refresh AWS credentials; the current ones stay in use while they last"
                    : "no AWS credentials to sign with: sends are retried until the provider answers again",
                metadata: [
                    "destination": "\(destination)", "provider": "\(provider.description)", "error": "\(error.message)",
                ]
            )
        }
        for waiter in waiters {
            switch outcome {
            case .success(let credentials): waiter.resume(returning: .credentials(credentials))
            case .failure(let error): waiter.resume(returning: .failure(error))
            }
        }
        return outcome
    }
}

/// Refreshes every destination's temporary credentials ahead of their expiry, in the server's
/// `ServiceGroup`, so sends rarely wait for a fetch.
public struct CredentialRefresher: Service {
    public let sources: [RefreshingCredentials]
    /// The longest it sleeps, so a clock step or a source's first fetch is not missed for long.
    var maximumSleep: Int64 = 30_000

    public init(sources: [RefreshingCredentials]) {
        self.sources = sources
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var next = Timestamp.now().millisecondsSinceEpoch + maximumSleep
            for source in sources {
                if let due = await source.refreshIfDue() { next = min(next, due.millisecondsSinceEpoch) }
            }
            let wait = max(50, next - Timestamp.now().millisecondsSinceEpoch)
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: .milliseconds(wait)) }
        }
    }
}
