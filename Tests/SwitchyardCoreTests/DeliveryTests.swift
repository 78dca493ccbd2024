import Foundation
import GRDB
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SwitchyardSQLite
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

/// A destination whose answers the test scripts: exercises the engine, not a wire protocol.
final class ScriptedDestination: Destination, Sendable {
    let batchLimits: BatchLimits
    private let answer: @Sendable (PreparedEntry, Int) -> EntryOutcome
    /// While true, every send fails as a whole, as when the destination is down.
    private let unavailable: @Sendable () -> Bool
    /// How long each send takes.
    private let delay: Duration
    private let sent = NIOLockedValueBox<[[String]]>([])
    private let refused = NIOLockedValueBox((sends: 0, entries: 0))

    init(
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

    var batches: [[String]] { sent.withLockedValue { $0 } }
    /// Sends failed as a whole, and the entries they carried.
    var refusals: (sends: Int, entries: Int) { refused.withLockedValue { $0 } }

    func prepare(_ job: Job) -> Prepared {
        if job.name == "poison" { return .drop(reason: "InvalidArgument: cannot be sent") }
        return .entry(PreparedEntry(job: job, body: job.payload, size: job.payload.count, display: try? JSONParser.parse(job.payload)))
    }

    func send(_ entries: [PreparedEntry]) async -> SendResult {
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

func policy(maxAttempts: Int = 10, retryWindow: ConfigDuration = .seconds(3600)) -> DeliveryPolicy {
    var p = DeliveryPolicy()
    p.initialBackoff = .milliseconds(5)
    p.maxBackoff = .milliseconds(20)
    p.linger = .milliseconds(1)
    p.maxAttempts = maxAttempts
    p.retryWindow = retryWindow
    return p
}

/// Counters of the test's own, reported nowhere.
func testMetrics() -> PipelineMetrics {
    PipelineMetrics(factory: NOOPMetricsHandler.instance)
}

/// Runs a worker until `done` holds for the store, then stops it gracefully.
func runWorker(_ worker: DeliveryWorker, until done: @escaping @Sendable () async throws -> Bool) async throws {
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
func counts(_ store: any JobQueue, _ destination: String = "d") async throws -> [String: Int] {
    let counts = try await store.stats().destinations[destination]?.counts ?? [:]
    return Dictionary(uniqueKeysWithValues: counts.map { ($0.key.rawValue, $0.value) })
}

@Suite("The delivery engine")
struct DeliveryTests {
    @Test("backoff is full jitter below an exponential, capped ceiling")
    func backoff() {
        var p = DeliveryPolicy()
        p.initialBackoff = .seconds(1)
        p.maxBackoff = .seconds(300)
        #expect(p.backoff(afterAttempt: 1, random: { $0.upperBound }) == 1000)
        #expect(p.backoff(afterAttempt: 4, random: { $0.upperBound }) == 8000)
        #expect(p.backoff(afterAttempt: 30, random: { $0.upperBound }) == 300_000)
        #expect(p.backoff(afterAttempt: 1000, random: { $0.upperBound }) == 300_000)
        #expect(p.backoff(afterAttempt: 3, random: { $0.lowerBound }) == 0)
    }

    @Test("durations read as people write them")
    func durations() {
        #expect(ConfigDuration(parsing: "250ms")?.milliseconds == 250)
        #expect(ConfigDuration(parsing: "10s")?.milliseconds == 10_000)
        #expect(ConfigDuration(parsing: "5m")?.milliseconds == 300_000)
        #expect(ConfigDuration(parsing: "3h")?.milliseconds == 10_800_000)
        #expect(ConfigDuration(parsing: "7")?.milliseconds == 7000)
        #expect(ConfigDuration(parsing: "soon") == nil)
        #expect(ConfigDuration.seconds(10_800).description == "3h")
    }

    @Test("every job is delivered once, in batches within the destination's limits")
    func delivers() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((0..<95).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            let destination = ScriptedDestination(limits: .init(maxEntries: 10, maxBytes: 400)) { _, _ in .delivered(reference: nil) }
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["succeeded": 95] }
            let sent = destination.batches.flatMap { $0 }
            #expect(sent.count == 95 && Set(sent).count == 95)
            // Each payload is about 60 bytes: the 400-byte limit caps batches below 10 entries.
            #expect(destination.batches.allSatisfy { $0.count <= 6 })
            try store.close()
        }
    }

    @Test("retryable failures are retried with backoff until they succeed; the attempts show in the queue")
    func retries() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((0..<10).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            let destination = ScriptedDestination { _, attempt in
                attempt < 3 ? .retry(.init(code: "ThrottlingException", message: "slow down")) : .delivered(reference: "id")
            }
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["succeeded": 10] }
            let attempts = try await store.read { db in try Int.fetchAll(db, sql: "SELECT attempts FROM jobs") }
            #expect(attempts == Array(repeating: 3, count: 10))
            let errors = try await store.read { db in try String.fetchAll(db, sql: "SELECT DISTINCT last_error FROM jobs") }
            #expect(errors == ["ThrottlingException: slow down"])
            try store.close()
        }
    }

    @Test("final failures, exhausted attempts and unsendable events become dead letters with reasons")
    func deadLetters() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            var poison = makeEvent(99)
            poison.name = "poison"
            try await store.append([
                NewEvent(source: "web", event: makeEvent(1), destinations: ["d"]),
                NewEvent(source: "web", event: makeEvent(2), destinations: ["d"]),
                NewEvent(source: "web", event: poison, destinations: ["d"]),
            ])
            let destination = ScriptedDestination { entry, _ in
                entry.job.messageId == "m-1"
                    ? .reject(.init(code: "AccessDeniedException", message: "no", httpStatus: 403))
                    : .retry(.init(code: "InternalFailure", message: ""))
            }
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(maxAttempts: 3),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["dead": 3] }
            let reasons = try await store.read { db in
                try Row.fetchAll(
                    db,
                    sql: "SELECT e.message_id, j.attempts, j.last_error FROM jobs j JOIN events e ON e.id = j.event_id ORDER BY e.id"
                )
                .map { "\($0[0] as String) \($0[1] as Int) \($0[2] as String)" }
            }
            #expect(
                reasons == [
                    "m-1 1 AccessDeniedException (HTTP 403): no",
                    "m-2 3 gave up after 3 attempts: InternalFailure",
                    "m-99 1 InvalidArgument: cannot be sent",
                ]
            )
            try store.close()
        }
    }

    @Test("the retry window dead-letters an event too old to be worth retrying")
    func retryWindow() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1, receivedAgo: 7_200_000), destinations: ["d"])])
            let destination = ScriptedDestination { _, _ in .retry(.init(code: "HTTP503", message: "", httpStatus: 503)) }
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(retryWindow: .seconds(3600)),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["dead": 1] }
            let reason = try await store.read { db in try String.fetchOne(db, sql: "SELECT last_error FROM jobs") }
            #expect(reason == "gave up after 1 attempts, retry window 1h passed: HTTP503 (HTTP 503)")
            try store.close()
        }
    }

    @Test("a destination whose sends fail as a whole is paused, longer each time, then probed one send at a time")
    func destinationBackoff() {
        var p = DeliveryPolicy()
        p.initialBackoff = .seconds(1)
        p.maxBackoff = .seconds(8)
        var backoff = DestinationBackoff()
        let start = ContinuousClock.now
        #expect(backoff.allowedInFlight(concurrency: 4) == 4)
        // At least half the ceiling, at most all of it.
        let pause1 = backoff.unavailable(at: start, policy: p, random: { $0.lowerBound })
        #expect(pause1 == .milliseconds(500))
        #expect(backoff.pause(at: start + .milliseconds(499)) == start + .milliseconds(500))
        #expect(backoff.allowedInFlight(concurrency: 4) == 1)
        // Sends already in flight that fail during the pause do not lengthen it.
        let pause2 = backoff.unavailable(at: start + .milliseconds(100), policy: p)
        #expect(pause2 == nil)
        // The probe after the pause fails: the next pause is longer.
        #expect(backoff.pause(at: start + .milliseconds(500)) == nil)
        let pause3 = backoff.unavailable(at: start + .milliseconds(600), policy: p, random: { $0.upperBound })
        #expect(pause3 == .seconds(2))
        let pause4 = backoff.unavailable(at: start + .seconds(3), policy: p, random: { $0.upperBound })
        #expect(pause4 == .seconds(4))
        let pause5 = backoff.unavailable(at: start + .seconds(8), policy: p, random: { $0.upperBound })
        #expect(pause5 == .seconds(8))
        let pause6 = backoff.unavailable(at: start + .seconds(17), policy: p, random: { $0.upperBound })
        #expect(pause6 == .seconds(8))
        // One send gets through: full concurrency, and the next failure starts over.
        let wasPaused = backoff.gotThrough()
        #expect(wasPaused)
        #expect(backoff.allowedInFlight(concurrency: 4) == 4)
        let pausedAgain = backoff.gotThrough()
        #expect(!pausedAgain)
        let pause7 = backoff.unavailable(at: start + .seconds(30), policy: p, random: { $0.upperBound })
        #expect(pause7 == .seconds(1))
    }

    @Test("while a destination is down, the queue is not tried event by event; it drains once the destination answers")
    func pausedWhileDown() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((0..<200).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["paused-d"]) })
            let down = NIOLockedValueBox(true)
            let destination = ScriptedDestination(unavailable: { down.withLockedValue { $0 } }) { _, _ in .delivered(reference: nil) }
            var p = policy()
            p.concurrency = 4
            p.initialBackoff = .milliseconds(200)
            p.maxBackoff = .milliseconds(400)
            // Its own counters: what the summary would show is this worker's alone.
            let metrics = testMetrics()
            let worker = DeliveryWorker(
                name: "paused-d",
                destination: destination,
                store: store,
                policy: p,
                logger: Logger(label: "test"),
                metrics: metrics
            )
            let started = ContinuousClock.now
            let shownPaused = NIOLockedValueBox(false)
            try await runWorker(worker) {
                if metrics.snapshot().pausedUntil["paused-d"] != nil { shownPaused.withLockedValue { $0 = true } }
                // Up again once the outage was seen (a refused send, the pause shown) and has lasted
                // a while: on a loaded machine the first send may come late, and must still fall
                // inside the outage.
                if shownPaused.withLockedValue({ $0 }), destination.refusals.sends > 0, ContinuousClock.now - started > .milliseconds(600) {
                    down.withLockedValue { $0 = false }
                }
                return try await counts(store, "paused-d") == ["succeeded": 200]
            }
            // The summary and metrics showed the pause, and stop showing it once sends get through.
            #expect(shownPaused.withLockedValue { $0 })
            #expect(metrics.snapshot().pausedUntil["paused-d"] == nil)
            // While down: the first round of sends, then one probe per pause, of 20 batches waiting.
            #expect((1...8).contains(destination.refusals.sends))
            // Jobs claimed but not sent were given back untried: only entries of refused sends count an attempt more.
            let failedAttempts = try await store.read { db in try Int.fetchOne(db, sql: "SELECT SUM(attempts - 1) FROM jobs") }
            #expect(failedAttempts == destination.refusals.entries)
            try store.close()
        }
    }

    @Test("stopping while a backlog drains gives back every job claimed but not sent, including the claim made ahead")
    func stopWhileDraining() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((0..<500).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            let destination = ScriptedDestination(delay: .milliseconds(100)) { _, _ in .delivered(reference: nil) }
            var p = policy()
            p.concurrency = 2
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: p,
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            // A claim takes 4 rounds of 2 sends (80 jobs); the next claim starts once 2 batches are
            // left. Stop during the third round of the second claim: 2 batches ready, the next claim made.
            try await runWorker(worker) { destination.batches.count >= 14 }
            let after = try await counts(store)
            // Nothing is left leased, nothing is lost, and only the jobs actually sent count an attempt.
            #expect(after["in_flight"] == nil)
            #expect(after["succeeded", default: 0] + after["pending", default: 0] == 500)
            #expect(after["succeeded", default: 0] < 500)
            let attempts = try await store.read { db in try Int.fetchOne(db, sql: "SELECT SUM(attempts) FROM jobs") }
            #expect(attempts == after["succeeded"])
            try store.close()
        }
    }

    @Test("a restarted server makes jobs left in flight by a crash due at once")
    func recovery() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try SQLiteJobStore(config: storage(dir))
                try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
                _ = try await store.claim(destination: "d", limit: 1, leaseFor: .seconds(3600))
                try store.close()
            }
            let store = try SQLiteJobStore(config: storage(dir), owner: true)
            _ = try await store.recoverInterrupted()
            let jobs = try await store.claim(destination: "d", limit: 1, leaseFor: .seconds(30))
            #expect(jobs.map(\.messageId) == ["m-1"])
            #expect(jobs.first?.attempt == 2)
            try store.close()
        }
    }
}
