import Foundation
import GRDB
import NIOConcurrencyHelpers
import Testing
@testable import SwitchyardCore

/// A fresh folder per test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async rethrows -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-test-\(UUIDv4.make())").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func makeEvent(_ n: Int, type: MessageType = .track, receivedAgo milliseconds: Int64 = 0) -> Event {
    let payload = #"{"type":"\#(type.rawValue)","event":"E\#(n)","userId":"u\#(n)","messageId":"m-\#(n)"}"#
    let receivedAt = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch - milliseconds)
    return Event(messageId: "m-\(n)", type: type, name: "E\(n)", userId: "u\(n)", anonymousId: nil, receivedAt: receivedAt, payload: Array(payload.utf8))
}

func storage(_ path: String, sync: StorageConfig.Sync = .normal, maxQueuedJobs: Int = 1_000_000) -> StorageConfig {
    var config = StorageConfig()
    config.path = path
    config.sync = sync
    config.maxQueuedJobs = maxQueuedJobs
    config.minFreeBytes = 0
    return config
}

@Suite("The durable queue")
struct QueueTests {
    @Test("an appended event and its jobs are stored together, and claimed oldest first")
    func appendAndClaim() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir, sync: .full))
            try await store.append([
                NewEvent(source: "web", event: makeEvent(1), destinations: ["a", "b"]),
                NewEvent(source: "web", event: makeEvent(2), destinations: ["a"]),
                NewEvent(source: "web", event: makeEvent(3), destinations: []),
            ])
            let stats = try await store.stats()
            #expect(stats.events == 3)
            #expect(stats.destinations["a"]?.counts == ["pending": 2])
            #expect(stats.destinations["b"]?.counts == ["pending": 1])

            let jobs = try await store.claim(destination: "a", limit: 10, leaseFor: .seconds(30))
            #expect(jobs.map(\.messageId) == ["m-1", "m-2"])
            #expect(jobs.allSatisfy { $0.attempt == 1 && $0.source == "web" })
            #expect(String(decoding: jobs[0].payload, as: UTF8.self) == #"{"type":"track","event":"E1","userId":"u1","messageId":"m-1"}"#)
            #expect(try await store.claim(destination: "a", limit: 10, leaseFor: .seconds(30)).isEmpty)
            try store.close()
        }
    }

    @Test("outcomes move jobs to succeeded, failed (due later) or dead")
    func outcomes() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["a"]) })
            let jobs = try await store.claim(destination: "a", limit: 3, leaseFor: .seconds(30))
            let later = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + 60_000)
            try await store.finish([
                JobResult(jobID: jobs[0].id, lease: jobs[0].lease, outcome: .succeeded),
                JobResult(jobID: jobs[1].id, lease: jobs[1].lease, outcome: .retry(at: later, error: "ThrottlingException")),
                JobResult(jobID: jobs[2].id, lease: jobs[2].lease, outcome: .dead(reason: "MalformedDetail")),
            ])
            #expect(try await store.stats().destinations["a"]?.counts == ["succeeded": 1, "failed": 1, "dead": 1])
            // The retry is not due for a minute.
            #expect(try await store.claim(destination: "a", limit: 3, leaseFor: .seconds(30)).isEmpty)
            try store.close()
        }
    }

    @Test("the backlog counts waiting and dead jobs per destination and the oldest waiting event, not delivered ones")
    func backlog() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1, receivedAgo: 90_000), destinations: ["a", "b"])])
            try await store.append((2...5).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["a"]) })
            let jobs = try await store.claim(destination: "a", limit: 3, leaseFor: .seconds(30))
            let later = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch + 60_000)
            try await store.finish([
                JobResult(jobID: jobs[0].id, lease: jobs[0].lease, outcome: .retry(at: later, error: "ThrottlingException")),
                JobResult(jobID: jobs[1].id, lease: jobs[1].lease, outcome: .succeeded),
            ])
            let forB = try await store.claim(destination: "b", limit: 1, leaseFor: .seconds(30))
            try await store.finish(forB.map { JobResult(jobID: $0.id, lease: $0.lease, outcome: .dead(reason: "MalformedDetail")) })
            let backlog = try await store.backlog()
            // a: m-1 failed (due later), m-2 delivered, m-3 still leased, m-4 and m-5 pending.
            #expect(backlog["a"]?.counts == ["failed": 1, "in_flight": 1, "pending": 2])
            #expect(backlog["b"]?.counts == ["dead": 1])
            #expect((90_000..<120_000).contains(backlog["a"]?.oldestWaitingAgeMs ?? 0))
            #expect(backlog["b"]?.oldestWaitingAgeMs == nil)
            // The full count adds the delivered job; the waiting ones agree.
            let stats = try await store.stats()
            #expect(stats.destinations["a"]?.counts == ["failed": 1, "in_flight": 1, "pending": 2, "succeeded": 1])
            #expect(abs((stats.destinations["a"]?.oldestWaitingAgeMs ?? 0) - (backlog["a"]?.oldestWaitingAgeMs ?? 0)) < 1_000)
            try store.close()
        }
    }

    @Test("claims and the backlog read the waiting jobs' index, never the whole table")
    func waitingIndexIsUsed() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            // SQLite uses a partial index only when a query repeats its condition word for word.
            let plans = try await store.read { db in
                try [
                    "SELECT id FROM jobs WHERE destination = 'd' AND \(SQLiteJobStore.waiting) AND available_at <= 1 ORDER BY available_at, event_id LIMIT 5",
                    "SELECT COUNT(*), MIN(event_id) FROM jobs WHERE destination = 'd' AND \(SQLiteJobStore.waiting)",
                ].map { sql in try String.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, adapter: ColumnMapping(["detail": "detail"])).joined(separator: " ") }
            }
            for plan in plans {
                #expect(plan.contains("USING") && plan.contains("INDEX jobs_waiting") && !plan.contains("TEMP B-TREE"), "\(plan)")
            }
            try store.close()
        }
    }

    @Test("a lease that runs out makes the job due again, and the old lease can no longer settle it")
    func leaseExpiry() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["a"])])
            let first = try await store.claim(destination: "a", limit: 1, leaseFor: .milliseconds(1))
            try await Task.sleep(for: .milliseconds(20))
            let second = try await store.claim(destination: "a", limit: 1, leaseFor: .seconds(30))
            #expect(second.map(\.id) == first.map(\.id))
            #expect(second[0].attempt == 2)
            try await store.finish([JobResult(jobID: first[0].id, lease: first[0].lease, outcome: .dead(reason: "stale worker"))])
            #expect(try await store.stats().destinations["a"]?.counts == ["in_flight": 1])
            try await store.finish([JobResult(jobID: second[0].id, lease: second[0].lease, outcome: .succeeded)])
            #expect(try await store.stats().destinations["a"]?.counts == ["succeeded": 1])
            try store.close()
        }
    }

    @Test("released jobs are due at once and the attempt is not counted")
    func release() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["a"])])
            let jobs = try await store.claim(destination: "a", limit: 1, leaseFor: .seconds(30))
            try await store.release(jobs)
            let again = try await store.claim(destination: "a", limit: 1, leaseFor: .seconds(30))
            #expect(again.first?.attempt == 1)
            try store.close()
        }
    }

    @Test("concurrent writers share commits and every event is stored exactly once")
    func groupCommit() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir, sync: .full))
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<500 {
                    group.addTask {
                        try await store.append([NewEvent(source: "web", event: makeEvent(n), destinations: ["a"])])
                    }
                }
                try await group.waitForAll()
            }
            let ids = try await store.read { db in try String.fetchAll(db, sql: "SELECT message_id FROM events") }
            #expect(ids.count == 500)
            #expect(Set(ids) == Set((0..<500).map { "m-\($0)" }))
            try store.close()
        }
    }

    @Test("with a flush stage, a write returns only after a flush that began after its commit, and flushes overlap commits")
    func flushAfterCommit() async throws {
        struct Trace { var committed: Set<Int> = []; var durable: Set<Int> = []; var commitsDuringFlush = 0; var flushing = false }
        let trace = NIOLockedValueBox(Trace())
        let commit = GroupCommit<Int>(sync: {
            let snapshot = trace.withLockedValue { $0.flushing = true; return $0.committed }
            // A flush lasts until a commit has happened beside it (or a second has passed).
            for _ in 0..<1000 where trace.withLockedValue({ $0.commitsDuringFlush == 0 }) { usleep(1000) }
            usleep(500)
            trace.withLockedValue { $0.durable.formUnion(snapshot); $0.flushing = false }
        }) { items in
            usleep(200)
            trace.withLockedValue { t in
                t.committed.formUnion(items)
                if t.flushing { t.commitsDuringFlush += 1 }
            }
        }
        let answered = await withTaskGroup(of: Bool.self) { group in
            for n in 0..<300 {
                group.addTask {
                    try? await commit.write([n])
                    return trace.withLockedValue { $0.durable.contains(n) }
                }
                // Once the first group is being flushed, the rest arrive while it is.
                if n == 0 {
                    while !trace.withLockedValue({ $0.flushing }) { try? await Task.sleep(for: .milliseconds(1)) }
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
            #expect(stats.destinations["a"]?.counts == ["pending": 50])
            try reopened.close()
        }
    }

    @Test("one server owns a queue: a second one is refused, naming the first, until the first closes it")
    func ownership() async throws {
        try await withTemporaryDirectory { dir in
            let owner = try SQLiteJobStore(config: storage(dir), recoverInFlight: true)
            #expect(throws: QueueLockError.inUse(path: dir + "/queue.lock", pid: getpid())) {
                try SQLiteJobStore(config: storage(dir), recoverInFlight: true)
            }
            // Tools that only read the queue may open it beside the server.
            let reader = try SQLiteJobStore(config: storage(dir))
            #expect(try await reader.stats().events == 0)
            try reader.close()
            try owner.close()
            let next = try SQLiteJobStore(config: storage(dir), recoverInFlight: true)
            try next.close()
        }
    }

    @Test("a full queue refuses new events instead of growing, and accepts again once drained")
    func full() async throws {
        try await withTemporaryDirectory { dir in
            let store = try SQLiteJobStore(config: storage(dir, maxQueuedJobs: 3))
            try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["a"]) })
            await #expect(throws: StoreError.full(queued: 3, limit: 3)) {
                try await store.append([NewEvent(source: "web", event: makeEvent(4), destinations: ["a"])])
            }
            let jobs = try await store.claim(destination: "a", limit: 1, leaseFor: .seconds(30))
            try await store.finish([JobResult(jobID: jobs[0].id, lease: jobs[0].lease, outcome: .succeeded)])
            try await store.append([NewEvent(source: "web", event: makeEvent(4), destinations: ["a"])])
            #expect(try await store.stats().events == 4)
            try store.close()
        }
    }

    @Test("the waiting-job count survives a restart, so the limit holds across restarts")
    func countAfterRestart() async throws {
        try await withTemporaryDirectory { dir in
            do {
                let store = try SQLiteJobStore(config: storage(dir, maxQueuedJobs: 2))
                try await store.append((1...2).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["a"]) })
                try store.close()
            }
            let store = try SQLiteJobStore(config: storage(dir, maxQueuedJobs: 2))
            await #expect(throws: StoreError.self) {
                try await store.append([NewEvent(source: "web", event: makeEvent(3), destinations: ["a"])])
            }
            try store.close()
        }
    }

    @Test("upgrading a queue made by an older version keeps every event, job and record, and their ids")
    func upgrade() async throws {
        try await withTemporaryDirectory { dir in
            let old = try DatabasePool(path: (dir as NSString).appendingPathComponent(SQLiteJobStore.fileName))
            try SQLiteJobStore.migrator.migrate(old, upTo: "v6-received-from-events")
            try await old.write { db in
                try db.execute(sql: """
                    INSERT INTO events (message_id, source, type, received_at, payload) VALUES ('m-1', 'web', 'track', 1, x'7b7d'), ('m-2', 'web', 'track', 2, x'7b7d');
                    INSERT INTO jobs (event_id, destination, state, available_at, updated_at) VALUES (1, 'd', 'pending', 0, 0), (2, 'd', 'dead', 0, 0);
                    INSERT INTO delivery_log (id, at, kind, status, message_id, event_id) VALUES (9, 3, 'attempt', 'failed', 'm-2', 2);
                    DELETE FROM delivery_log;
                    INSERT INTO delivery_log (id, at, kind, status, message_id, event_id) VALUES (7, 3, 'attempt', 'failed', 'm-2', 2);
                    """)
            }
            try old.close()

            let store = try SQLiteJobStore(config: storage(dir))
            let stats = try await store.stats()
            #expect(stats.events == 2 && stats.destinations["d"]?.counts == ["pending": 1, "dead": 1])
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
}
