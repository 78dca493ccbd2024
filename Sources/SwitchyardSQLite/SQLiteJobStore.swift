import Foundation
import GRDB
import Logging
import NIOConcurrencyHelpers
import SwitchyardCore

/// The embedded queue: one SQLite file in WAL mode. Events and their jobs are written in one
/// transaction through `GroupCommit`, so a 200 always means "on disk", and a crash at any moment
/// leaves either the whole request or none of it.
public final class SQLiteJobStore: JobStore, GatedJobQueue {
    public let path: String
    let pool: DatabasePool
    /// The message-id index, in a database file of its own (`messages.sqlite`) with its own
    /// writer, so indexing never takes the queue's one writer from ingestion. It is rebuilt from
    /// `events` when missing (all but the dedup marks of pruned events, which it alone keeps), and
    /// lookups also scan the events not yet indexed.
    let messageIndex: DatabasePool
    /// Dedup marks not yet in the message index, and a filter over those that are.
    let marks = RecentMarks()
    public let liveLog = LiveLogHub()
    let config: StorageConfig
    let logger: Logger
    let clock: any WallClock
    let metrics: PipelineMetrics
    /// The queue-full check (waiting jobs are counted in memory, so it costs nothing), the last
    /// failed commit for `/ready`, and the workers' wake-ups.
    public let gate: QueueGate
    /// Says of each event whether it was a duplicate.
    let committer: GroupCommit<NewEvent, Bool>
    /// Outcomes are not flushed on their own: a lost outcome only means an event is delivered
    /// again, and the next ingestion flush or checkpoint covers them anyway.
    let finisher: GroupCommit<JobResult, Void>
    let walSync: WALSync?
    /// Held by the server that owns the queue (`owner`), until `close()`.
    let ownership: QueueLock?

    public static let fileName = "queue.sqlite"
    public static let messageIndexFileName = "messages.sqlite"

    /// - Parameter owner: the server that serves the queue passes true: it takes the folder's
    ///   lock (one process per queue), which is what lets `recoverInterrupted` treat every
    ///   lease as its own. Tools that only look at the queue pass false.
    public init(
        config: StorageConfig,
        logger: Logger = Logger(label: "switchyard.storage"),
        owner: Bool = false,
        clock: any WallClock = SystemWallClock(),
        metrics: PipelineMetrics = .discarding()
    ) throws {
        self.config = config
        self.logger = logger
        self.clock = clock
        self.metrics = metrics
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
            try db.execute(sql: "PRAGMA secure_delete = ON")
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
            // Deleted rows are overwritten with zeros, in their pages and in pages given back to
            // the free list: a deletion (or pruning) leaves nothing to read in the file.
            try db.execute(sql: "PRAGMA secure_delete = ON")
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
        let gate = QueueGate(limit: config.maxQueuedJobs, waiting: waiting, clock: clock)
        self.gate = gate
        let minFree = config.minFreeBytes
        let directoryPath = directory
        let hub = liveLog
        let walSync = config.sync == .full ? WALSync(databasePath: path) : nil
        self.walSync = walSync
        var flush: GroupCommit<NewEvent, Bool>.Sync?
        if let walSync {
            flush = { () throws(StoreError) in try walSync.sync() }
        }
        let marks = self.marks
        try Self.loadMarks(marks, pool: pool, index: messageIndex, clock: clock)
        committer = GroupCommit(label: "switchyard.ingest-commit", sync: flush) { (events: [NewEvent]) throws(StoreError) in
            try Self.checkFreeSpace(atPath: directoryPath, minFreeBytes: minFree)
            do throws(StoreError) {
                let duplicates = try Self.writeAndPublish(pool, hub) { db in
                    try Self.insert(events, marks: marks, index: messageIndex, db: db)
                }
                marks.settle(committed: true)
                return duplicates
            } catch {
                marks.settle(committed: false)
                throw error
            }
        }
        finisher = GroupCommit(label: "switchyard.outcome-commit") { (results: [JobResult]) throws(StoreError) in
            let now = clock.now()
            let outcome = try Self.writeAndPublish(pool, hub) { db in
                let outcome = try Self.settle(results, db: db, now: now)
                return (outcome, outcome.records)
            }
            gate.settled(outcome.settled, released: outcome.released)
            return []
        }
        logger.info("queue opened", metadata: ["path": "\(path)", "sync": "\(config.sync.rawValue)", "waitingJobs": "\(waiting)"])
    }

    /// Runs a read-only query; for tools and tests that inspect the queue.
    public func read<T: Sendable>(_ body: @Sendable @escaping (Database) throws -> T) async throws -> T {
        try await pool.read(body)
    }

    /// Returns once the files and the folder's lock are released, so the queue can be opened
    /// again at once, in this process or another. The lock goes last, whatever else failed.
    public func close() throws {
        defer { ownership?.release() }
        defer { walSync?.closeLog() }
        var failure: (any Error)?
        do { try pool.close() } catch { failure = error }
        do { try messageIndex.close() } catch { failure = failure ?? error }
        if let failure { throw failure }
    }
}
