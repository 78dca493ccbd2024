import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: replays", .timeLimit(.minutes(2)))
struct ReplayConformanceTests {
    static func replay(_ name: String) -> Replay {
        Replay(name: name, from: ago(3_600_000), to: now(), destinations: ["a"], filter: .init(types: [.track]), createdAt: now())
    }

    @Test("replays are kept in order with their progress; a name is taken once; they survive a restart", arguments: StoreFixture.all)
    func kept(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let first = try await open()
            try await first.store.createReplay(Self.replay("one"))
            try await first.store.createReplay(Self.replay("two"))
            await #expect(throws: ReplayConflict.exists("one")) { try await first.store.createReplay(Self.replay("one")) }
            var claimed = try #require(try await first.store.claimReplay(leaseFor: .seconds(60)))
            #expect(claimed == Self.replay("one"))
            claimed.state = .running
            claimed.progress.eventsSent = 7
            claimed.progress.lastFile = "2026-01-01/00|web/x"
            #expect(try await first.store.saveReplay(claimed, leaseFor: .seconds(60)) == .running)
            try await first.close()

            let second = try await open()
            #expect(try await second.store.replays().map(\.name) == ["one", "two"])
            #expect(try await second.store.replay(named: "one") == claimed)
            #expect(try await second.store.replay(named: "none") == nil)
            try await second.close()
        }
    }

    @Test("a cancel stands against the runner's progress, until the runner finishes the replay", arguments: StoreFixture.all)
    func cancel(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.createReplay(Self.replay("one"))
            var running = try #require(try await store.claimReplay(leaseFor: .seconds(60)))
            running.state = .running
            _ = try await store.saveReplay(running, leaseFor: .seconds(60))
            #expect(try await store.cancelReplay(named: "one")?.state == .cancelling)
            #expect(try await store.cancelReplay(named: "none") == nil)
            running.progress.eventsRead = 3
            #expect(try await store.saveReplay(running, leaseFor: .seconds(60)) == .cancelling)
            #expect(try await store.replay(named: "one")?.progress.eventsRead == 3)
            running.state = .cancelled
            #expect(try await store.saveReplay(running, leaseFor: .seconds(60)) == .cancelled)
            #expect(try await store.claimReplay(leaseFor: .seconds(60)) == nil)
            // A finished replay is not cancelled again.
            #expect(try await store.cancelReplay(named: "one")?.state == .cancelled)
        }
    }

    @Test("one node runs a replay; another takes it over when its lease runs out", arguments: NodesConformanceTests.shared)
    func leaseAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            try await a.createReplay(Self.replay("one"))
            var mine = try #require(try await a.claimReplay(leaseFor: .seconds(60)))
            #expect(try await b.claimReplay(leaseFor: .seconds(60)) == nil)
            #expect(try await b.replay(named: "one")?.name == "one")
            #expect(try await b.cancelReplay(named: "one")?.state == .cancelling, "any node cancels")
            mine.state = .running
            #expect(try await a.saveReplay(mine, leaseFor: .seconds(60)) == .cancelling)
            TestTime.advance(by: .seconds(61))
            #expect(try await b.claimReplay(leaseFor: .seconds(60))?.state == .cancelling)
            await #expect(throws: ReplayConflict.leaseLost("one")) { try await a.saveReplay(mine, leaseFor: .seconds(60)) }
        }
    }
}
