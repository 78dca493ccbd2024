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
public final class PostgresJobStore: JobStore, Service {
    public let node: String
    public let liveLog = LiveLogHub()
    let client: PostgresClient
    let logger: Logger
    private let storage: StorageConfig
    let ingest: CommitBatcher<NewEvent>
    let outcomes: CommitBatcher<JobResult>
    let appended = Wakeup()
    /// Jobs still to be delivered across all nodes, as of the last commit or refresh.
    private let depth = NIOLockedValueBox(0)
    private let started = NIOLockedValueBox(false)
    /// Signalled once `started` is true, for `waitUntilStarted`.
    private let startedSignal = Wakeup()
    private let lastWriteFailure = NIOLockedValueBox<(at: Timestamp, reason: String)?>(nil)
    private let tail = NIOLockedValueBox<Int64?>(nil)
    private let recoverAtStart: Bool

    /// Where a value the database is told of is not a real time: a blocked job is never due.
    static let never = Int64.max
    static let channel = "switchyard"

    /// - Parameter recoverAtStart: the server passes true: once the database is reached, the jobs
    ///   this node left in flight when it last stopped are due at once (`recoverInterrupted`).
    public init(
        config: PostgresStorageConfig,
        storage: StorageConfig,
        node: String,
        logger: Logger = Logger(label: "switchyard.storage"),
        recoverAtStart: Bool = false
    ) throws {
        self.recoverAtStart = recoverAtStart
        self.node = node
        self.storage = storage
        self.logger = logger
        var configuration = try config.clientConfiguration()
        configuration.options.connectTimeout = .seconds(2)
        configuration.options.maximumConnections = config.maxConnections
        client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let box = Unchecked()
        ingest = CommitBatcher(maxItems: 5_000) { (events: [NewEvent]) throws(StoreError) in
            try await box.store!.commit(events)
        }
        outcomes = CommitBatcher(maxItems: 20_000) { (results: [JobResult]) throws(StoreError) in
            try await box.store!.settle(results)
        }
        box.store = self
    }

    /// Lets the commit closures reach the store they belong to (set once, before any runs).
    private final class Unchecked: @unchecked Sendable {
        weak var store: PostgresJobStore?
    }

    public func run() async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.runUntilCancelled() }
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
            group.addTask { await self.ingest.run() }
            group.addTask { await self.outcomes.run() }
            group.addTask { await self.listen() }
            group.addTask { await self.followLog() }
            group.addTask { await self.refreshDepth() }
            try await group.waitForAll()
        }
    }

    /// Returns once the database was reached and migrated.
    public func waitUntilStarted(timeout: Duration = .seconds(30)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let generation = startedSignal.generation
            if started.withLockedValue({ $0 }) { return }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw StoreError.unavailable("the database did not answer within \(timeout)") }
            try Task.checkCancellation()
            await startedSignal.wait(since: generation, timeout: left)
        }
    }

    /// Migrates (retrying while the database cannot be reached) and reads where the log ends.
    private func startUp() async throws {
        var delay: Duration = .milliseconds(200)
        while true {
            do {
                try await PostgresSchema.migrate(client, logger: logger)
                let horizon = try await client.withConnection { try await Self.horizon($0, logger: self.logger) }
                tail.withLockedValue { $0 = horizon - 1 }
                try await readDepth()
                started.withLockedValue { $0 = true }
                startedSignal.signal()
                if recoverAtStart { _ = try await recoverInterrupted() }
                logger.info(
                    "queue opened",
                    metadata: ["store": "postgres", "node": "\(node)", "waitingJobs": "\(depth.withLockedValue { $0 })"]
                )
                return
            } catch {
                try Task.checkCancellation()
                logger.warning(
                    "cannot reach the database yet; retrying",
                    metadata: ["error": "\(Self.describe(error))", "retryIn": "\(delay)"]
                )
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    // MARK: Queue

    public func append(_ events: [NewEvent]) async throws(StoreError) {
        guard started.withLockedValue({ $0 }) else { throw .unavailable("the database has not been reached yet") }
        let jobs = events.reduce(0) { $0 + $1.targets.count }
        let current = depth.withLockedValue { $0 }
        if jobs > 0, current + jobs > storage.maxQueuedJobs {
            throw .full(queued: current, limit: storage.maxQueuedJobs)
        }
        do {
            try await ingest.submit(events)
        } catch {
            if case .unavailable(let reason) = error { lastWriteFailure.withLockedValue { $0 = (.now(), reason) } }
            throw error
        }
        lastWriteFailure.withLockedValue { $0 = nil }
        if jobs > 0 { appended.signal() }
    }

    /// One ingestion transaction for many requests, in one statement after BEGIN (plus the
    /// ordering keys' locks when there are keyed jobs): the events, their jobs, the depth and the
    /// notification, so a commit costs three round trips however many requests it carries.
    private func commit(_ events: [NewEvent]) async throws(StoreError) {
        let now = Timestamp.now().millisecondsSinceEpoch
        var rows: [Int64] = []
        var messageIds: [String] = []
        var sources: [String] = []
        var types: [String] = []
        var names: [String] = []
        var users: [String] = []
        var anonymous: [String] = []
        var received: [Int64] = []
        var payloads: [ByteBuffer] = []
        var nulls: [Int64] = []
        var jobEvents: [Int64] = []
        var destinations: [String] = []
        var keys: [String] = []
        var rules: [String] = []
        var jobFlags: [Int64] = []
        var jobTimes: [Int64] = []
        // The keys' lock names, which also tell a key's later job in this very batch.
        var lockedKeys = Set<String>()
        for (n, item) in events.enumerated() {
            let e = item.event
            rows.append(Int64(n))
            messageIds.append(e.messageId.pgText)
            sources.append(item.source.pgText)
            types.append(e.type.rawValue)
            names.append(e.name.pgText ?? "")
            users.append(e.userId.pgText ?? "")
            anonymous.append(e.anonymousId.pgText ?? "")
            received.append(e.receivedAt.millisecondsSinceEpoch)
            payloads.append(ByteBuffer(bytes: e.payload))
            nulls.append((e.name == nil ? 1 : 0) | (e.userId == nil ? 2 : 0) | (e.anonymousId == nil ? 4 : 0))
            for target in item.targets {
                jobEvents.append(Int64(n))
                destinations.append(target.destination)
                keys.append(target.orderingKey.pgText ?? "")
                rules.append(target.rule.pgText ?? "")
                jobTimes.append(e.receivedAt.millisecondsSinceEpoch)
                var flags: Int64 = target.rule == nil ? 0 : 4
                if let key = target.orderingKey {
                    flags |= 1
                    // A key's later job in this very batch waits behind its earlier one.
                    if !lockedKeys.insert(Self.keyLock(target.destination, key)).inserted { flags |= 2 }
                }
                jobFlags.append(flags)
            }
        }
        let jobCount = Int64(jobEvents.count)
        let shard = Int32.random(in: 0..<Int32(PostgresSchema.depthShards))
        let node = self.node
        let logger = self.logger
        let query: PostgresQuery = """
            WITH x AS (\(unescaped: Self.positionBase)),
            ev AS (
                INSERT INTO events (id, message_id, source, type, name, user_id, anonymous_id, received_at, payload, node)
                SELECT x.base + t.i, t.m, t.s, t.ty,
                    CASE WHEN t.z & 1 = 0 THEN t.n END, CASE WHEN t.z & 2 = 0 THEN t.u END, CASE WHEN t.z & 4 = 0 THEN t.a END,
                    t.r, t.p, \(node)
                FROM x, unnest(\(rows)::bigint[], \(messageIds)::text[], \(sources)::text[], \(types)::text[], \(names)::text[],
                            \(users)::text[], \(anonymous)::text[], \(received)::bigint[], \(payloads)::bytea[], \(nulls)::bigint[])
                    AS t(i, m, s, ty, n, u, a, r, p, z)
            ),
            jb AS (
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, ordering_key, rule)
                SELECT x.base + t.e, t.d, CASE WHEN t.b THEN 'blocked' ELSE 'pending' END, CASE WHEN t.b THEN \(Self.never) ELSE t.at END, \(now),
                    CASE WHEN t.f & 1 = 1 THEN t.k END, CASE WHEN t.f & 4 = 4 THEN t.r END
                FROM x, (
                    SELECT u.*, (u.f & 2 = 2 OR (u.f & 1 = 1 AND EXISTS (
                        SELECT 1 FROM jobs j WHERE j.destination = u.d AND j.ordering_key = u.k AND j.state <> 'succeeded' AND j.state <> 'dead'))) AS b
                    FROM unnest(\(jobEvents)::bigint[], \(destinations)::text[], \(keys)::text[], \(rules)::text[], \(jobFlags)::bigint[], \(jobTimes)::bigint[])
                        AS u(e, d, k, r, f, at)
                ) t
            ),
            dp AS (UPDATE queue_depth SET jobs = jobs + \(jobCount) WHERE shard = \(shard) AND \(jobCount) > 0)
            SELECT pg_notify(\(Self.channel), CASE WHEN \(jobCount) > 0 THEN 'jobs' ELSE 'log' END)
            """
        try await transaction { [lockedKeys] connection in
            try await Self.lockKeys(lockedKeys, connection, logger: logger)
            try await connection.query(query, logger: logger)
        }
        depth.withLockedValue { $0 += Int(jobCount) }
    }

    public func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job] {
        try await guarded { [self] in
            let now = Timestamp.now().millisecondsSinceEpoch
            let leaseEnd = now + leaseFor.milliseconds
            let lease = Int64.random(in: 1...Int64.max)
            let rows = try await client.query(
                """
                WITH due AS (
                    SELECT id, available_at, state FROM jobs
                    WHERE destination = \(destination) AND \(unescaped: PostgresSchema.waiting) AND available_at <= \(now)
                    ORDER BY available_at, event_id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE jobs j SET state = 'in_flight', lease = \(lease), lease_node = \(node), attempts = j.attempts + 1,
                        available_at = \(leaseEnd), updated_at = \(now)
                    FROM due WHERE j.id = due.id
                    RETURNING j.id, j.event_id, j.attempts, j.ordering_key, j.rule, due.available_at AS due_at, due.state AS was
                )
                SELECT c.id, c.event_id, c.attempts, c.ordering_key, c.rule, e.source, e.message_id, e.type, e.name, e.received_at, e.payload,
                    COALESCE(e.user_id, e.anonymous_id), c.was
                FROM claimed c JOIN events e ON e.id = c.event_id ORDER BY c.due_at, c.event_id
                """,
                logger: logger
            )
            var jobs: [Job] = []
            var expired = 0
            for try await row in rows {
                let r = row.makeRandomAccess()
                let payload = try r[10].decode(ByteBuffer.self)
                jobs.append(
                    Job(
                        id: try r[0].decode(Int64.self),
                        eventID: try r[1].decode(Int64.self),
                        lease: lease,
                        destination: destination,
                        attempt: Int(try r[2].decode(Int32.self)),
                        source: try r[5].decode(String.self),
                        messageId: try r[6].decode(String.self),
                        type: MessageType(rawValue: try r[7].decode(String.self)) ?? .track,
                        name: try r[8].decode(String?.self),
                        userId: try r[11].decode(String?.self),
                        receivedAt: Timestamp(millisecondsSinceEpoch: try r[9].decode(Int64.self)),
                        payload: Array(payload.readableBytesView),
                        orderingKey: try r[3].decode(String?.self),
                        rule: try r[4].decode(String?.self)
                    )
                )
                if try r[12].decode(String.self) == JobState.inFlight.rawValue { expired += 1 }
            }
            PipelineMetrics.shared.leaseExpired(destination: destination, count: expired)
            return jobs
        }
    }

    public func finish(_ results: [JobResult]) async throws {
        guard !results.isEmpty else { return }
        try await outcomes.submit(results)
    }

    /// One transaction for many outcomes: states (ignoring stale leases), the next job of each
    /// settled key, the log records, and the depth.
    private func settle(_ results: [JobResult]) async throws(StoreError) {
        let now = Timestamp.now()
        let ms = now.millisecondsSinceEpoch
        let released = try await transaction { [self] connection -> Int in
            // Keys first, in one order on every node: an append of the same key waits for this
            // commit, so it either sees the job settled or is let go by it.
            let settling = results.compactMap { result -> String? in
                guard let key = result.ordering?.orderingKey, let destination = result.ordering?.destination else { return nil }
                switch result.outcome {
                case .succeeded, .dead: return Self.keyLock(destination, key)
                case .retry: return nil
                }
            }
            try await Self.lockKeys(Set(settling), connection, logger: self.logger)
            var ids: [Int64] = []
            var leases: [Int64] = []
            var states: [String] = []
            var times: [Int64] = []
            var errors: [String] = []
            var hasError: [Bool] = []
            for result in results {
                ids.append(result.jobID)
                leases.append(result.lease)
                switch result.outcome {
                case .succeeded:
                    states.append(JobState.succeeded.rawValue)
                    times.append(ms)
                    errors.append("")
                    hasError.append(false)
                case .retry(let at, let message):
                    states.append(JobState.failed.rawValue)
                    times.append(at.millisecondsSinceEpoch)
                    errors.append(message.pgText)
                    hasError.append(true)
                case .dead(let reason):
                    states.append(JobState.dead.rawValue)
                    times.append(ms)
                    errors.append(reason.pgText)
                    hasError.append(true)
                }
            }
            var settled = Set<Int64>()
            let rows = try await connection.query(
                """
                UPDATE jobs SET state = t.s, available_at = t.at, last_error = CASE WHEN t.h THEN t.err ELSE jobs.last_error END,
                    lease = NULL, updated_at = \(ms)
                FROM unnest(\(ids)::bigint[], \(leases)::bigint[], \(states)::text[], \(times)::bigint[], \(errors)::text[], \(hasError)::boolean[])
                    AS t(id, lease, s, at, err, h)
                WHERE jobs.id = t.id AND jobs.lease = t.lease AND jobs.state = 'in_flight'
                RETURNING jobs.id
                """,
                logger: self.logger
            )
            for try await id in rows.decode(Int64.self) { settled.insert(id) }
            guard !settled.isEmpty else { return 0 }
            var finished = 0
            var releaseDestinations: [String] = []
            var releaseKeys: [String] = []
            var records: [LogRecord] = []
            for result in results where settled.contains(result.jobID) {
                switch result.outcome {
                case .succeeded, .dead:
                    finished += 1
                    if let ordering = result.ordering, let key = ordering.orderingKey {
                        releaseDestinations.append(ordering.destination)
                        releaseKeys.append(key.pgText)
                    }
                case .retry: break
                }
                if let log = result.log { records += LogRecord.records(for: log, outcome: result.outcome, at: now) }
            }
            var released = 0
            if !releaseKeys.isEmpty {
                let next = try await connection.query(
                    """
                    UPDATE jobs SET state = 'pending', available_at = \(ms), updated_at = \(ms) WHERE id IN (
                        SELECT (SELECT j.id FROM jobs j WHERE j.destination = t.d AND j.ordering_key = t.k AND j.state = 'blocked' ORDER BY j.id LIMIT 1)
                        FROM unnest(\(releaseDestinations)::text[], \(releaseKeys)::text[]) AS t(d, k))
                    RETURNING id
                    """,
                    logger: self.logger
                )
                for try await _ in next.decode(Int64.self) { released += 1 }
            }
            try await self.insertRecords(records, connection)
            if finished > 0 { try await Self.addDepth(-finished, connection, logger: self.logger) }
            if released > 0 { try await connection.query("SELECT pg_notify(\(Self.channel), 'jobs')", logger: self.logger) }
            self.depth.withLockedValue { $0 -= finished }
            return released
        }
        if released > 0 { appended.signal() }
    }

    public func release(_ jobs: [Job]) async throws {
        try await guarded { [self] in
            guard !jobs.isEmpty else { return }
            let now = Timestamp.now().millisecondsSinceEpoch
            try await client.query(
                """
                UPDATE jobs SET state = CASE WHEN attempts > 1 THEN 'failed' ELSE 'pending' END, attempts = attempts - 1,
                    available_at = \(now), lease = NULL, updated_at = \(now)
                FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.lease))::bigint[]) AS t(id, lease)
                WHERE jobs.id = t.id AND jobs.lease = t.lease AND jobs.state = 'in_flight'
                """,
                logger: logger
            )
            try await client.query("SELECT pg_notify(\(Self.channel), 'jobs')", logger: logger)
        }
    }

    /// Only this node's own leases: another node's may be live, and run out on their own.
    public func recoverInterrupted() async throws -> Int {
        try await guarded { [self] in
            let now = Timestamp.now().millisecondsSinceEpoch
            let rows = try await client.query(
                """
                UPDATE jobs SET state = 'failed', available_at = \(now), lease = NULL, updated_at = \(now),
                    last_error = COALESCE(last_error, 'interrupted: the node stopped during delivery')
                WHERE state = 'in_flight' AND lease_node = \(node)
                RETURNING id
                """,
                logger: logger
            )
            var recovered = 0
            for try await _ in rows.decode(Int64.self) { recovered += 1 }
            if recovered > 0 {
                logger.info("jobs this node left in flight are due again", metadata: ["recoveredInFlight": "\(recovered)"])
                appended.signal()
            }
            return recovered
        }
    }

    /// Reads the waiting jobs' partial index (and one event per destination) and the dead letters'.
    public func backlog() async throws -> [String: QueueStats.Destination] {
        try await guarded { [self] in
            let now = Timestamp.now().millisecondsSinceEpoch
            var destinations: [String: QueueStats.Destination] = [:]
            var oldestEvent: [String: Int64] = [:]
            let rows = try await client.query(
                """
                SELECT destination, state, COUNT(*), MIN(event_id) FROM jobs WHERE \(unescaped: PostgresSchema.waiting) GROUP BY destination, state
                """,
                logger: logger
            )
            for try await (destination, state, count, oldest) in rows.decode((String, String, Int64, Int64).self) {
                guard let state = JobState(rawValue: state) else { continue }
                destinations[destination, default: .init()].counts[state] = Int(count)
                oldestEvent[destination] = min(oldestEvent[destination] ?? .max, oldest)
            }
            if !oldestEvent.isEmpty {
                let names = Array(oldestEvent.keys)
                let received = try await client.query(
                    """
                    SELECT t.d, e.received_at FROM unnest(\(names)::text[], \(names.map { oldestEvent[$0]! })::bigint[]) AS t(d, e) JOIN events e ON e.id = t.e
                    """,
                    logger: logger
                )
                for try await (destination, at) in received.decode((String, Int64).self) {
                    destinations[destination]?.oldestWaitingAgeMs = now - at
                }
            }
            for try await (destination, count) in try await client.query(
                "SELECT destination, COUNT(*) FROM jobs WHERE state = 'dead' GROUP BY destination",
                logger: logger
            )
            .decode((String, Int64).self) {
                destinations[destination, default: .init()].counts[.dead] = Int(count)
            }
            return destinations
        }
    }

    /// Decided under a transaction advisory lock per destination, so that of nodes asking at
    /// once the first stores it and the others see it waiting; it is recorded in `heartbeats` as
    /// well, so that a heartbeat already delivered (or dead-lettered) still counts as activity.
    public func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision {
        guard let destination = heartbeat.destinations.first else { return .backlog(0) }
        let since = quietSince.millisecondsSinceEpoch
        let storedAt = Timestamp.now().millisecondsSinceEpoch
        let decision: HeartbeatDecision = try await transaction { [self] connection in
            try await Self.lockKeys(["heartbeat\u{0}\(destination)"], connection, logger: logger)
            let rows = try await connection.query(
                """
                SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE destination = \(destination) AND \(unescaped: PostgresSchema.waiting) LIMIT 1000) w),
                       GREATEST(
                           (SELECT stored_at FROM heartbeats WHERE destination = \(destination) AND stored_at > \(since)),
                           (SELECT updated_at FROM jobs WHERE state = 'succeeded' AND updated_at > \(since) AND destination = \(destination)
                               ORDER BY updated_at DESC LIMIT 1))
                """,
                logger: logger
            )
            for try await (waiting, active) in rows.decode((Int64, Int64?).self) {
                if waiting > 0 { return .backlog(Int(waiting)) }
                if let active { return .active(at: Timestamp(millisecondsSinceEpoch: active)) }
            }
            try await connection.query(
                """
                INSERT INTO heartbeats (destination, stored_at) VALUES (\(destination), \(storedAt))
                ON CONFLICT (destination) DO UPDATE SET stored_at = EXCLUDED.stored_at
                """,
                logger: logger
            )
            return .stored
        }
        guard decision == .stored else { return decision }
        do {
            try await append([heartbeat])
        } catch {
            // Other nodes already see it recorded: take that back, so the next try is not an interval away.
            let client = self.client
            let logger = self.logger
            _ = try? await Self.within(Self.writeDeadline) {
                try await client.query(
                    "DELETE FROM heartbeats WHERE destination = \(destination) AND stored_at = \(storedAt)",
                    logger: logger
                )
            }
            throw error
        }
        return decision
    }

    public func stats() async throws -> QueueStats {
        try await guarded { [self] in
            var destinations = try await backlog()
            for try await (destination, count) in try await client.query(
                "SELECT destination, COUNT(*) FROM jobs WHERE state = 'succeeded' GROUP BY destination",
                logger: logger
            )
            .decode((String, Int64).self) {
                destinations[destination, default: .init()].counts[.succeeded] = Int(count)
            }
            var events = 0
            for try await count in try await client.query("SELECT COUNT(*) FROM events", logger: logger).decode(Int64.self) {
                events = Int(count)
            }
            return QueueStats(events: events, destinations: destinations)
        }
    }

    public var newJobsGeneration: Int { appended.generation }

    public func waitForNewJobs(since generation: Int, timeout: Duration) async {
        await appended.wait(since: generation, timeout: timeout)
    }

    public func checkWritable() async throws {
        guard started.withLockedValue({ $0 }) else { throw StoreError.unavailable("the database has not been reached yet") }
        if let failure = lastWriteFailure.withLockedValue({ $0 }) {
            let age = Timestamp.now().millisecondsSinceEpoch - failure.at.millisecondsSinceEpoch
            if age < 5_000 { throw StoreError.unavailable("the last write failed \(age) ms ago: \(failure.reason)") }
        }
        // A write like ingestion's, under the same deadline: `/ready` must answer while the
        // database does not.
        let client = self.client
        let logger = self.logger
        do {
            try await Self.within(Self.writeDeadline) {
                try await client.query("UPDATE queue_depth SET jobs = jobs WHERE shard = 0", logger: logger)
            }
        } catch {
            throw StoreError.unavailable(Self.describe(error))
        }
    }

    // MARK: Helpers

    /// Every read and write outside the commit loops: waits a little for the database to be
    /// reached at start (workers and readers start with the server), and turns driver errors
    /// into `StoreError`s that say what is wrong without the connection's details.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if !started.withLockedValue({ $0 }) { try await waitUntilStarted(timeout: .seconds(5)) }
        do {
            return try await Self.within(Self.readDeadline, body)
        } catch let error as StoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw StoreError.unavailable(Self.describe(error))
        }
    }

    /// A transaction whose failure is a `StoreError` with a reason a person can act on (never the
    /// connection's password).
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        do {
            let client = self.client
            let logger = self.logger
            return try await Self.within(Self.writeDeadline) { try await client.withTransaction(logger: logger) { try await body($0) } }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// How long a write may wait for the database before the client is told 503: the pool
    /// keeps trying to connect while the database is down, and a request must not hang on it.
    static let writeDeadline: Duration = .seconds(3)
    static let readDeadline: Duration = .seconds(10)

    /// Runs `body`, or throws `StoreError.unavailable` once `deadline` passes. The body is
    /// cancelled then but not waited for: while the database is unreachable the pool may hold a
    /// connection request past cancellation, and the caller (a client waiting for its answer)
    /// must get its 503 now. The abandoned body ends when the pool gives up or the database
    /// answers. A write cut off this way may still commit: the client, told 503, sends it again,
    /// which at-least-once delivery allows; nothing acknowledged is lost.
    static func within<T: Sendable>(_ deadline: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(nil)
        let work = NIOLockedValueBox<Task<Void, Never>?>(nil)
        let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.withLockedValue { $0 = continuation }
                @Sendable func finish(_ result: Result<T, any Error>) {
                    outcome.withLockedValue { $0.take() }?.resume(with: result)
                }
                timer.withLockedValue {
                    $0 = Task {
                        guard (try? await Task.sleep(for: deadline)) != nil else { return }
                        finish(.failure(StoreError.unavailable("the database did not answer within \(deadline)")))
                        work.withLockedValue { $0 }?.cancel()
                    }
                }
                work.withLockedValue {
                    $0 = Task {
                        do { finish(.success(try await body())) } catch { finish(.failure(error)) }
                        timer.withLockedValue { $0 }?.cancel()
                    }
                }
            }
        } onCancel: {
            work.withLockedValue { $0 }?.cancel()
        }
    }

    /// The first log position of the calling transaction, as a query for a `WITH` clause: its
    /// id shifted past the room for its rows (`base`). The rows' own numbers are added to it.
    static let positionBase = "SELECT pg_current_xact_id()::text::bigint << \(positionBits) AS base"

    /// Where a transaction's log records start among its positions; its events take those below.
    static let recordOffset: Int64 = 1 << (positionBits - 1)

    /// Room for this many rows per transaction in a log position; batches stay well below.
    static let positionBits: Int64 = 20

    /// Positions below this belong to transactions that are all over: no row will ever be
    /// committed below it again, so readers may go up to it without skipping a late commit.
    static func horizon(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for try await xmin in try await connection.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", logger: logger)
            .decode(Int64.self)
        {
            return xmin << positionBits
        }
        throw StoreError.unavailable("the database gave no snapshot")
    }

    /// An ordering key's advisory lock name: `destination NUL key`, the key as it is stored.
    static func keyLock(_ destination: String, _ key: String) -> String {
        destination + "\u{0}" + key.pgText
    }

    /// Transaction-scoped advisory locks on ordering keys (`keyLock`), taken in ascending order
    /// everywhere so two transactions never wait on each other in a circle.
    static func lockKeys(_ keys: Set<String>, _ connection: PostgresConnection, logger: Logger) async throws {
        guard !keys.isEmpty else { return }
        let hashes = Set(keys.map(lockHash)).sorted()
        try await connection.query(
            """
            SELECT pg_advisory_xact_lock(h) FROM unnest(\(hashes)::bigint[]) WITH ORDINALITY AS t(h, n) ORDER BY n
            """,
            logger: logger
        )
    }

    /// FNV-1a over the key's bytes: the same on every node and every run (unlike `Hasher`).
    static func lockHash(_ key: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }

    static func addDepth(_ n: Int, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.query(
            "UPDATE queue_depth SET jobs = jobs + \(Int64(n)) WHERE shard = \(Int32.random(in: 0..<Int32(PostgresSchema.depthShards)))",
            logger: logger
        )
    }

    private func readDepth() async throws {
        for try await total in try await client.query("SELECT COALESCE(SUM(jobs), 0)::bigint FROM queue_depth", logger: logger).decode(
            Int64.self
        ) {
            depth.withLockedValue { $0 = Int(total) }
        }
    }

    /// Other nodes' commits move the depth too; read it every second.
    private func refreshDepth() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            try? await readDepth()
        }
    }

    /// Wakes this node's workers and live readers when another node commits; reconnects on loss.
    private func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        for try await notification in notifications {
                            // Every commit writes log records (an event is its `received` record).
                            if notification.payload == "jobs" { self.appended.signal() }
                            self.logWritten.signal()
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Signalled when some node committed log records.
    let logWritten = Wakeup()

    /// Reads every node's committed records in position order and hands them to live readers.
    private func followLog() async {
        while !Task.isCancelled {
            let seen = logWritten.generation
            do {
                // With nobody watching, the tail only moves to the horizon: reading every node's
                // records back would cost each node a read per event for nothing. A reader that
                // subscribes later resumes from the store itself (`records(after:)`).
                if !liveLog.hasSubscribers {
                    let horizon = try await client.withConnection { try await Self.horizon($0, logger: self.logger) }
                    tail.withLockedValue { $0 = max($0 ?? 0, horizon - 1) }
                }
                while liveLog.hasSubscribers {
                    let after = tail.withLockedValue { $0 } ?? 0
                    let page = try await records(after: after, filter: LogFilter(), limit: 1000)
                    guard let last = page.last else { break }
                    liveLog.publish(page)
                    tail.withLockedValue { $0 = last.id }
                    if page.count < 1000 { break }
                }
            } catch {
                if Task.isCancelled { return }
            }
            await logWritten.wait(since: seen, timeout: .milliseconds(250))
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? StoreError { return error.description }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.commitError ?? error.beginError { return describe(inner) }
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return "the database refused: \(message)\(code)"
            }
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection:
                return "the database cannot be reached"
            default:
                return "database error: \(error.code)"
            }
        }
        if error is CancellationError { return "cancelled" }
        return "the database cannot be reached (\(type(of: error)))"
    }
}

extension String {
    /// PostgreSQL's text cannot hold NUL; one in a client's field (a user id, an event name)
    /// would make the whole group commit fail for every request in it. It is stored as U+FFFD.
    var pgText: String {
        utf8.contains(0) ? replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : self
    }
}

extension Optional where Wrapped == String {
    var pgText: String? { map(\.pgText) }
}
