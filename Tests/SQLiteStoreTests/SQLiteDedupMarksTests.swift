import GRDB
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore
@testable import SwitchyardSQLite

/// The embedded store keeps dedup marks with their events, in memory until the message index's
/// runs hold them, and in those runs past their events until their windows pass.
@Suite("The embedded store's dedup marks", .timeLimit(.minutes(2)))
struct SQLiteDedupMarksTests {
    static let window: Int64 = 3_600_000

    static func deduped(_ n: Int, to destinations: [String] = ["a"]) -> NewEvent {
        var item = NewEvent(source: "web", event: makeEvent(n), destinations: destinations)
        item.dedupUntil = item.event.receivedAt.millisecondsSinceEpoch + window
        return item
    }

    /// Runs `body` with a manual clock bound for the events and the stores it opens.
    func withClock(_ body: (ManualWallClock, String) async throws -> Void) async throws {
        let clock = ManualWallClock()
        try await TestTime.$clock.withValue(clock) {
            try await withTemporaryDirectory { dir in try await body(clock, dir) }
        }
    }

    @Test("marks leave memory for the index's runs and still stand there: probed, then through the filter, then after a restart")
    func marksMoveToTheIndex() async throws {
        try await withClock { clock, dir in
            let store = try SQLiteJobStore(config: storage(dir), clock: clock)
            try await store.append((1...40).map { Self.deduped($0) })
            #expect(store.marks.tailCount == 40)
            #expect(try await store.indexMessageIDs() == 40)
            #expect(store.marks.tailCount == 0)
            #expect(store.marks.needsFilter)
            #expect(try await store.duplicates((1...40).map { Self.deduped($0) }) == 40, "found by probing the runs")
            try await store.buildMarkFilter()
            #expect(!store.marks.needsFilter)
            #expect(try await store.duplicates((1...40).map { Self.deduped($0) } + (41...60).map { Self.deduped($0) }) == 40)
            #expect(store.marks.tailCount == 20)
            try store.close()

            let reopened = try SQLiteJobStore(config: storage(dir), clock: clock)
            #expect(reopened.marks.tailCount == 20, "the unindexed events' marks, loaded again")
            #expect(try await reopened.duplicates((1...60).map { Self.deduped($0) }) == 60)
            try reopened.close()
        }
    }

    @Test("a mark outlives its pruned event until its window passes, then its run goes")
    func marksOutliveEvents() async throws {
        try await withClock { clock, dir in
            let store = try SQLiteJobStore(config: storage(dir), clock: clock)
            // Routed nowhere, so only retention keeps them.
            try await store.append([Self.deduped(1, to: []), Self.deduped(2, to: [])])
            var retention = RetentionConfig()
            retention.delivered = .milliseconds(1)
            clock.advance(by: .milliseconds(10))
            // Not yet in the index: the events stay while their marks stand.
            #expect(try await store.prune(retention).events == 0)
            #expect(try await store.indexMessageIDs() == 2)
            #expect(try await store.prune(retention).events == 2)
            #expect(try await store.stats().events == 0)
            #expect(try await store.duplicates([Self.deduped(1)]) == 1, "the mark stands without its event")

            clock.advance(by: .milliseconds(Self.window))
            let report = try await store.prune(retention)
            #expect(report.dedupMarks == 2, "the run of 1 and 2 went; the copy of 1 was a duplicate and left no mark")
            #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mi.message_index") } == 0)
            #expect(try await store.duplicates([Self.deduped(1)]) == 0)
            try store.close()
        }
    }

    @Test("a queue from before marks were kept with events moves its standing marks into the index")
    func oldTableMoves() async throws {
        try await withClock { clock, dir in
            try SQLiteJobStore(config: storage(dir), clock: clock).close()
            let now = clock.now().millisecondsSinceEpoch
            let old = try DatabaseQueue(path: dir + "/" + SQLiteJobStore.fileName)
            try await old.write { db in
                try db.execute(
                    sql: """
                        CREATE TABLE dedup (source TEXT NOT NULL, message_id TEXT NOT NULL, until INTEGER NOT NULL,
                            PRIMARY KEY (source, message_id)) WITHOUT ROWID;
                        INSERT INTO dedup VALUES ('web', 'm-1', ?), ('web', 'm-2', ?), ('app', 'm-1', ?);
                        """,
                    arguments: [now + 1000, now - 1, now + 1000]
                )
            }
            try old.close()

            let store = try SQLiteJobStore(config: storage(dir), clock: clock)
            #expect(try await store.read { db in try db.tableExists("dedup") } == false)
            #expect(try await store.duplicates([Self.deduped(1), Self.deduped(2)]) == 1, "2's mark had passed")
            // The moved marks' entries belong to no event, and run with the new ones.
            #expect(try await store.indexMessageIDs() == 1)
            try await store.buildMarkFilter()
            #expect(try await store.duplicates([Self.deduped(1), Self.deduped(2)]) == 2)
            #expect(try await store.story(messageId: "m-1") == nil, "the moved mark is no event")
            try store.close()
        }
    }

    @Test("a mark in memory under another key's hash is told apart by its event's row")
    func hashCollision() async throws {
        try await withClock { clock, dir in
            let store = try SQLiteJobStore(config: storage(dir), clock: clock)
            try await store.append([Self.deduped(1)])
            let eventID = try #require(try await store.read { db in try Int64.fetchOne(db, sql: "SELECT id FROM events") })
            // As if m-2's key hashed the same as m-1's: the tail has a mark under m-2's hash
            // whose event is m-1.
            let far = clock.now().millisecondsSinceEpoch + Self.window
            store.marks.add(DedupKey(source: "web", messageId: "m-2").hashValue, RecentMarks.Mark(until: far, eventID: eventID))
            store.marks.settle(committed: true)
            #expect(try await store.duplicates([Self.deduped(2)]) == 0, "m-2 was never stored")
            #expect(try await store.duplicates([Self.deduped(1), Self.deduped(2)]) == 2)
            try store.close()
        }
    }

    @Test("marks of a transaction that does not commit are taken back; a committed one's stay")
    func provisionalMarks() {
        let marks = RecentMarks()
        marks.add(1, RecentMarks.Mark(until: 100, eventID: 10))
        #expect(marks.look(1).tail?.eventID == 10, "seen by a later copy in the same transaction")
        marks.settle(committed: true)
        marks.add(2, RecentMarks.Mark(until: 100, eventID: 11))
        marks.settle(committed: false)
        #expect(marks.look(1).tail?.eventID == 10)
        #expect(marks.look(2).tail == nil)
        #expect(marks.tailCount == 1)
    }

    @Test("two indexing passes at once index each event once")
    func concurrentPasses() async throws {
        try await withClock { clock, dir in
            let store = try SQLiteJobStore(config: storage(dir), clock: clock)
            for round in 0..<10 {
                try await store.append((1...20).map { Self.deduped(round * 20 + $0) })
                async let a = store.indexMessageIDs()
                async let b = store.indexMessageIDs()
                let (x, y) = try await (a, b)
                #expect(x + y == 20)
            }
            let entries = try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mi.message_index") }
            #expect(entries == 200)
            #expect(store.marks.tailCount == 0)
            #expect(try await store.duplicates((1...200).map { Self.deduped($0) }) == 200)
            try store.close()
        }
    }

    @Test("the filter never forgets an added key, and rules out most others")
    func bloomFilter() {
        var filter = BloomFilter(capacity: 10_000)
        let added = (0..<10_000).map { DedupKey(source: "web", messageId: "in-\($0)").hashValue }
        for hash in added { filter.insert(hash) }
        #expect(added.allSatisfy(filter.mayContain))
        let others = (0..<100_000).filter { filter.mayContain(DedupKey(source: "web", messageId: "out-\($0)").hashValue) }.count
        #expect(others < 3_000, "false positives: \(others) in 100,000")
        #expect(filter.count == 10_000)
    }
}

extension SQLiteJobStore {
    func duplicates(_ events: [NewEvent]) async throws -> Int {
        try await append(events).duplicates
    }
}
