import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: the queue", .timeLimit(.minutes(2)))
struct QueueConformanceTests {
    @Test(
        "an appended event and its jobs are stored together, and claimed oldest first with everything a worker needs",
        arguments: StoreFixture.all
    )
    func appendAndClaim(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([
                NewEvent(
                    source: "web",
                    event: makeEvent(1),
                    targets: [JobTarget(destination: "a", rule: "r1"), JobTarget(destination: "b")]
                ),
                NewEvent(source: "web", event: makeEvent(2), destinations: ["a"]),
                NewEvent(source: "web", event: makeEvent(3), destinations: []),
            ])
            let stats = try await store.stats()
            #expect(stats.events == 3)
            #expect(stats.destinations["a"]?.counts == [.pending: 2])
            #expect(stats.destinations["b"]?.counts == [.pending: 1])

            let jobs = try await store.claim("a")
            #expect(jobs.map(\.messageId) == ["m-1", "m-2"])
            #expect(jobs.map(\.rule) == ["r1", nil])
            #expect(jobs.allSatisfy { $0.attempt == 1 && $0.source == "web" && $0.destination == "a" && $0.type == .track })
            #expect(jobs[0].name == "E1" && jobs[0].userId == "u1")
            #expect(String(decoding: jobs[0].payload, as: UTF8.self) == #"{"type":"track","event":"E1","userId":"u1","messageId":"m-1"}"#)
            #expect(try await store.claim("a").isEmpty, "leased jobs are not claimed twice")
            #expect(try await store.claim("b").map(\.messageId) == ["m-1"])
        }
    }

    @Test("outcomes move jobs to succeeded, failed (due later) or dead", arguments: StoreFixture.all)
    func outcomes(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...3))
            let jobs = try await store.claim("a")
            try await store.settle([jobs[0]], .succeeded)
            try await store.settle([jobs[1]], .retry(at: later(), error: "ThrottlingException"))
            try await store.settle([jobs[2]], .dead(reason: "MalformedDetail"))
            #expect(try await store.counts() == [.succeeded: 1, .failed: 1, .dead: 1])
            #expect(try await store.claim("a").isEmpty, "the retry is not due for a minute")
        }
    }

    @Test("a retry comes back due at its time with its attempt counted", arguments: StoreFixture.all)
    func retryIsDue(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1))
            let first = try await store.claim("a")
            try await store.settle(first, .retry(at: now(), error: "ThrottlingException"))
            let again = try await store.claim("a")
            #expect(again.map(\.id) == first.map(\.id))
            #expect(again.first?.attempt == 2)
        }
    }

    @Test("the backlog counts waiting and dead jobs and the oldest waiting event, not delivered ones", arguments: StoreFixture.all)
    func backlog(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([NewEvent(source: "web", event: makeEvent(1, receivedAgo: 90_000), destinations: ["a", "b"])])
            try await store.append(events(2...5))
            let jobs = try await store.claim("a", limit: 3)
            try await store.settle([jobs[0]], .retry(at: later(), error: "ThrottlingException"))
            try await store.settle([jobs[1]], .succeeded)
            try await store.settle(try await store.claim("b"), .dead(reason: "MalformedDetail"))
            let backlog = try await store.backlog()
            // a: m-1 failed (due later), m-2 delivered, m-3 still leased, m-4 and m-5 pending.
            #expect(backlog["a"]?.counts == [.failed: 1, .inFlight: 1, .pending: 2])
            #expect(backlog["a"]?.waiting == 4)
            #expect(backlog["b"]?.counts == [.dead: 1])
            #expect((90_000..<120_000).contains(backlog["a"]?.oldestWaitingAgeMs ?? 0))
            #expect(backlog["b"]?.oldestWaitingAgeMs == nil)
            let stats = try await store.stats()
            #expect(stats.destinations["a"]?.counts == [.failed: 1, .inFlight: 1, .pending: 2, .succeeded: 1])
        }
    }

    @Test("a lease that runs out makes the job due again, and the old lease can no longer settle it", arguments: StoreFixture.all)
    func leaseExpiry(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1))
            let first = try await store.claim("a", leaseFor: .zero)
            let second = try await store.claim("a")
            #expect(second.map(\.id) == first.map(\.id))
            #expect(second.first?.attempt == 2)
            try await store.settle(first, .dead(reason: "stale worker"), logged: true)
            #expect(try await store.counts() == [.inFlight: 1])
            #expect(try await store.records(LogQuery(filter: LogFilter(kind: .attempt))).isEmpty, "a stale outcome is not logged either")
            try await store.settle(second, .succeeded)
            #expect(try await store.counts() == [.succeeded: 1])
        }
    }

    @Test(
        "deliveries settled together: one from a stale lease changes nothing and is not logged, the others each settle and log once, in order",
        arguments: StoreFixture.all
    )
    func deliveriesSettledTogether(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...13))
            let stale = try await store.claim("a", leaseFor: .zero)
            let current = try await store.claim("a")
            #expect(current.count == 13 && current.allSatisfy { $0.attempt == 2 })
            // One finish with a stale delivery, twelve current deliveries and a current retry.
            try await store.finish(
                [jobResult(stale[0], .succeeded)] + current.dropLast().map { jobResult($0, .succeeded) }
                    + [jobResult(current[12], .retry(at: now(), error: "ThrottlingException"))]
            )
            #expect(try await store.counts() == [.succeeded: 12, .failed: 1])
            let attempts = try await store.records(LogQuery(filter: LogFilter(kind: .attempt))).sorted { $0.id < $1.id }
            #expect(attempts.map(\.messageId) == (1...13).map { "m-\($0)" })
            #expect(attempts.allSatisfy { $0.attempt == 2 })
            #expect(attempts.map(\.status) == Array(repeating: "succeeded", count: 12) + ["failed"])
        }
    }

    @Test("released jobs are due at once and the attempt is not counted", arguments: StoreFixture.all)
    func release(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1))
            try await store.release(try await store.claim("a"))
            #expect(try await store.claim("a").first?.attempt == 1)
        }
    }

    @Test("concurrent appends are each stored exactly once, and every job is claimed exactly once", arguments: StoreFixture.all)
    func concurrentAppends(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<200 {
                    group.addTask { try await store.append([NewEvent(source: "web", event: makeEvent(n), destinations: ["a"])]) }
                }
                try await group.waitForAll()
            }
            #expect(try await store.stats().events == 200)
            let claimed = try await withThrowingTaskGroup(of: [Job].self) { group in
                for _ in 0..<4 { group.addTask { try await store.claim("a", limit: 60) } }
                return try await group.reduce(into: [Job]()) { $0 += $1 }
            }
            #expect(claimed.count == 200)
            #expect(Set(claimed.map(\.messageId)) == Set((0..<200).map { "m-\($0)" }))
        }
    }

    @Test("a full queue refuses new events instead of growing, and accepts again once drained", arguments: StoreFixture.all)
    func full(_ fixture: StoreFixture) async throws {
        try await fixture.withStore(maxQueuedJobs: 3) { store in
            try await store.append(events(1...3))
            await #expect(throws: StoreError.full(queued: 3, limit: 3)) { try await store.append(events(4...4)) }
            try await store.append([NewEvent(source: "web", event: makeEvent(5), destinations: [])])
            try await store.settle(try await store.claim("a", limit: 1), .succeeded)
            try await store.append(events(4...4))
            #expect(try await store.stats().events == 5)
        }
    }

    @Test("the full-queue limit holds across a restart", arguments: StoreFixture.all)
    func fullAfterRestart(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let first = try await open(maxQueuedJobs: 2)
            try await first.store.append(events(1...2))
            try await first.close()
            let second = try await open(maxQueuedJobs: 2)
            await #expect(throws: StoreError.self) { try await second.store.append(events(3...3)) }
            try await second.close()
        }
    }

    @Test("after a crash, the node's own interrupted jobs are due at once, their attempt counted", arguments: StoreFixture.all)
    func recovery(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let crashed = try await open()
            try await crashed.store.append(events(1...2))
            _ = try await crashed.store.claim("a", limit: 1, leaseFor: .seconds(3600))
            try await crashed.close()
            let restarted = try await open()
            #expect(try await restarted.store.recoverInterrupted() == 1)
            let jobs = try await restarted.store.claim("a")
            #expect(Dictionary(uniqueKeysWithValues: jobs.map { ($0.messageId, $0.attempt) }) == ["m-1": 2, "m-2": 1])
            try await restarted.close()
        }
    }

    @Test(
        "a worker waiting for new jobs wakes when they are committed, and never misses one committed before it slept",
        arguments: StoreFixture.all
    )
    func wakeups(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let before = store.newJobsGeneration
            try await store.append(events(1...1))
            #expect(store.newJobsGeneration > before)
            // Already moved on: returns at once rather than after the hour.
            await store.waitForNewJobs(since: before, timeout: .seconds(3600))
            let now = store.newJobsGeneration
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await store.waitForNewJobs(since: now, timeout: .seconds(3600)) }
                group.addTask { try await store.append(events(2...2)) }
                try await group.waitForAll()
            }
            #expect(ContinuousClock.now - start < .seconds(60), "woken by the commit, not the hour")
        }
    }

    @Test("a writable store says so", arguments: StoreFixture.all)
    func writable(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            await #expect(throws: Never.self) { try await store.checkWritable() }
        }
    }
}

@Suite("Every store: per-key order", .timeLimit(.minutes(2)))
struct OrderingConformanceTests {
    @Test("of one key's jobs only the oldest still to be delivered can be claimed; the others wait blocked", arguments: StoreFixture.all)
    func oneAtATime(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(
                [keyed(1, user: "a"), keyed(2, user: "b"), keyed(3, user: "a"), keyed(4, user: "a")]
                    + [NewEvent(source: "web", event: makeEvent(5), destinations: ["d"])]
            )
            #expect(try await store.counts("d") == [.pending: 3, .blocked: 2])
            #expect(try await store.backlog()["d"]?.waiting == 5, "blocked jobs count in the queue's depth")

            let first = try await store.claim("d")
            #expect(first.map(\.messageId) == ["m-1", "m-2", "m-5"])
            #expect(first.map(\.orderingKey) == ["a", "b", nil])
            #expect(try await store.claim("d").isEmpty, "a's next job waits while m-1 is in flight")

            try await store.settle([first[0]], .succeeded)
            let second = try await store.claim("d")
            #expect(second.map(\.messageId) == ["m-3"], "delivering m-1 lets m-3 go, and only m-3")
            try await store.settle(second, .dead(reason: "InvalidArgument"))
            #expect(try await store.claim("d").map(\.messageId) == ["m-4"], "a dead letter lets the next go too")
        }
    }

    @Test("a failed job keeps its key's later jobs waiting until its retry is delivered", arguments: StoreFixture.all)
    func retryHoldsTheKey(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([keyed(1, user: "a"), keyed(2, user: "a")])
            try await store.settle(try await store.claim("d"), .retry(at: now(), error: "ProvisionedThroughputExceededException"))
            let retried = try await store.claim("d")
            #expect(retried.map(\.messageId) == ["m-1"] && retried.first?.attempt == 2, "m-2 is not sent ahead of m-1's retry")
            try await store.settle(retried, .succeeded)
            #expect(try await store.claim("d").map(\.messageId) == ["m-2"])
        }
    }

    @Test("order survives a restart: what was in flight is retried first, what waited still waits", arguments: StoreFixture.all)
    func acrossRestarts(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let crashed = try await open()
            try await crashed.store.append([keyed(1, user: "a"), keyed(2, user: "a"), keyed(3, user: "a")])
            try await crashed.store.settle(try await crashed.store.claim("d"), .succeeded)
            #expect(try await crashed.store.claim("d").map(\.messageId) == ["m-2"])
            try await crashed.close()  // m-2 in flight when the node stops

            let restarted = try await open()
            let store = restarted.store
            _ = try await store.recoverInterrupted()
            #expect(try await store.counts("d") == [.succeeded: 1, .failed: 1, .blocked: 1])
            let again = try await store.claim("d")
            #expect(again.map(\.messageId) == ["m-2"], "m-3 still waits behind the interrupted m-2")
            try await store.settle(again, .succeeded)
            #expect(try await store.claim("d").map(\.messageId) == ["m-3"])
            try await restarted.close()
        }
    }

    @Test("a replayed dead letter waits behind its key's job still to be delivered", arguments: StoreFixture.all)
    func replayWaits(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([keyed(1, user: "a"), keyed(2, user: "a")])
            try await store.settle(try await store.claim("d"), .dead(reason: "boom"))
            let second = try await store.claim("d")
            #expect(second.map(\.messageId) == ["m-2"])
            #expect(try await store.replay(DeadLetterQuery(messageIds: ["m-1"])) == 1)
            #expect(try await store.counts("d") == [.inFlight: 1, .blocked: 1])
            try await store.settle(second, .succeeded)
            #expect(try await store.claim("d").map(\.messageId) == ["m-1"])
        }
    }

    @Test("letting a job go wakes the key's worker: waiting since the generation it saw returns at once", arguments: StoreFixture.all)
    func releaseWakes(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([keyed(1, user: "a"), keyed(2, user: "a")])
            let first = try await store.claim("d")
            let seen = store.newJobsGeneration
            try await store.settle(first, .succeeded)
            #expect(store.newJobsGeneration > seen, "letting m-2 go is a new job for its worker")
            // Were the release not signalled, this would wait out the hour: the suite's time limit fails it.
            let start = ContinuousClock.now
            await store.waitForNewJobs(since: seen, timeout: .seconds(3600))
            #expect(ContinuousClock.now - start < .seconds(60))
        }
    }

    @Test("a heartbeat is stored when its destination is quiet, and not while its jobs wait", arguments: StoreFixture.all)
    func heartbeatWhenQuiet(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1, to: ["a"]))
            #expect(
                try await store.appendHeartbeat(heartbeat(2), quietSince: ago(60_000)) == .stored,
                "another destination's jobs do not count"
            )
            #expect(
                try await store.appendHeartbeat(heartbeat(3), quietSince: ago(60_000)) == .backlog(1),
                "the first heartbeat still waits"
            )
            let beat = try await store.claim("hb")
            #expect(beat.map(\.source) == [Heartbeat.source])
        }
    }
}
