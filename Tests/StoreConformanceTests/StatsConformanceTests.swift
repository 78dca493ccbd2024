import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: stats rollups and dead-letter groups", .timeLimit(.minutes(2)))
struct StatsConformanceTests {
    static func counts(received: Int = 0, delivered: Int = 0, latency: [Int64] = [], depth: Int? = nil) -> StatsCounts {
        var c = StatsCounts()
        c.received = received
        c.delivered = delivered
        for ms in latency { c.latency.add(milliseconds: ms) }
        c.queueDepth = depth
        c.refused = received > 0 ? [401: 1] : [:]
        return c
    }

    @Test(
        "a writer's row replaces its own for the same minute and scope; ranges are half open; pruning keeps the rest",
        arguments: StoreFixture.all
    )
    func rowsReplaceAndPrune(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let m0: Int64 = 1_767_225_600_000
            let web = StatsScope.source("web")
            let bus = StatsScope.destination("bus")
            try await store.writeStats([
                StatsRow(minute: m0, writer: "a/1", scope: web, counts: Self.counts(received: 3)),
                StatsRow(minute: m0, writer: "a/1", scope: bus, counts: Self.counts(delivered: 2, latency: [5, 900], depth: 7)),
                StatsRow(minute: m0, writer: "b/1", scope: web, counts: Self.counts(received: 4)),
                StatsRow(minute: m0 + 60_000, writer: "a/1", scope: web, counts: Self.counts(received: 1)),
            ])
            // The writer's minute grew: the whole row is written again.
            try await store.writeStats([StatsRow(minute: m0, writer: "a/1", scope: web, counts: Self.counts(received: 5))])
            let first = try await store.stats(from: m0, to: m0 + 60_000)
            #expect(
                Set(first.map { "\($0.writer) \($0.scope.name) \($0.counts.received) \($0.counts.delivered)" }) == [
                    "a/1 web 5 0", "a/1 bus 0 2", "b/1 web 4 0",
                ]
            )
            #expect(first.count == 3)
            let bus0 = try #require(first.first { $0.scope == bus })
            #expect(bus0.counts == Self.counts(delivered: 2, latency: [5, 900], depth: 7), "every field comes back as written")
            #expect(first.first { $0.writer == "a/1" && $0.scope == web }?.counts.refused == [401: 1])
            #expect(try await store.stats(from: m0 + 60_000, to: m0 + 120_000).map(\.counts.received) == [1])
            #expect(try await store.pruneStats(before: m0 + 60_000) == 3)
            #expect(try await store.stats(from: 0, to: .max).map(\.minute) == [m0 + 60_000])
        }
    }

    @Test("dead letters are counted by destination and the reason up to its first colon", arguments: StoreFixture.all)
    func deadLetterHeads(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...5, to: ["a", "b"]))
            let a = try await store.claim("a")
            try await store.settle(
                Array(a[0..<3]),
                .dead(reason: "ThrottlingException (HTTP 400): Rate exceeded (gave up after 3 attempts)")
            )
            try await store.settle([a[3]], .dead(reason: "ThrottlingException (HTTP 400): Slow down (gave up after 3 attempts)"))
            try await store.settle([a[4]], .dead(reason: "InternalFailure (gave up after 3 attempts)"))
            let b = try await store.claim("b")
            try await store.settle(Array(b[0..<2]), .dead(reason: "ValidationException: Detail is malformed"))
            try await store.settle(Array(b[2...]), .succeeded)

            let heads = try await store.deadLetterHeads(destination: nil, limit: 100)
            #expect(
                Set(heads.map { "\($0.destination) \($0.head) \($0.count)" }) == [
                    "a ThrottlingException (HTTP 400) 4", "a InternalFailure (gave up after 3 attempts) 1", "b ValidationException 2",
                ]
            )
            #expect(heads.first?.count == 4, "the largest first")
            let throttled = try #require(heads.first)
            #expect(throttled.example.hasPrefix("ThrottlingException (HTTP 400): "))
            #expect(throttled.oldest <= throttled.newest)
            #expect(try await store.deadLetterHeads(destination: "b", limit: 100).map(\.count) == [2])
            #expect(try await store.deadLetterHeads(destination: nil, limit: 1).count == 1)

            let groups = DeadLetterGroup.fold(heads)
            #expect(
                groups.map { "\($0.destination) \($0.errorCode) \($0.count)" } == [
                    "a ThrottlingException 4", "a InternalFailure 1", "b ValidationException 2",
                ]
            )
            // A group's code selects exactly its letters for a replay.
            #expect(try await store.replay(DeadLetterQuery(destination: "a", errorCode: "ThrottlingException")) == 4)
            #expect(try await store.deadLetterHeads(destination: "a", limit: 100).map(\.count) == [1])
        }
    }
}
