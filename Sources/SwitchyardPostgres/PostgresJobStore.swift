import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle
import SwitchyardCore

/// The store several nodes share: one PostgreSQL database holds the queue, the delivery log and
/// the dead letters, and every node reads and acts on all of it.
///
/// - Ingestion group-commits: requests that arrive while a transaction is in flight go into the
///   next one, written with `unnest` arrays (a statement per table, not per row).
/// - Claims take due jobs with `FOR UPDATE SKIP LOCKED` and a lease naming the node, so nodes
///   never wait on each other's rows; a dead node's leases run out and its jobs are claimed then.
/// - Log positions are `xid << 20 | n` (the writing transaction's id, then the row's place in
///   it). A reader only reads positions below `pg_snapshot_xmin << 20`, where every transaction is
///   over, so a transaction that commits late can never land behind a cursor (see `horizon`).
/// - LISTEN/NOTIFY wakes other nodes' workers and live readers; polling backs it up.
///
/// It is a `Service`: its `run()` runs the `PostgresClient`, migrates, and then the commit loops,
/// the listener and the live-log tail. Put it first in the `ServiceGroup`, so it stops last.
public final class PostgresJobStore: JobStore, GatedJobQueue, Service {
    public let node: String
    public let liveLog = LiveLogHub()
    let client: PostgresClient
    let logger: Logger
    let storage: StorageConfig
    let clock: any WallClock
    let metrics: PipelineMetrics
    /// The queue-full check against every node's waiting jobs (read again on the write path
    /// when the last reading is a second old), the last failed commit for `/ready`, and the
    /// workers' wake-ups.
    public let gate: QueueGate
    /// Says of each event whether it was a duplicate.
    let ingest = CommitBatcher<NewEvent, Bool>(maxItems: 5_000)
    let outcomes = CommitBatcher<JobResult, Void>(maxItems: 20_000)
    let state = NIOLockedValueBox(State.starting(reason: nil))
    /// Signalled when the state leaves `starting`, for `waitUntilStarted`.
    let startedSignal = Wakeup()
    /// Signalled when some node committed log records.
    let logWritten = Wakeup()
    let recoverAtStart: Bool
    /// One connection of its own, to learn why the pool cannot reach the database.
    let probe: PostgresConnection.Configuration

    static let channel = "switchyard"

    /// Where the store is in its life. Requests that arrive before the database was reached are
    /// refused with the reason it was not.
    enum State {
        /// Not reached yet; `reason` is why the last try failed.
        case starting(reason: String?)
        /// Migrated and serving. `tail` is the last log position handed to live readers.
        case started(tail: Int64)
    }

    /// - Parameter recoverAtStart: the server passes true: once the database is reached, the jobs
    ///   this node left in flight when it last stopped are due at once (`recoverInterrupted`).
    public init(
        config: PostgresStorageConfig,
        storage: StorageConfig,
        node: String,
        logger: Logger = Logger(label: "switchyard.storage"),
        recoverAtStart: Bool = false,
        clock: any WallClock = SystemWallClock(),
        metrics: PipelineMetrics = .discarding()
    ) throws {
        self.recoverAtStart = recoverAtStart
        self.node = node
        self.storage = storage
        self.logger = logger
        self.clock = clock
        self.metrics = metrics
        gate = QueueGate(limit: storage.maxQueuedJobs, clock: clock)
        var configuration = try config.clientConfiguration()
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.maximumConnections = config.maxConnections
        // The pool reports each failed connection at `info`, several times a second while the
        // database is away; the store says why once, at `error`, when the reason changes.
        var background = logger
        background.logLevel = max(logger.logLevel, .warning)
        client = PostgresClient(configuration: configuration, backgroundLogger: background)
        probe = try config.connectionConfiguration()
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            // It ends only when cancelled: start-up retries until the database answers.
            group.addTask { try? await self.runUntilCancelled() }
            // Stopped last (first in the group): workers finish their outcomes before this ends.
            try? await gracefulShutdown()
            group.cancelAll()
        }
    }

    /// Runs `body` with a running store: for tools and tests that open the database briefly.
    public static func with<T: Sendable>(
        config: PostgresStorageConfig,
        storage: StorageConfig,
        node: String,
        logger: Logger = Logger(label: "switchyard.storage"),
        _ body: @Sendable (PostgresJobStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresJobStore(config: config, storage: storage, node: node, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.runUntilCancelled() }
            defer { group.cancelAll() }
            try await store.waitUntilStarted()
            return try await body(store)
        }
    }

    /// The store's work without waiting for a graceful shutdown: ends when cancelled.
    public func runUntilCancelled() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            try await self.startUp()
            group.addTask { await self.ingest.run(self.commit) }
            group.addTask {
                await self.outcomes.run { (results: [JobResult]) throws(StoreError) -> [Void] in
                    try await self.settle(results)
                    return []
                }
            }
            group.addTask { await self.listen() }
            group.addTask { await self.followLog() }
            try await group.waitForAll()
        }
    }

    /// Returns once the database was reached and migrated.
    public func waitUntilStarted(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let generation = startedSignal.generation
            if isStarted { return }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw StoreError.unavailable(notStartedReason) }
            try Task.checkCancellation()
            await startedSignal.wait(since: generation, timeout: left)
        }
    }

    var isStarted: Bool {
        state.withLockedValue { state in
            guard case .started = state else { return false }
            return true
        }
    }

    /// Why a request cannot be served yet: the last failed try's reason, when there was one.
    var notStartedReason: String {
        let reason = state.withLockedValue { state -> String? in
            guard case .starting(let reason) = state else { return nil }
            return reason
        }
        return "the database has not been reached yet" + (reason.map { ": \($0)" } ?? "")
    }

    /// Opens and closes one connection of its own. While the database cannot be reached the
    /// pool's lease waits and retries without a word; a single connection fails with the reason
    /// (a refused connection, a wrong password, a missing role or database).
    private func checkConnection() async throws {
        var quiet = logger
        quiet.logLevel = .critical
        let connection = try await PostgresConnection.connect(configuration: probe, id: 0, logger: quiet)
        try await connection.close()
    }

    /// Migrates (retrying while the database cannot be reached) and reads where the log ends.
    /// Each new reason it cannot is logged once, at `error`: a wrong password or a missing
    /// database does not fix itself, and the operator must see it.
    private func startUp() async throws {
        var delay: Duration = .milliseconds(200)
        var lastReason: String?
        while true {
            do {
                try await checkConnection()
                try await PostgresSchema.migrate(client, logger: logger)
                let horizon = try await Self.within(Self.readDeadline, client) { [self] connection in
                    try await readDepth(connection)
                    return try await Self.horizon(connection, logger: logger)
                }
                state.withLockedValue { $0 = .started(tail: horizon - 1) }
                startedSignal.signal()
                logger.info("queue opened", metadata: ["store": "postgres", "node": "\(node)", "waitingJobs": "\(gate.waiting)"])
                break
            } catch {
                try Task.checkCancellation()
                let reason = Self.describe(error)
                state.withLockedValue { $0 = .starting(reason: reason) }
                if reason != lastReason {
                    logger.error("cannot open the queue's database; retrying", metadata: ["reason": "\(reason)", "retryIn": "\(delay)"])
                    lastReason = reason
                }
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
        // Started either way: jobs that cannot be made due now are due when their leases run out.
        if recoverAtStart {
            do {
                _ = try await recoverInterrupted()
            } catch {
                logger.warning("cannot make this node's interrupted jobs due now; they are when their leases run out: \(error)")
            }
        }
    }
}
