import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import ServiceLifecycle
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite("The delivery engine", .timeLimit(.minutes(2)))
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
            let store = try MemoryJobStore(config: storage(dir))
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
            store.close()
        }
    }

    @Test("retryable failures are retried with backoff until they succeed; the attempts show in the queue")
    func retries() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
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
            #expect(store.jobs().map(\.attempts) == Array(repeating: 3, count: 10))
            #expect(Set(store.jobs().map(\.lastError)) == ["ThrottlingException: slow down"])
            store.close()
        }
    }

    @Test("final failures, exhausted attempts and unsendable events become dead letters with reasons")
    func deadLetters() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
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
            let reasons = store.jobs().map { "\($0.messageId) \($0.attempts) \($0.lastError ?? "")" }
            #expect(
                reasons == [
                    "m-1 1 AccessDeniedException (HTTP 403): no",
                    "m-2 3 InternalFailure (gave up after 3 attempts)",
                    "m-99 1 InvalidArgument: cannot be sent",
                ]
            )
            store.close()
        }
    }

    @Test("the retry window dead-letters an event too old to be worth retrying")
    func retryWindow() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
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
            let reason = store.jobs().first?.lastError
            #expect(reason == "HTTP503 (HTTP 503) (gave up after 1 attempts, retry window 1h passed)")
            store.close()
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
            let store = try MemoryJobStore(config: storage(dir))
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
                if metrics.health.health("paused-d").pausedUntil != nil { shownPaused.withLockedValue { $0 = true } }
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
            #expect(metrics.health.health("paused-d").pausedUntil == nil)
            // While down: the first round of sends, then one probe per pause, of 20 batches waiting.
            #expect((1...8).contains(destination.refusals.sends))
            // Jobs claimed but not sent were given back untried: only entries of refused sends count an attempt more.
            let failedAttempts = store.jobs().reduce(0) { $0 + $1.attempts - 1 }
            #expect(failedAttempts == destination.refusals.entries)
            store.close()
        }
    }

    @Test("stopping while a backlog drains gives back every job claimed but not sent, including the claim made ahead")
    func stopWhileDraining() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
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
            let attempts = store.jobs().reduce(0) { $0 + $1.attempts }
            #expect(attempts == after["succeeded"])
            store.close()
        }
    }

    @Test("a restarted server makes jobs left in flight by a crash due at once")
    func recovery() async throws {
        try await withTemporaryDirectory { dir in
            let storage = MemoryStorage()
            do {
                let store = try MemoryJobStore(storage: storage, config: SwitchyardTestSupport.storage(dir))
                try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
                _ = try await store.claim(destination: "d", limit: 1, leaseFor: .seconds(3600))
                store.close()
            }
            let store = try MemoryJobStore(storage: storage, config: SwitchyardTestSupport.storage(dir), owner: true)
            _ = try await store.recoverInterrupted()
            let jobs = try await store.claim(destination: "d", limit: 1, leaseFor: .seconds(30))
            #expect(jobs.map(\.messageId) == ["m-1"])
            #expect(jobs.first?.attempt == 2)
            store.close()
        }
    }
}
