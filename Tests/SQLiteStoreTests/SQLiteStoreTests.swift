import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import Subprocess
import SwitchyardTestSupport
import SystemPackage
import Testing

@testable import SwitchyardCore
@testable import SwitchyardSQLite

@Suite("The embedded SQLite store", .timeLimit(.minutes(2)))
struct SQLiteStoreTests {
    @Test("claims and the backlog read the waiting jobs' index, never the whole table")
    func waitingIndexIsUsed() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            // SQLite uses a partial index only when a query repeats its condition word for word.
            let plans = try await store.read { db in
                try [
                    SQLiteJobStore.claimSQL.replacingOccurrences(of: "?", with: "1"),
                    "SELECT COUNT(*), MIN(event_id) FROM jobs WHERE destination = 'd' AND \(SQLiteJobStore.waiting)",
                ].map { sql in
                    try String.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, adapter: ColumnMapping(["detail": "detail"])).joined(
                        separator: " "
                    )
                }
            }
            for plan in plans {
                #expect(plan.contains("USING") && plan.contains("INDEX jobs_waiting") && !plan.contains("TEMP B-TREE"), "\(plan)")
            }
            try store.close()
        }
    }

    @Test("with a flush stage, a write returns only after a flush that began after its commit, and flushes overlap commits")
    func flushAfterCommit() async throws {
        struct Trace {
            var committed: Set<Int> = []
            var durable: Set<Int> = []
            var commitsDuringFlush = 0
            var flushing = false
            var flushesStarted = 0
        }
        let trace = NIOLockedValueBox(Trace())
        let commit = GroupCommit<Int, Int>(
            sync: {
                let snapshot = trace.withLockedValue {
                    $0.flushing = true
                    $0.flushesStarted += 1
                    return $0.committed
                }
                // A flush lasts until a commit has happened beside it (or a second has passed).
                for _ in 0..<1000 where trace.withLockedValue({ $0.commitsDuringFlush == 0 }) { usleep(1000) }
                usleep(500)
                trace.withLockedValue {
                    $0.durable.formUnion(snapshot)
                    $0.flushing = false
                }
            },
            commit: { items in
                usleep(200)
                trace.withLockedValue { t in
                    t.committed.formUnion(items)
                    if t.flushing { t.commitsDuringFlush += 1 }
                }
                return items.map { $0 * 2 }
            }
        )
        let answered = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<300 {
                group.addTask {
                    // Each writer gets the commit's outputs for its own items.
                    guard (try? await commit.write([n])) == [n * 2] else { return false }
                    return trace.withLockedValue { $0.durable.contains(n) }
                }
                // Once the first group's flush has begun, the rest arrive while it lasts. Waiting for
                // it to have begun, not for it to be under way: a loaded machine may run this loop
                // only after that flush ended, and `flushing` would then never be seen. A cancelled
                // test (its time limit) stops waiting instead of spinning on a sleep that throws.
                if n == 0 {
                    while trace.withLockedValue({ $0.flushesStarted == 0 }), !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(1))
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(answered.count == 300 && answered.allSatisfy { $0 })
        #expect(trace.withLockedValue { $0.commitsDuringFlush } > 0)
    }

    @Test("a store that was never closed (a crash) reopens with every acknowledged event")
    func reopenAfterUncleanStop() async throws {
        try await withTemporaryDirectory { dir in
            let crashed = dir + "/crashed"
            do {
                let store = try SQLiteJobStore(config: storage(dir + "/live", sync: .full))
                for n in 0..<50 {
                    try await store.append([NewEvent(source: "web", event: makeEvent(n), destinations: ["a"])])
                }
                // Copy the files while the store is still open: what a power cut would leave behind,
                // the write-ahead log not yet checkpointed into the database.
                try FileManager.default.createDirectory(atPath: crashed, withIntermediateDirectories: true)
                for suffix in ["", "-wal"] {
                    let from = dir + "/live/queue.sqlite" + suffix
                    if FileManager.default.fileExists(atPath: from) {
                        try FileManager.default.copyItem(atPath: from, toPath: crashed + "/queue.sqlite" + suffix)
                    }
                }
                #expect(FileManager.default.fileExists(atPath: crashed + "/queue.sqlite-wal"))
                try store.close()
            }
            let reopened = try SQLiteJobStore(config: storage(crashed))
            let stats = try await reopened.stats()
            #expect(stats.events == 50)
            #expect(stats.destinations["a"]?.counts == [.pending: 50])
            try reopened.close()
        }
    }

    @Test("one server owns a queue: a second one is refused, naming the first, until the first closes it")
    func ownership() async throws {
        try await withTemporaryDirectory { dir in
            let owner = try SQLiteJobStore(config: storage(dir), owner: true)
            #expect(throws: QueueLockError.inUse(path: dir + "/queue.lock", pid: getpid())) {
                try SQLiteJobStore(config: storage(dir), owner: true)
            }
            // Tools that only read the queue may open it beside the server.
            let reader = try SQLiteJobStore(config: storage(dir))
            #expect(try await reader.stats().events == 0)
            try reader.close()
            try owner.close()
            let next = try SQLiteJobStore(config: storage(dir), owner: true)
            try next.close()
        }
    }

    @Test("a queue closed while a child process still shares its lock's open file opens again once the child lets go")
    func lockSharedWithAChild() async throws {
        try await withTemporaryDirectory { dir in
            let owner = try SQLiteJobStore(config: storage(dir), owner: true)
            try owner.close()
            // What a spawn does between fork and exec: the child holds the same open file. Here
            // the child keeps it as its standard input for a while, and the lock with it.
            let fd = open(dir + "/queue.lock", O_RDWR)
            #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
            let child = try await Subprocess.run(
                .path("/bin/sleep"),
                arguments: ["0.2"],
                input: .fileDescriptor(FileDescriptor(rawValue: fd), closeAfterSpawningProcess: false),
                output: .discarded,
                error: .discarded
            ) { _ in
                close(fd)
                let reopened = try SQLiteJobStore(config: storage(dir), owner: true)
                try reopened.close()
            }
            #expect(child.terminationStatus.isSuccess)
        }
    }

    @Test("a transformed entry is stored without the event it embeds, and read back exactly as sent")
    func transformedWithoutEvent() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            let subscription = store.liveLog.subscribe(LogFilter(messageId: "m-1", kind: .transformed))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
            let destination = EnvelopeDestination()
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["succeeded": 1] }
            let sent = try #require(destination.sent.withLockedValue { $0.first })

            // Stored: the entry minus the event's escaped copy, and where it was.
            let stored = try await store.read { db in
                try Row.fetchOne(db, sql: "SELECT detail, detail_event FROM delivery_log WHERE kind = 'transformed'").map {
                    ($0["detail"] as String?, $0["detail_event"] as Int?)
                }
            }
            let text = try #require(stored?.0)
            #expect(stored?.1 != nil)
            #expect(text.utf8.count < sent.count - makeEvent(1).payload.count)
            #expect(!text.contains("m-1"))

            // Read back from the log, the story and the live stream: the entry as it was sent.
            let whole = try JSONParser.parse(sent)
            let story = try #require(try await store.story(messageId: "m-1"))
            #expect(story.records.first { $0.kind == .transformed }?.detail == whole)
            #expect(try await store.records(LogQuery(filter: LogFilter(kind: .transformed))).first?.detail == whole)
            for await item in subscription.stream {
                if case .record(let r) = item {
                    #expect(r.detail == whole)
                    break
                }
            }

            // Once the event itself is gone, the entry says so instead of failing to read.
            try await store.pool.write { db in try db.execute(sql: "DELETE FROM events") }
            let orphan = try await store.records(LogQuery(filter: LogFilter(kind: .transformed))).first?.detail
            #expect(orphan?[path: "Detail"] == .string("(the event was pruned from the queue)"))
            #expect(orphan?[path: "Source"] == .string("test"))
            try store.close()
        }
    }

    @Test("upgrading a queue made by an older version keeps every event, job and record, and their ids")
    func upgrade() async throws {
        try await withTemporaryDirectory { dir in
            let old = try DatabasePool(path: (dir as NSString).appendingPathComponent(SQLiteJobStore.fileName))
            try SQLiteJobStore.migrator.migrate(old, upTo: "v6-received-from-events")
            try await old.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO events (message_id, source, type, received_at, payload) VALUES ('m-1', 'web', 'track', 1, x'7b7d'), ('m-2', 'web', 'track', 2, x'7b7d');
                        INSERT INTO jobs (event_id, destination, state, available_at, updated_at) VALUES (1, 'd', 'pending', 0, 0), (2, 'd', 'dead', 0, 0);
                        INSERT INTO delivery_log (id, at, kind, status, message_id, event_id) VALUES (9, 3, 'attempt', 'failed', 'm-2', 2);
                        DELETE FROM delivery_log;
                        INSERT INTO delivery_log (id, at, kind, status, message_id, event_id) VALUES (7, 3, 'attempt', 'failed', 'm-2', 2);
                        """
                )
            }
            try old.close()

            let store = try SQLiteJobStore(config: storage(dir))
            let stats = try await store.stats()
            #expect(stats.events == 2 && stats.destinations["d"]?.counts == [.pending: 1, .dead: 1])
            #expect(try await store.story(messageId: "m-2")?.records.map(\.id) == [2, 7])
            // Id 9 was handed out once (then deleted): the next record comes after it.
            try await store.append([NewEvent(source: "web", event: makeEvent(3), destinations: ["d"])])
            #expect(try await store.story(messageId: "m-3")?.records.map(\.id) == [10])
            let claimed = try await store.claim(destination: "d", limit: 10, leaseFor: .seconds(60))
            #expect(claimed.map(\.messageId) == ["m-1", "m-3"])
            try store.close()
        }
    }

    @Test("an unwritable storage folder is refused with a clear error")
    func unwritable() throws {
        var config = storage("/proc/switchyard-cannot-write-here")
        config.minFreeBytes = 0
        #expect(throws: (any Error).self) { try SQLiteJobStore(config: config) }
    }

    @Test("an event is found by message id before its id is indexed, after, and never once pruned")
    func messageIndex() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: []) })
            #expect(try await store.story(messageId: "m-2")?.messageId == "m-2")
            #expect(try await store.indexMessageIDs(limit: 2) == 2)
            try await store.append([NewEvent(source: "web", event: makeEvent(4), destinations: [])])
            // m-1 and m-2 are indexed; m-3 and m-4 are in the unindexed tail. All are found, once.
            for n in 1...4 {
                #expect(try await store.story(messageId: "m-\(n)")?.records.count == 1)
                #expect(try await store.records(LogQuery(filter: LogFilter(messageId: "m-\(n)"))).count == 1)
            }
            #expect(try await store.indexMessageIDs() == 2)
            #expect(try await store.indexMessageIDs() == 0)
            #expect(try await store.story(messageId: "m-4")?.messageId == "m-4")
            #expect(try await store.story(messageId: "m-5") == nil)

            try await Task.sleep(for: .milliseconds(5))
            var tight = RetentionConfig()
            tight.delivered = .milliseconds(1)
            _ = try await store.prune(tight)
            #expect(try await store.story(messageId: "m-1") == nil)
            // The index's next pass drops the runs of pruned events.
            #expect(try await store.indexMessageIDs() == 0)
            #expect(try await store.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM mi.message_index") } == 0)
            try store.close()
        }
    }

    @Test("the message index is written as sorted runs that merge as they pile up, every id still found")
    func messageIndexRuns() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            for n in 1...20 {
                try await store.append([NewEvent(source: "web", event: makeEvent(n), destinations: [])])
                #expect(try await store.indexMessageIDs() == 1)
            }
            // Eight runs of one id became one run of eight, twice; four single runs wait for more.
            let runs = try await store.read { db in try Int.fetchAll(db, sql: "SELECT entries FROM mi.message_runs ORDER BY run") }
            #expect(runs == [8, 8, 1, 1, 1, 1])
            for n in 1...20 {
                #expect(try await store.story(messageId: "m-\(n)")?.records.count == 1)
            }
            try store.close()
        }
    }

    @Test("a log id is never handed out twice, even after pruning took the newest records and events")
    func logIDsNotReused() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: []) })
            let last = try #require(try await store.records(LogQuery()).first?.id)
            try await Task.sleep(for: .milliseconds(5))
            var tight = RetentionConfig()
            tight.delivered = .milliseconds(1)
            #expect(try await store.prune(tight).events == 3)
            try store.close()

            let reopened = try SQLiteJobStore(config: storage(dir))
            try await reopened.append([NewEvent(source: "web", event: makeEvent(4), destinations: [])])
            #expect(try await reopened.records(LogQuery()).map(\.id) == [last + 1])
            try reopened.close()
        }
    }
}
