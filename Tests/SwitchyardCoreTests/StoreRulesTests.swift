import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

/// The rules every store shares, on their own: no store, no sleeps, a clock the test moves.
@Suite("What every store decides the same way", .timeLimit(.minutes(2)))
struct StoreRulesTests {
    @Test("the gate refuses jobs past the limit, counts settled and replayed ones, and wakes workers")
    func gateCounts() async throws {
        let gate = QueueGate(limit: 3, waiting: 1, clock: ManualWallClock())
        let before = gate.newJobs.generation
        try await gate.append(jobs: 2) { Appended() }
        #expect(gate.waiting == 3)
        #expect(gate.newJobs.generation > before)
        await #expect(throws: StoreError.full(queued: 3, limit: 3)) { try await gate.append(jobs: 1) { Appended() } }
        try await gate.append(jobs: 0) { Appended() }  // events routed nowhere always fit
        gate.settled(2, released: 0)
        #expect(gate.waiting == 1)
        let seen = gate.newJobs.generation
        gate.settled(0, released: 1)
        #expect(gate.newJobs.generation > seen, "a job let go from behind its key is new to its worker")
        gate.replayed(2)
        #expect(gate.waiting == 3)
        // Duplicates' jobs are known only once committed: reserved, then not counted.
        try await gate.append(jobs: 0) { Appended() }
        let appended = try await gate.append(jobs: 0) { Appended(duplicates: 1, duplicateJobs: 0) }
        #expect(appended.duplicates == 1)
        gate.settled(2)
        try await gate.append(jobs: 2) { Appended(duplicates: 1, duplicateJobs: 1) }
        #expect(gate.waiting == 2, "one of the two jobs was a duplicate's")
    }

    @Test("a later copy of a source's message id in the same write is a duplicate; a mark counts until its end")
    func dedupRule() {
        func item(_ n: Int, source: String = "web", dedup: Bool = true) -> NewEvent {
            var item = NewEvent(source: source, event: makeEvent(n), destinations: ["a"])
            if dedup { item.dedupUntil = item.event.receivedAt.millisecondsSinceEpoch + 1000 }
            return item
        }
        #expect(
            DedupRule.firstInWrite([item(1), item(2), item(1), item(1, source: "app"), item(1, dedup: false)]) == [
                true, true, false, true, true,
            ]
        )
        let e = item(1)
        let received = e.event.receivedAt.millisecondsSinceEpoch
        #expect(DedupRule.isDuplicate(e, markedUntil: received + 1))
        #expect(!DedupRule.isDuplicate(e, markedUntil: received))
        #expect(!DedupRule.isDuplicate(e, markedUntil: nil))
        #expect(!DedupRule.isDuplicate(item(1, dedup: false), markedUntil: received + 1))
    }

    @Test("a failed commit is reported for the failure window, or until a commit succeeds")
    func failureWindow() async throws {
        let clock = ManualWallClock()
        let gate = QueueGate(limit: 10, clock: clock)
        await #expect(throws: StoreError.unavailable("the disk is full")) {
            try await gate.append(jobs: 1) { () throws(StoreError) in throw .unavailable("the disk is full") }
        }
        #expect(gate.waiting == 0, "a failed commit adds nothing")
        clock.advance(by: .seconds(9))
        #expect(throws: StoreError.self) { try gate.checkLastCommit() }
        clock.advance(by: .seconds(1))
        #expect(throws: Never.self) { try gate.checkLastCommit() }

        await #expect(throws: StoreError.self) { try await gate.append(jobs: 1) { () throws(StoreError) in throw .unavailable("x") } }
        try await gate.append(jobs: 1) { Appended() }
        #expect(throws: Never.self) { try gate.checkLastCommit() }
    }

    @Test("a shared count is read again once it is an interval old, by one writer of those arriving together")
    func sharedRead() {
        let clock = ManualWallClock()
        let gate = QueueGate(limit: 10, clock: clock)
        #expect(gate.claimSharedRead(every: .seconds(1)), "never read yet")
        #expect(!gate.claimSharedRead(every: .seconds(1)))
        clock.advance(by: .milliseconds(999))
        #expect(!gate.claimSharedRead(every: .seconds(1)))
        clock.advance(by: .milliseconds(1))
        #expect(gate.claimSharedRead(every: .seconds(1)))
        #expect(!gate.claimSharedRead(every: .seconds(1)))
    }

    @Test("outcomes: the state they leave, when the job is due, the error kept, the key they let go")
    func outcomes() {
        let now = Timestamp(millisecondsSinceEpoch: 1_000)
        let later = Timestamp(millisecondsSinceEpoch: 9_000)
        #expect(JobOutcome.succeeded.state == .succeeded && JobOutcome.succeeded.isFinal && JobOutcome.succeeded.error == nil)
        #expect(JobOutcome.retry(at: later, error: "slow").availableAt(now: now) == later)
        #expect(!JobOutcome.retry(at: later, error: "slow").isFinal)
        #expect(JobOutcome.dead(reason: "gone").availableAt(now: now) == now && JobOutcome.dead(reason: "gone").error == "gone")
        let keyed = JobTarget(destination: "d", orderingKey: "u1")
        #expect(JobResult(jobID: 1, lease: 1, outcome: .dead(reason: "x"), ordering: keyed).releasedKey?.key == "u1")
        #expect(JobResult(jobID: 1, lease: 1, outcome: .retry(at: later, error: "x"), ordering: keyed).releasedKey == nil)
        #expect(JobResult(jobID: 1, lease: 1, outcome: .succeeded).releasedKey == nil)
        #expect(KeyedOrder.start(keyBusy: true, due: 5) == (.blocked, KeyedOrder.never))
        #expect(KeyedOrder.start(keyBusy: false, due: 5) == (.pending, 5))
    }

    @Test("a claim made ahead is taken once, waited for while it runs, and nothing is taken when none was made")
    func claimAhead() async {
        let ahead = ClaimAhead()
        #expect(await ahead.take() == nil)
        #expect(ahead.start())
        #expect(!ahead.start(), "one at a time")
        async let taken = ahead.take()
        ahead.finish((batches: [], full: true, generation: 7))
        #expect(await taken?.generation == 7)
        #expect(await ahead.take() == nil, "taken once")
        #expect(ahead.start(), "free again")
    }
}
