import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SwitchyardCore

// What the delivery tests of every target share: destinations that stand in for a real one,
// a fast retry policy, and a worker run until a condition holds.

/// A destination whose answers the test scripts: exercises the engine, not a wire protocol.
public final class ScriptedDestination: Destination, Sendable {
    public let batchLimits: BatchLimits
    private let answer: @Sendable (PreparedEntry, Int) -> EntryOutcome
    /// While true, every send fails as a whole, as when the destination is down.
    private let unavailable: @Sendable () -> Bool
    /// How long each send takes.
    private let delay: Duration
    private let sent = NIOLockedValueBox<[[String]]>([])
    private let refused = NIOLockedValueBox((sends: 0, entries: 0))

    public init(
        limits: BatchLimits = .init(maxEntries: 10, maxBytes: 1000),
        unavailable: @escaping @Sendable () -> Bool = { false },
        delay: Duration = .zero,
        answer: @escaping @Sendable (PreparedEntry, Int) -> EntryOutcome
    ) {
        batchLimits = limits
        self.delay = delay
        self.unavailable = unavailable
        self.answer = answer
    }

    public var batches: [[String]] { sent.withLockedValue { $0 } }
    /// Sends failed as a whole, and the entries they carried.
    public var refusals: (sends: Int, entries: Int) { refused.withLockedValue { $0 } }

    public func prepare(_ job: Job) -> Prepared {
        if job.name == "poison" { return .drop(reason: "InvalidArgument: cannot be sent") }
        return .entry(PreparedEntry(job: job, body: job.payload, size: job.payload.count, display: try? JSONParser.parse(job.payload)))
    }

    public func send(_ entries: [PreparedEntry]) async -> SendResult {
        sent.withLockedValue { $0.append(entries.map(\.job.messageId)) }
        if delay > .zero { try? await Task.sleep(for: delay) }
        if unavailable() {
            refused.withLockedValue { $0 = ($0.sends + 1, $0.entries + entries.count) }
            let failure = EntryOutcome.Failure(code: "ConnectionError", message: "connection refused")
            return SendResult(outcomes: entries.map { _ in .retry(failure) }, unavailable: failure)
        }
        return SendResult(outcomes: entries.map { answer($0, $0.job.attempt) }, requestId: "req-\(entries.count)")
    }
}

public func policy(maxAttempts: Int = 10, retryWindow: ConfigDuration = .seconds(3600)) -> DeliveryPolicy {
    var p = DeliveryPolicy()
    p.initialBackoff = .milliseconds(5)
    p.maxBackoff = .milliseconds(20)
    p.linger = .milliseconds(1)
    p.maxAttempts = maxAttempts
    p.retryWindow = retryWindow
    return p
}

/// Runs a worker until `done` holds for the store, then stops it gracefully.
public func runWorker(_ worker: DeliveryWorker, until done: @escaping @Sendable () async throws -> Bool) async throws {
    let group = ServiceGroup(configuration: .init(services: [.init(service: worker)], logger: Logger(label: "test")))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let deadline = ContinuousClock.now + .seconds(20)
        while try await !done() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(20))
        }
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

/// A destination's jobs per state, by the states' names.
public func counts(_ store: any JobQueue, _ destination: String = "d") async throws -> [String: Int] {
    let counts = try await store.stats().destinations[destination]?.counts ?? [:]
    return Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })
}

/// Sends entries that carry the whole event as a JSON string, as EventBridge's `Detail` does.
public final class EnvelopeDestination: Destination, Sendable {
    public let batchLimits = BatchLimits(maxEntries: 10, maxBytes: 100_000)
    public let sent = NIOLockedValueBox<[[UInt8]]>([])

    public init() {}

    public func prepare(_ job: Job) -> Prepared {
        let entry = JSONValue.object(
            JSONObject([("Detail", .string(String(decoding: job.payload, as: UTF8.self))), ("Source", .string("test"))])
        )
        return .entry(PreparedEntry(job: job, body: entry.serialized(), size: job.payload.count, display: entry))
    }

    public func send(_ entries: [PreparedEntry]) async -> SendResult {
        sent.withLockedValue { $0 += entries.map(\.body) }
        return SendResult(outcomes: entries.map { _ in .delivered(reference: nil) })
    }
}

/// Counters of the test's own, reported nowhere.
public func testMetrics() -> PipelineMetrics {
    PipelineMetrics(factory: NOOPMetricsHandler.instance)
}
