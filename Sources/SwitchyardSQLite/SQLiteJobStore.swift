import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import SwitchyardCore

/// The embedded queue: one SQLite file in WAL mode. Events and their jobs are written in one
/// transaction through `GroupCommit`, so a 200 always means "on disk", and a crash at any moment
/// leaves either the whole request or none of it.
public final class SQLiteJobStore: JobStore {
    public let path: String
    let pool: DatabasePool
    /// The message-id index, in a database file of its own (`messages.sqlite`) with its own
    /// writer, so indexing never takes the queue's one writer from ingestion. It is derived data:
    /// rebuilt from `events` when missing, and lookups also scan the events not yet indexed.
    let messageIndex: DatabasePool
    public let liveLog = LiveLogHub()
    private let config: StorageConfig
    private let logger: Logger
    private let committer: GroupCommit<NewEvent>
    /// Outcomes are not flushed on their own: a lost outcome only means an event is delivered
    /// again, and the next ingestion flush or checkpoint covers them anyway.
    private let finisher: GroupCommit<JobResult>
    private let walSync: WALSync?
    /// Held by the server that owns the queue (`owner`), until `close()`.
    private let ownership: QueueLock?
    /// Jobs not yet succeeded or dead, kept in memory so the queue-full check costs nothing.
    private let queued: NIOLockedValueBox<Int>
    /// Signalled when jobs may have become claimable (appended, let go from behind their key, replayed).
    private let appended: Wakeup
    /// The last failed ingestion commit, cleared by the next one that succeeds: `/ready` reports
    /// it, since a small probe write can still fit on a disk that refuses real batches.
    private let lastWriteFailure = NIOLockedValueBox<(at: Timestamp, reason: String)?>(nil)

    public static let fileName = "queue.sqlite"
    public static let messageIndexFileName = "messages.sqlite"

    /// - Parameter owner: the server that serves the queue passes true: it takes the folder's
    ///   lock (one process per queue), which is what lets `recoverInterrupted` treat every
    ///   lease as its own. Tools that only look at the queue pass false.
    public init(config: StorageConfig, logger: Logger = Logger(label: "switchyard.storage"), owner: Bool = false) throws {
        self.config = config
        self.logger = logger
        let directory = config.path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        // Recovering in-flight jobs is only right for the one process that owns the queue.
        ownership = owner ? try QueueLock(directory: directory) : nil

        let indexPath = (directory as NSString).appendingPathComponent(Self.messageIndexFileName)
        var indexConfiguration = Configuration()
        indexConfiguration.busyMode = .timeout(5)
        indexConfiguration.label = "switchyard.message-index"
        indexConfiguration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        let messageIndex = try DatabasePool(path: indexPath, configuration: indexConfiguration)
        try Self.messageIndexMigrator.migrate(messageIndex)
        self.messageIndex = messageIndex

        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            // Readers see the message index as `mi` (`eventsWithMessageID`). Only readers: the
            // writer's transactions would otherwise lock the index file too.
            if db.configuration.readonly {
                try db.execute(sql: "ATTACH DATABASE ? AS mi", arguments: [indexPath])
            }
            // `sync: full` is kept by `WALSync` after each ingestion commit, not by SQLite inside it.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            // The writer gets a 32 MiB page cache (index pages stay hot across commits); readers
            // keep SQLite's small default. No memory-mapping: mapped pages count against the
            // process's memory once per connection, and the backlog belongs on disk.
            if !db.configuration.readonly {
                try db.execute(sql: "PRAGMA cache_size = -32768")
            }
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Checkpoint every ~40 MiB of log instead of every 4 MiB: hot index pages are then
            // copied into the database once per checkpoint rather than once per few commits.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 10000")
        }
        configuration.label = "switchyard.queue"
        let pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
        self.pool = pool

        let waiting = try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM jobs WHERE \(Self.waiting)") ?? 0
        }
        let queued = NIOLockedValueBox(waiting)
        self.queued = queued
        let appended = Wakeup()
        self.appended = appended
        let minFree = config.minFreeBytes
        let directoryPath = directory
        let hub = liveLog
        let walSync = config.sync == .full ? WALSync(databasePath: path) : nil
        self.walSync = walSync
        var flush: GroupCommit<NewEvent>.Sync?
        if let walSync {
            flush = { () throws(StoreError) in try walSync.sync() }
        }
        committer = GroupCommit(label: "switchyard.ingest-commit", sync: flush) { (events: [NewEvent]) throws(StoreError) in
            try Self.checkFreeSpace(atPath: directoryPath, minFreeBytes: minFree)
            try Self.writeAndPublish(pool, hub) { db in ((), try Self.insert(events, db: db)) }
        }
        finisher = GroupCommit(label: "switchyard.outcome-commit") { (results: [JobResult]) throws(StoreError) in
            let now = Timestamp.now()
            let outcome = try Self.writeAndPublish(pool, hub) { db in
                let outcome = try Self.settle(results, db: db, now: now)
                return (outcome, outcome.records)
            }
            queued.withLockedValue { $0 -= outcome.settled }
            // Jobs let go from behind their key are due now: their worker need not wait for a poll.
            if outcome.released > 0 { appended.signal() }
        }
        logger.info("queue opened", metadata: ["path": "\(path)", "sync": "\(config.sync.rawValue)", "waitingJobs": "\(waiting)"])
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE events (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        message_id TEXT NOT NULL,
                        source TEXT NOT NULL,
                        type TEXT NOT NULL,
                        name TEXT,
                        user_id TEXT,
                        anonymous_id TEXT,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL
                    );
                    CREATE INDEX events_message_id ON events(message_id);
                    CREATE TABLE jobs (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                        destination TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        -- pending/failed: when it may be tried; in_flight: when its lease runs out.
                        -- last_error: the latest failure, kept after a later success so retries stay visible.
                        available_at INTEGER NOT NULL,
                        lease INTEGER,
                        last_error TEXT,
                        updated_at INTEGER NOT NULL
                    );
                    CREATE INDEX jobs_due ON jobs(destination, state, available_at);
                    CREATE INDEX jobs_event ON jobs(event_id);
                    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                    """
            )
        }
        migrator.registerMigration("v2-delivery-log") { db in
            try db.execute(
                sql: """
                    CREATE TABLE delivery_log (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        status TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        source TEXT,
                        destination TEXT,
                        type TEXT,
                        event TEXT,
                        user_id TEXT,
                        attempt INTEGER,
                        batch_id TEXT,
                        request_id TEXT,
                        reference TEXT,
                        error_code TEXT,
                        error_message TEXT,
                        http_status INTEGER,
                        next_retry_at INTEGER,
                        size INTEGER,
                        detail TEXT
                    );
                    CREATE INDEX delivery_log_message ON delivery_log(message_id);
                    CREATE INDEX delivery_log_at ON delivery_log(at);
                    CREATE INDEX jobs_dead ON jobs(state, updated_at) WHERE state = 'dead';
                    """
            )
        }
        migrator.registerMigration("v3-log-by-event") { db in
            // Records are found through their event's row (an append-only integer index) rather
            // than a second index on random message ids, which made every insert a random write.
            try db.execute(
                sql: """
                    ALTER TABLE delivery_log ADD COLUMN event_id INTEGER;
                    UPDATE delivery_log SET event_id = (SELECT MAX(id) FROM events WHERE events.message_id = delivery_log.message_id);
                    DROP INDEX delivery_log_message;
                    CREATE INDEX delivery_log_event ON delivery_log(event_id);
                    """
            )
        }
        migrator.registerMigration("v4-deferred-message-index") { db in
            // A B-tree index on random message ids, updated in every ingestion commit, dirtied one
            // page per event and halved ingestion. Message ids are now indexed in large batches
            // off the request path (`indexMessageIDs`); lookups scan the short unindexed tail.
            try db.execute(
                sql: """
                    DROP INDEX events_message_id;
                    CREATE TABLE message_index (event_id INTEGER PRIMARY KEY, message_id TEXT NOT NULL);
                    CREATE INDEX message_index_message ON message_index(message_id);
                    INSERT INTO message_index (event_id, message_id) SELECT id, message_id FROM events;
                    """
            )
        }
        migrator.registerMigration("v5-message-index-runs") { db in
            // One B-tree on random ids, even filled in batches, dirtied nearly every page per batch
            // once it outgrew the cache. The index is now a set of runs, each written in key order.
            try db.execute(
                sql: """
                    DROP TABLE message_index;
                    CREATE TABLE message_runs (
                        run INTEGER PRIMARY KEY,
                        -- The run holds the ids of events after < id <= through.
                        after INTEGER NOT NULL,
                        through INTEGER NOT NULL,
                        entries INTEGER NOT NULL
                    );
                    CREATE TABLE message_index (
                        run INTEGER NOT NULL,
                        message_id TEXT NOT NULL,
                        event_id INTEGER NOT NULL,
                        PRIMARY KEY (run, message_id, event_id)
                    ) WITHOUT ROWID;
                    INSERT INTO message_runs (run, after, through, entries)
                        SELECT 1, 0, MAX(id), COUNT(*) FROM events HAVING COUNT(*) > 0;
                    INSERT INTO message_index (run, message_id, event_id)
                        SELECT 1, message_id, id FROM events ORDER BY message_id, id;
                    """
            )
        }
        migrator.registerMigration("v6-received-from-events") { db in
            // `received` records are now read from the events themselves, which share the log's
            // id sequence; older log records move past every existing event id to keep ids unique.
            try db.execute(
                sql: """
                    DELETE FROM delivery_log WHERE kind = 'received';
                    UPDATE delivery_log SET id = id + (SELECT MAX(
                        COALESCE((SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('events', 'delivery_log')), 0),
                        COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT MAX(id) FROM delivery_log), 0)));
                    """
            )
        }
        migrator.registerMigration("v7-plain-rowids") { db in
            // AUTOINCREMENT rewrote sqlite_sequence on every insert (about a tenth of the writer's
            // time). Job ids may now be reused after pruning (a claim is proven by its random
            // lease, not by the id); the log's ids keep their high-water mark in `meta`.
            let counters =
                try db.tableExists("sqlite_sequence")
                ? Int64.fetchOne(db, sql: "SELECT MAX(seq) FROM sqlite_sequence WHERE name IN ('events', 'delivery_log')") ?? 0 : 0
            try noteLastLogID(max(counters, try nextLogID(db) - 1), db)
            try db.execute(
                sql: """
                    CREATE TABLE new_events (
                        id INTEGER PRIMARY KEY,
                        message_id TEXT NOT NULL,
                        source TEXT NOT NULL,
                        type TEXT NOT NULL,
                        name TEXT,
                        user_id TEXT,
                        anonymous_id TEXT,
                        received_at INTEGER NOT NULL,
                        payload BLOB NOT NULL
                    );
                    INSERT INTO new_events SELECT id, message_id, source, type, name, user_id, anonymous_id, received_at, payload FROM events;
                    DROP TABLE events;
                    ALTER TABLE new_events RENAME TO events;

                    CREATE TABLE new_jobs (
                        id INTEGER PRIMARY KEY,
                        event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
                        destination TEXT NOT NULL,
                        state TEXT NOT NULL,
                        attempts INTEGER NOT NULL DEFAULT 0,
                        available_at INTEGER NOT NULL,
                        lease INTEGER,
                        last_error TEXT,
                        updated_at INTEGER NOT NULL
                    );
                    INSERT INTO new_jobs SELECT id, event_id, destination, state, attempts, available_at, lease, last_error, updated_at FROM jobs;
                    DROP TABLE jobs;
                    ALTER TABLE new_jobs RENAME TO jobs;
                    CREATE INDEX jobs_due ON jobs(destination, state, available_at);
                    CREATE INDEX jobs_event ON jobs(event_id);
                    CREATE INDEX jobs_dead ON jobs(state, updated_at) WHERE state = 'dead';

                    CREATE TABLE new_delivery_log (
                        id INTEGER PRIMARY KEY,
                        at INTEGER NOT NULL,
                        kind TEXT NOT NULL,
                        status TEXT NOT NULL,
                        message_id TEXT NOT NULL,
                        source TEXT,
                        destination TEXT,
                        type TEXT,
                        event TEXT,
                        user_id TEXT,
                        attempt INTEGER,
                        batch_id TEXT,
                        request_id TEXT,
                        reference TEXT,
                        error_code TEXT,
                        error_message TEXT,
                        http_status INTEGER,
                        next_retry_at INTEGER,
                        size INTEGER,
                        detail TEXT,
                        event_id INTEGER
                    );
                    INSERT INTO new_delivery_log SELECT \(recordColumns) FROM delivery_log;
                    DROP TABLE delivery_log;
                    ALTER TABLE new_delivery_log RENAME TO delivery_log;
                    CREATE INDEX delivery_log_at ON delivery_log(at);
                    CREATE INDEX delivery_log_event ON delivery_log(event_id);
                    """
            )
        }
        migrator.registerMigration("v8-waiting-index") { db in
            // Only jobs still to be delivered are indexed for claiming: a delivered job leaves the
            // index (one delete) instead of moving to a `succeeded` section of it (a delete and an
            // insert), a claim is one walk instead of one per state, and the queue's depth and
            // oldest event are read from this index alone.
            try db.execute(
                sql: """
                    DROP INDEX jobs_due;
                    CREATE INDEX jobs_waiting ON jobs(destination, available_at, event_id, state) WHERE \(waiting);
                    """
            )
        }
        migrator.registerMigration("v9-transformed-without-event") { db in
            // A transformed record may store its entry without the event it embeds (`EmbeddedEvent`);
            // this is where the event's text goes back. Older records keep the whole entry.
            try db.execute(sql: "ALTER TABLE delivery_log ADD COLUMN detail_event INTEGER")
        }
        migrator.registerMigration("v10-message-index-own-file") { db in
            // The message index moved to `messages.sqlite`, where the indexer rebuilds it from
            // `events` (about 2 s per million); lookups scan the events not yet indexed meanwhile.
            try db.execute(sql: "DROP TABLE message_index; DROP TABLE message_runs;")
        }
        migrator.registerMigration("v11-ordering-keys") { db in
            // Jobs of destinations that keep per-key order carry their key. Of a key's jobs still to
            // be delivered, only the oldest can be claimed; the rest wait `blocked` (never due) and
            // are let go one at a time. This index finds a key's jobs still to be delivered, by
            // state, oldest first; it holds nothing for destinations without ordering.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN ordering_key TEXT;
                    CREATE INDEX jobs_ordering ON jobs(destination, ordering_key, state, id) WHERE ordering_key IS NOT NULL AND \(waiting);
                    """
            )
        }
        migrator.registerMigration("v12-destination-rules") { db in
            // A destination with rules gets one job per rule an event matches; the job and its
            // log records name the rule.
            try db.execute(
                sql: """
                    ALTER TABLE jobs ADD COLUMN rule TEXT;
                    ALTER TABLE delivery_log ADD COLUMN rule TEXT;
                    """
            )
        }
        return migrator
    }

    static var messageIndexMigrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1-runs") { db in
            try db.execute(
                sql: """
                    CREATE TABLE message_runs (
                        run INTEGER PRIMARY KEY,
                        -- The run holds the ids of events after < id <= through.
                        after INTEGER NOT NULL,
                        through INTEGER NOT NULL,
                        entries INTEGER NOT NULL
                    );
                    CREATE TABLE message_index (
                        run INTEGER NOT NULL,
                        message_id TEXT NOT NULL,
                        event_id INTEGER NOT NULL,
                        PRIMARY KEY (run, message_id, event_id)
                    ) WITHOUT ROWID;
                    """
            )
        }
        return migrator
    }

    /// Rows of `events` with a message id, as a subquery taking the id twice: one probe of each
    /// sorted run of the index, plus a scan of the events stored since the last run was cut.
    /// Runs on the queue's readers, which attach the index as `mi`.
    static let eventsWithMessageID = """
        SELECT m.event_id FROM mi.message_runs r CROSS JOIN mi.message_index m ON m.run = r.run AND m.message_id = ?
        UNION ALL SELECT id FROM events WHERE id > (SELECT COALESCE(MAX(through), 0) FROM mi.message_runs) AND message_id = ?
        """

    private static let indexedThrough = "SELECT COALESCE(MAX(through), 0) FROM message_runs"

    /// Indexes the message ids of up to `limit` events stored since the last call as one new run,
    /// sorted by message id, then merges small runs; returns how many ids it indexed.
    ///
    /// Why runs: message ids are random, so inserting them into one B-tree dirties a page per id,
    /// and once that tree outgrows the page cache every batch rewrites nearly all of it. A run is
    /// written in key order, so it only appends pages. Lookups probe each run; merging keeps their
    /// number logarithmic. The ids are read and sorted on one of the queue's readers and written to
    /// the index's own file: the queue's writer is not involved.
    public func indexMessageIDs(limit: Int = 50_000) async throws -> Int {
        let through = try await messageIndex.read { db in try Int64.fetchOne(db, sql: Self.indexedThrough) ?? 0 }
        let (oldest, ids, last) = try await pool.read { db -> (Int64, [(String, Int64)], Int64?) in
            let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events") ?? Int64.max
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT message_id, id FROM (SELECT id, message_id FROM events WHERE id > ? ORDER BY id LIMIT ?) ORDER BY message_id, id
                    """,
                arguments: [through, limit]
            )
            var ids: [(String, Int64)] = []
            var last: Int64?
            while let row = try rows.next() {
                let id: Int64 = row[1]
                ids.append((row[0], id))
                last = max(last ?? id, id)
            }
            return (oldest, ids, last)
        }
        return try await messageIndex.write { db in
            // Runs whose events are all pruned go (ids of pruned events inside a run that still has
            // live ones are dropped when that run is next merged).
            try db.execute(
                sql: "DELETE FROM message_index WHERE run IN (SELECT run FROM message_runs WHERE through < ?)",
                arguments: [oldest]
            )
            try db.execute(sql: "DELETE FROM message_runs WHERE through < ?", arguments: [oldest])
            guard let last else { return 0 }
            try db.execute(
                sql: "INSERT INTO message_runs (after, through, entries) VALUES (?, ?, ?)",
                arguments: [through, last, ids.count]
            )
            let run = db.lastInsertedRowID
            let insert = try db.cachedStatement(sql: "INSERT INTO message_index (run, message_id, event_id) VALUES (?, ?, ?)")
            for (messageID, eventID) in ids {
                var row = RowWriter(insert)
                row.bind(run)
                row.bind(messageID)
                row.bind(eventID)
                try row.step(db)
            }
            try Self.mergeMessageRuns(db, oldestEvent: oldest)
            return ids.count
        }
    }

    /// Runs are grouped in tiers by size (powers of 8). When the newest `fanIn` runs share a tier
    /// they become one run of the next: every id is rewritten about once per tier, at most
    /// log8(`maxMergedEntries`) times, and there are at most `fanIn` - 1 runs per tier. Runs larger
    /// than `maxMergedEntries` are left alone so a merge never holds the writer for long.
    static func mergeMessageRuns(_ db: Database, oldestEvent: Int64, fanIn: Int = 8, maxMergedEntries: Int = 250_000) throws {
        func tier(_ entries: Int) -> Int { entries < 8 ? 0 : (Int.bitWidth - 1 - entries.leadingZeroBitCount) / 3 }
        while true {
            let newest = try Row.fetchAll(
                db,
                sql: "SELECT run, after, through, entries FROM message_runs ORDER BY run DESC LIMIT ?",
                arguments: [fanIn]
            )
            guard newest.count == fanIn else { return }
            let sizes = newest.map { $0["entries"] as Int }
            let total = sizes.reduce(0, +)
            guard total <= maxMergedEntries, Set(sizes.map(tier)).count == 1 else { return }
            let runs = newest.map { $0["run"] as Int64 }
            let list = runs.map(String.init).joined(separator: ",")
            try db.execute(
                sql: "INSERT INTO message_runs (after, through, entries) VALUES (?, ?, 0)",
                arguments: [newest.last!["after"] as Int64, newest.first!["through"] as Int64]
            )
            let merged = db.lastInsertedRowID
            // Ids older than the oldest stored event are dropped on the way. (Others of pruned
            // events may stay: a lookup joins to `events` and finds nothing for them.)
            try db.execute(
                sql: """
                    INSERT INTO message_index (run, message_id, event_id)
                    SELECT ?, m.message_id, m.event_id FROM message_index m
                    WHERE m.run IN (\(list)) AND m.event_id >= ?
                    ORDER BY m.message_id, m.event_id
                    """,
                arguments: [merged, oldestEvent]
            )
            try db.execute(sql: "UPDATE message_runs SET entries = ? WHERE run = ?", arguments: [db.changesCount, merged])
            try db.execute(sql: "DELETE FROM message_index WHERE run IN (\(list))")
            try db.execute(sql: "DELETE FROM message_runs WHERE run IN (\(list))")
        }
    }

    static func insert(_ events: [NewEvent], db: Database) throws -> [LogRecord] {
        var records: [LogRecord] = []
        records.reserveCapacity(events.count)
        var nextID = try nextLogID(db)
        let insertEvent = try db.cachedStatement(
            sql: """
                INSERT INTO events (id, message_id, source, type, name, user_id, anonymous_id, received_at, payload)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        let insertJob = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, rule) VALUES (?, ?, 'pending', ?, ?, ?)
                """
        )
        var keyed: KeyedJobs?
        for item in events {
            let e = item.event
            let received = e.receivedAt.millisecondsSinceEpoch
            let eventID = nextID
            nextID += 1
            var row = RowWriter(insertEvent)
            row.bind(eventID)
            row.bind(e.messageId)
            row.bind(item.source)
            row.bind(e.type.rawValue)
            row.bind(e.name)
            row.bind(e.userId)
            row.bind(e.anonymousId)
            row.bind(received)
            row.bindBlob(e.payload)
            try row.step(db)
            for target in item.targets {
                if let key = target.orderingKey {
                    if keyed == nil { keyed = try KeyedJobs(db) }
                    try keyed!.insert(eventID: eventID, target: target.destination, key: key, rule: target.rule, at: received, db: db)
                    continue
                }
                var job = RowWriter(insertJob)
                job.bind(eventID)
                job.bind(target.destination)
                job.bind(received)
                job.bind(received)
                job.bind(target.rule)
                try job.step(db)
            }
            // The event's row is its `received` record (same id), so nothing more is stored for it.
            var record = LogRecord(at: e.receivedAt, kind: .received, messageId: e.messageId, status: "received")
            record.id = eventID
            record.eventID = eventID
            record.source = item.source
            record.type = e.type.rawValue
            record.event = e.name
            record.userId = e.userId ?? e.anonymousId
            record.size = e.payload.count
            records.append(record)
        }
        return records
    }

    /// Events (each the log's `received` record) and delivery-log records take their ids from one
    /// sequence, so the log is the two tables read in id order: a received record costs no row of
    /// its own. The next id is one past the newest row, or past the high-water mark that pruning
    /// saves in `meta` before it deletes rows, so an id is never handed out twice (SQLite's
    /// AUTOINCREMENT would do the same with an extra write per row).
    static func nextLogID(_ db: Database) throws -> Int64 {
        let statement = try db.cachedStatement(
            sql: """
                SELECT MAX(COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'last_log_id'), 0),
                           COALESCE((SELECT MAX(id) FROM events), 0), COALESCE((SELECT MAX(id) FROM delivery_log), 0)) + 1
                """
        )
        return try Int64.fetchOne(statement) ?? 1
    }

    static func noteLastLogID(_ id: Int64, _ db: Database) throws {
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO meta (key, value) VALUES ('last_log_id', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value
                """
        )
        var row = RowWriter(statement)
        row.bind(String(id))
        try row.step(db)
    }

    public func append(_ events: [NewEvent]) async throws(StoreError) {
        let jobs = events.reduce(0) { $0 + $1.destinations.count }
        let limit = config.maxQueuedJobs
        let current = queued.withLockedValue { $0 }
        if jobs > 0, current + jobs > limit {
            throw .full(queued: current, limit: limit)
        }
        do {
            try await committer.write(events)
        } catch {
            if case .unavailable(let reason) = error { lastWriteFailure.withLockedValue { $0 = (.now(), reason) } }
            throw error
        }
        lastWriteFailure.withLockedValue { $0 = nil }
        queued.withLockedValue { $0 += jobs }
        if jobs > 0 { appended.signal() }
    }

    public var newJobsGeneration: Int { appended.generation }

    public func waitForNewJobs(since generation: Int, timeout: Duration) async {
        await appended.wait(since: generation, timeout: timeout)
    }

    func signalNewJobs() {
        appended.signal()
    }

    func queuedJobsAdded(_ n: Int) {
        queued.withLockedValue { $0 += n }
    }

    public func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job] {
        let now = Timestamp.now().millisecondsSinceEpoch
        let leaseEnd = now + leaseFor.milliseconds
        let lease = Int64.random(in: 1...Int64.max)
        return try await pool.write { db in
            // One walk of the waiting jobs' index, due order, stopping after `limit` rows: a claim
            // costs the same with ten jobs waiting or ten million. Leases that ran out are due too.
            let due = try db.cachedStatement(
                sql: """
                    SELECT id, event_id, attempts, ordering_key, rule, state = 'in_flight' FROM jobs
                    WHERE destination = ? AND \(Self.waiting) AND available_at <= ?
                    ORDER BY available_at, event_id LIMIT ?
                    """
            )
            var claimed: [(id: Int64, eventID: Int64, attempt: Int, key: String?, rule: String?)] = []
            var select = RowWriter(due)
            select.bind(destination)
            select.bind(now)
            select.bind(limit)
            var expired = 0
            try select.rows(db) { row in
                claimed.append((row.int64(0), row.int64(1), Int(row.int64(2)) + 1, row.string(3), row.string(4)))
                if row.int64(5) != 0 { expired += 1 }
            }
            PipelineMetrics.shared.leaseExpired(destination: destination, count: expired)
            let take = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET state = 'in_flight', lease = ?, attempts = attempts + 1, available_at = ?, updated_at = ? WHERE id = ?
                    """
            )
            let event = try db.cachedStatement(
                sql: """
                    SELECT source, message_id, type, name, received_at, payload, COALESCE(user_id, anonymous_id) FROM events WHERE id = ?
                    """
            )
            var jobs: [Job] = []
            jobs.reserveCapacity(claimed.count)
            for job in claimed {
                var update = RowWriter(take)
                update.bind(lease)
                update.bind(leaseEnd)
                update.bind(now)
                update.bind(job.id)
                try update.step(db)
                var read = RowWriter(event)
                read.bind(job.eventID)
                try read.rows(db) { row in
                    jobs.append(
                        Job(
                            id: job.id,
                            eventID: job.eventID,
                            lease: lease,
                            destination: destination,
                            attempt: job.attempt,
                            source: row.string(0) ?? "",
                            messageId: row.string(1) ?? "",
                            type: MessageType(rawValue: row.string(2) ?? "") ?? .track,
                            name: row.string(3),
                            userId: row.string(6),
                            receivedAt: Timestamp(millisecondsSinceEpoch: row.int64(4)),
                            payload: row.bytes(5),
                            orderingKey: job.key,
                            rule: job.rule
                        )
                    )
                }
            }
            return jobs
        }
    }

    /// A job still to be delivered (pending, failed or in flight), as SQL: exactly the `jobs_waiting`
    /// index's condition, which SQLite requires word for word before it uses a partial index. Not
    /// `state IN (...)`: SQLite builds a table for the list at every insert, which cost 2.5 us a job.
    static let waiting = "state <> 'succeeded' AND state <> 'dead'"

    /// Outcomes from every worker go through one group commit too: a drained backlog means
    /// thousands of outcomes a second, and one transaction (one fsync) can carry many of them.
    public func finish(_ results: [JobResult]) async throws {
        guard !results.isEmpty else { return }
        try await finisher.write(results)
    }

    static func settle(_ results: [JobResult], db: Database, now: Timestamp) throws -> (settled: Int, released: Int, records: [LogRecord]) {
        var settled = 0
        var released = 0
        var records: [LogRecord] = []
        var keyed: KeyedJobs?
        let update = try db.cachedStatement(
            sql: """
                UPDATE jobs SET state = ?, available_at = ?, last_error = COALESCE(?, last_error), lease = NULL, updated_at = ?
                WHERE id = ? AND lease = ? AND state = 'in_flight'
                """
        )
        for result in results {
            let (state, availableAt, error): (JobState, Int64, String?)
            switch result.outcome {
            case .succeeded: (state, availableAt, error) = (.succeeded, now.millisecondsSinceEpoch, nil)
            case .retry(let at, let message): (state, availableAt, error) = (.failed, at.millisecondsSinceEpoch, message)
            case .dead(let reason): (state, availableAt, error) = (.dead, now.millisecondsSinceEpoch, reason)
            }
            var row = RowWriter(update)
            row.bind(state.rawValue)
            row.bind(availableAt)
            row.bind(error)
            row.bind(now.millisecondsSinceEpoch)
            row.bind(result.jobID)
            row.bind(result.lease)
            try row.step(db)
            // A stale lease changed nothing: its outcome is not the job's, so it is not logged either.
            guard db.changesCount > 0 else { continue }
            if state == .succeeded || state == .dead {
                settled += 1
                // The key's next job, if one waits behind this one, may go now.
                if let ordering = result.ordering, let key = ordering.orderingKey {
                    if keyed == nil { keyed = try KeyedJobs(db) }
                    released += try keyed!.releaseNext(destination: ordering.destination, key: key, at: now.millisecondsSinceEpoch, db: db)
                }
            }
            if let log = result.log { records += LogRecord.records(for: log, outcome: result.outcome, at: now) }
        }
        try insertRecords(&records, db: db)
        return (settled, released, records)
    }

    /// The embedded queue belongs to one process (its folder's lock): whatever was in flight when
    /// it opened was cut off by the previous run's crash, so it is due again now rather than when
    /// its lease would run out.
    public func recoverInterrupted() async throws -> Int {
        guard ownership != nil else { return 0 }
        let now = Timestamp.now().millisecondsSinceEpoch
        let recovered = try await pool.write { db -> Int in
            try db.execute(
                sql: """
                    UPDATE jobs SET state = 'failed', available_at = ?, lease = NULL, updated_at = ?,
                        last_error = COALESCE(last_error, 'interrupted: the server stopped during delivery')
                    WHERE state = 'in_flight'
                    """,
                arguments: [now, now]
            )
            return db.changesCount
        }
        if recovered > 0 {
            logger.info("jobs left in flight by the previous run are due again", metadata: ["recoveredInFlight": "\(recovered)"])
            appended.signal()
        }
        return recovered
    }

    public func release(_ jobs: [Job]) async throws {
        guard !jobs.isEmpty else { return }
        let now = Timestamp.now().millisecondsSinceEpoch
        try await pool.write { db in
            let update = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET state = CASE WHEN attempts > 1 THEN 'failed' ELSE 'pending' END,
                        attempts = attempts - 1, available_at = ?, lease = NULL, updated_at = ?
                    WHERE id = ? AND lease = ? AND state = 'in_flight'
                    """
            )
            for job in jobs {
                try update.execute(arguments: [now, now, job.id, job.lease])
            }
        }
    }

    public func backlog() async throws -> [String: QueueStats.Destination] {
        let now = Timestamp.now().millisecondsSinceEpoch
        return try await pool.read { db in try Self.backlog(db, now: now) }
    }

    /// One process owns the queue (see `QueueLock`), and its heartbeat clock already knows every
    /// delivery, so only the backlog is left to check.
    public func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision {
        let destinations = heartbeat.destinations
        let waiting = try await backlog().filter { destinations.contains($0.key) }.values.reduce(0) { $0 + $1.waiting }
        guard waiting == 0 else { return .backlog(waiting) }
        try await append([heartbeat])
        return .stored
    }

    public func stats() async throws -> QueueStats {
        let now = Timestamp.now().millisecondsSinceEpoch
        return try await pool.read { db in
            var destinations = try Self.backlog(db, now: now)
            for row in try Row.fetchAll(db, sql: "SELECT destination, COUNT(*) FROM jobs WHERE state = 'succeeded' GROUP BY destination") {
                destinations[row[0], default: .init()].counts[.succeeded] = row[1]
            }
            let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
            return QueueStats(events: events, destinations: destinations)
        }
    }

    /// Reads only the waiting jobs' index (plus one event per destination) and the dead letters:
    /// delivered jobs, however many are kept, cost nothing.
    static func backlog(_ db: Database, now: Int64) throws -> [String: QueueStats.Destination] {
        var destinations: [String: QueueStats.Destination] = [:]
        let next = try db.cachedStatement(
            sql: """
                SELECT destination FROM jobs WHERE \(waiting) AND destination > ? ORDER BY destination LIMIT 1
                """
        )
        let tally = try db.cachedStatement(
            sql: """
                SELECT SUM(state = 'pending'), SUM(state = 'failed'), SUM(state = 'in_flight'), MIN(event_id), SUM(state = 'blocked') FROM jobs
                WHERE destination = ? AND \(waiting)
                """
        )
        // One index probe per destination to find the next, then one pass over its waiting jobs.
        var after = ""
        while let name = try String.fetchOne(next, arguments: [after]) {
            after = name
            guard let row = try Row.fetchOne(tally, arguments: [name]) else { continue }
            var counts: [JobState: Int] = [:]
            for (column, state) in [(0, JobState.pending), (1, .failed), (2, .inFlight), (4, .blocked)] where (row[column] as Int? ?? 0) > 0
            {
                counts[state] = row[column]
            }
            // Event ids grow with arrival, so the smallest waiting one is the oldest event.
            let oldest = try Int64.fetchOne(db, sql: "SELECT received_at FROM events WHERE id = ?", arguments: [row[3] as Int64?])
            destinations[name] = .init(counts: counts, oldestWaitingAgeMs: oldest.map { now - $0 })
        }
        for row in try Row.fetchAll(db, sql: "SELECT destination, COUNT(*) FROM jobs WHERE state = 'dead' GROUP BY destination") {
            destinations[row[0], default: .init()].counts[.dead] = row[1]
        }
        return destinations
    }

    public func checkWritable() async throws {
        let now = Timestamp.now()
        if let failure = lastWriteFailure.withLockedValue({ $0 }) {
            let age = now.millisecondsSinceEpoch - failure.at.millisecondsSinceEpoch
            if age < 30_000 { throw StoreError.unavailable("the last write failed \(age) ms ago: \(failure.reason)") }
        }
        try Self.checkFreeSpace(atPath: config.path, minFreeBytes: config.minFreeBytes)
        let probe = now.rfc3339
        try await Self.write(pool) { db in
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('ready_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [probe]
            )
        }
    }

    /// A write transaction whose failure is a `StoreError` with a reason a person can act on.
    static func write<T: Sendable>(_ pool: DatabasePool, _ body: @Sendable @escaping (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw .unavailable(describe(error))
        }
    }

    /// The same, blocking the calling thread (a group commit's own queue, never the Swift pool).
    static func writeNow<T>(_ pool: DatabasePool, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.write(body)
        } catch {
            throw .unavailable(describe(error))
        }
    }

    /// A write transaction whose records reach live readers in commit order: the ticket is
    /// taken inside the transaction (the one writer commits them one at a time), after its last
    /// statement, and handed back whether or not the commit then succeeds.
    static func writeAndPublish<T>(
        _ pool: DatabasePool,
        _ hub: LiveLogHub,
        _ body: (Database) throws -> (T, [LogRecord])
    ) throws(StoreError) -> T {
        var ticket: LiveLogHub.Ticket?
        do {
            let (value, records) = try writeNow(pool) { db in
                let written = try body(db)
                ticket = hub.ticket()
                return written
            }
            hub.publish(records, in: ticket!)
            return value
        } catch {
            if let ticket { hub.publish([], in: ticket) }
            throw error
        }
    }

    /// The same on GRDB's own writer queue, for writes outside the group commits.
    static func writeAndPublish<T: Sendable>(
        _ pool: DatabasePool,
        _ hub: LiveLogHub,
        _ body: @Sendable @escaping (Database) throws -> (T, [LogRecord])
    ) async throws -> T {
        let ticket = NIOLockedValueBox<LiveLogHub.Ticket?>(nil)
        do {
            let (value, records) = try await pool.write { db in
                let written = try body(db)
                ticket.withLockedValue { $0 = hub.ticket() }
                return written
            }
            hub.publish(records, in: ticket.withLockedValue { $0 }!)
            return value
        } catch {
            if let taken = ticket.withLockedValue({ $0 }) { hub.publish([], in: taken) }
            throw error
        }
    }

    /// Refuses a write while the storage volume is below `storage.minFreeBytes`.
    static func checkFreeSpace(atPath path: String, minFreeBytes: Int) throws(StoreError) {
        if minFreeBytes > 0, let free = freeBytes(atPath: path), free < Int64(minFreeBytes) {
            throw .unavailable("only \(free) bytes free on the storage volume (storage.minFreeBytes is \(minFreeBytes))")
        }
    }

    /// Runs a read-only query; for tools and tests that inspect the queue.
    public func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    public func close() throws {
        try pool.close()
        try messageIndex.close()
        walSync?.closeLog()
        ownership?.release()
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL: return "the disk is full"
            case .SQLITE_IOERR: return "disk I/O error (\(error.message ?? "no detail"))"
            case .SQLITE_READONLY: return "the database is read-only"
            case .SQLITE_CANTOPEN: return "cannot open the database file"
            default: return error.message ?? "\(error.resultCode)"
            }
        }
        return "\(error)"
    }
}

/// The statements behind per-key order (`DeliveryOrdering.perKey`): a job whose key has an earlier
/// job still to be delivered is stored `blocked`, never due (`available_at` is the largest time,
/// so claims never reach it); when the one ahead is delivered or dead, the oldest blocked job of
/// the key becomes pending. Prepared only in transactions that meet a keyed job.
struct KeyedJobs {
    let busy: Statement
    let insert: Statement
    let next: Statement
    static let never = Int64.max

    init(_ db: Database) throws {
        busy = try db.cachedStatement(
            sql: """
                SELECT 1 FROM jobs WHERE destination = ? AND ordering_key = ? AND \(SQLiteJobStore.waiting) LIMIT 1
                """
        )
        insert = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, ordering_key, rule) VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        )
        next = try db.cachedStatement(
            sql: """
                UPDATE jobs SET state = 'pending', available_at = ?, updated_at = ? WHERE id = (
                    SELECT id FROM jobs WHERE destination = ? AND ordering_key = ? AND state = 'blocked' AND \(SQLiteJobStore.waiting)
                    ORDER BY id LIMIT 1)
                """
        )
    }

    /// Whether the key has a job still to be delivered (earlier in this transaction included).
    func isBusy(destination: String, key: String, db: Database) throws -> Bool {
        var found = false
        var row = RowWriter(busy)
        row.bind(destination)
        row.bind(key)
        try row.rows(db) { _ in found = true }
        return found
    }

    func insert(eventID: Int64, target destination: String, key: String, rule: String?, at received: Int64, db: Database) throws {
        let blocked = try isBusy(destination: destination, key: key, db: db)
        var row = RowWriter(insert)
        row.bind(eventID)
        row.bind(destination)
        row.bind(blocked ? JobState.blocked.rawValue : JobState.pending.rawValue)
        row.bind(blocked ? Self.never : received)
        row.bind(received)
        row.bind(key)
        row.bind(rule)
        try row.step(db)
    }

    /// Lets the key's oldest blocked job go; returns how many did (0 or 1).
    func releaseNext(destination: String, key: String, at now: Int64, db: Database) throws -> Int {
        var row = RowWriter(next)
        row.bind(now)
        row.bind(now)
        row.bind(destination)
        row.bind(key)
        try row.step(db)
        return db.changesCount
    }
}

/// Free bytes on the volume holding `path`, or nil when it cannot be told.
func freeBytes(atPath path: String) -> Int64? {
    var stats = statvfs()
    guard statvfs(path, &stats) == 0 else { return nil }
    return Int64(stats.f_bavail) * Int64(stats.f_frsize)
}
