import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Deduplication by message id (`DedupRule`): every store decides it the same way, in the
/// ingestion transaction, and keeps its marks as durably as its events.
@Suite("Every store: deduplication", .timeLimit(.minutes(2)))
struct DedupConformanceTests {
    static let window: Int64 = 3_600_000

    /// Event `n` (message id `m-n`) from `source`, marked for the window, with a job for `a`.
    static func deduped(_ n: Int, source: String = "web", to destinations: [String] = ["a"]) -> NewEvent {
        var item = NewEvent(source: source, event: makeEvent(n), destinations: destinations)
        item.dedupUntil = item.event.receivedAt.millisecondsSinceEpoch + window
        return item
    }

    @Test(
        "a copy within the window is left out with its jobs, in the same write or a later one; other ids and sources are kept",
        arguments: StoreFixture.all
    )
    func copiesAreLeftOut(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let first: Appended = try await store.appended([Self.deduped(1), Self.deduped(2), Self.deduped(1)])
            #expect(first == Appended(duplicates: 1, duplicateJobs: 1))
            let second: Appended = try await store.appended([Self.deduped(2), Self.deduped(3), Self.deduped(1, source: "app")])
            #expect(second == Appended(duplicates: 1, duplicateJobs: 1))
            #expect(try await store.stats().events == 4)
            #expect(try await store.backlog()["a"]?.waiting == 4, "the queue's count leaves the duplicates' jobs out")
            let claimed = try await store.claim("a")
            #expect(claimed.map(\.messageId).sorted() == ["m-1", "m-1", "m-2", "m-3"])
            #expect(Set(claimed.map(\.source)) == ["web", "app"])
        }
    }

    @Test("a copy is a duplicate however its original fared: delivered, dead-lettered or waiting", arguments: StoreFixture.all)
    func originalsFate(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([Self.deduped(1), Self.deduped(2)])
            let jobs = try await store.claim("a")
            try await store.settle([jobs[0]], .succeeded)
            try await store.settle([jobs[1]], .dead(reason: "MalformedDetail"))
            TestTime.advance(by: .seconds(60))
            #expect(try await store.duplicates([Self.deduped(1), Self.deduped(2)]) == 2)
            #expect(try await store.claim("a").isEmpty)
        }
    }

    @Test("once the window has passed the id is accepted again, and marks again", arguments: StoreFixture.all)
    func windowPasses(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([Self.deduped(1)])
            TestTime.advance(by: .milliseconds(Self.window - 1))
            #expect(try await store.duplicates([Self.deduped(1)]) == 1, "one millisecond before the end")
            TestTime.advance(by: .milliseconds(1))
            #expect(try await store.duplicates([Self.deduped(1)]) == 0, "at the end of the window")
            #expect(try await store.duplicates([Self.deduped(1)]) == 1, "the new copy marks a new window")
            #expect(try await store.stats().events == 2)
        }
    }

    @Test("an event without dedup neither checks nor leaves a mark", arguments: StoreFixture.all)
    func withoutDedup(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let plain = NewEvent(source: "web", event: makeEvent(1), destinations: ["a"])
            let both = try await store.duplicates([plain, plain])
            let marked = try await store.duplicates([Self.deduped(1)])
            let again = try await store.duplicates([plain])
            #expect(both == 0)
            #expect(marked == 0, "the plain copies left no mark")
            #expect(again == 0)
            #expect(try await store.stats().events == 4)
        }
    }

    @Test("a duplicate leaves no record: neither received nor skipped", arguments: StoreFixture.all)
    func duplicateLeavesNoRecord(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            var item = Self.deduped(1)
            item.skipped = [SkippedTarget(destination: "ads", reason: "no consent: category Advertising not granted")]
            try await store.append([item])
            let duplicates = try await store.duplicates([item, item])
            #expect(duplicates == 2)
            let records = try await store.records(LogQuery(filter: LogFilter(messageId: "m-1")))
            #expect(records.map(\.kind).sorted(by: { $0.rawValue < $1.rawValue }) == [.received, .skipped])
        }
    }

    @Test("marks survive a restart", arguments: StoreFixture.all)
    func marksSurviveRestart(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let first = try await open()
            try await first.store.append([Self.deduped(1)])
            try await first.close()
            let second = try await open()
            let duplicates = try await second.store.duplicates([Self.deduped(1), Self.deduped(2)])
            try await second.close()
            #expect(duplicates == 1)
        }
    }

    @Test("a keyed job is not held behind a duplicate that was never stored", arguments: StoreFixture.all)
    func keyedBehindDuplicate(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            func keyedDeduped(_ n: Int) -> NewEvent {
                var item = keyed(n, user: "u")
                item.dedupUntil = item.event.receivedAt.millisecondsSinceEpoch + Self.window
                return item
            }
            try await store.append([keyedDeduped(1)])
            try await store.settle(try await store.claim("d"), .succeeded)
            // The copy of 1 is left out, so 2 is the key's only job and due at once; 3 waits behind 2.
            #expect(try await store.duplicates([keyedDeduped(1), keyedDeduped(2), keyedDeduped(3)]) == 1)
            #expect(try await store.counts("d") == [.succeeded: 1, .pending: 1, .blocked: 1])
            #expect(try await store.claim("d").map(\.messageId) == ["m-2"])
        }
    }

    @Test("pruning removes the marks whose window has passed, and only those", arguments: StoreFixture.all)
    func pruning(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([Self.deduped(1)])
            TestTime.advance(by: .milliseconds(Self.window / 2))
            try await store.append([Self.deduped(2)])
            TestTime.advance(by: .milliseconds(Self.window / 2))
            let report = try await store.prune(RetentionConfig())
            #expect(report.dedupMarks == 1)
            #expect(try await store.duplicates([Self.deduped(2)]) == 1, "2's mark still stands")
            #expect(try await store.duplicates([Self.deduped(1)]) == 0)
        }
    }

    @Test(
        "two nodes committing the same message ids at once store each id once",
        arguments: StoreFixture.all.filter(\.sharedByNodes)
    )
    func acrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            // Each node sends every id, in batches and in opposite orders, so their transactions overlap.
            let ids = Array(1...200)
            let duplicates = try await withThrowingTaskGroup(of: Int.self) { group in
                for (node, order) in [(a, ids), (b, Array(ids.reversed()))] {
                    group.addTask {
                        var duplicates = 0
                        for chunk in stride(from: 0, to: order.count, by: 20) {
                            let batch = order[chunk..<chunk + 20].map { Self.deduped($0) }
                            duplicates += try await node.duplicates(batch)
                        }
                        return duplicates
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(duplicates == 200)
            #expect(try await a.stats().events == 200)
            let claimed = try await a.claim("a", limit: 500)
            #expect(Set(claimed.map(\.messageId)).count == 200 && claimed.count == 200)
        }
    }
}

extension JobQueue {
    /// `append` with untyped throws, which `#expect` can take.
    func appended(_ events: [NewEvent]) async throws -> Appended {
        try await append(events)
    }

    /// How many of the events were duplicates.
    func duplicates(_ events: [NewEvent]) async throws -> Int {
        try await append(events).duplicates
    }
}
