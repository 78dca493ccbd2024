import Foundation
import GRDB
import SwitchyardCore

/// Ingestion, claims and outcomes: the queue's hot path.
extension SQLiteJobStore {
    /// Stores the events that are not duplicates; returns, for each event, whether it was one.
    /// The marks it sets are provisional in `recent` until the caller settles them.
    static func insert(
        _ events: [NewEvent],
        marks recent: RecentMarks,
        index: DatabasePool,
        db: Database
    ) throws -> ([Bool], [LogRecord]) {
        var records: [LogRecord] = []
        records.reserveCapacity(events.count)
        var duplicates: [Bool] = []
        duplicates.reserveCapacity(events.count)
        var nextID = try nextLogID(db)
        let insertEvent = try db.cachedStatement(
            sql: """
                INSERT INTO events (id, message_id, source, type, name, user_id, anonymous_id, received_at, payload, dedup_until)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        let insertJob = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, rule) VALUES (?, ?, 'pending', ?, ?, ?)
                """
        )
        var keyed: KeyedJobs?
        var marks: DedupMarks?
        var skipped: [LogRecord] = []
        for item in events {
            let e = item.event
            let received = e.receivedAt.millisecondsSinceEpoch
            let eventID = nextID
            if let until = item.dedupUntil {
                if marks == nil { marks = DedupMarks(recent: recent, index: index) }
                let duplicate = try !marks!.mark(item, eventID: eventID, until: until, db: db)
                duplicates.append(duplicate)
                if duplicate { continue }
            } else {
                duplicates.append(false)
            }
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
            row.bind(item.dedupUntil)
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
            records.append(.received(item, id: eventID))
            if !item.skipped.isEmpty || !item.records.isEmpty { skipped += LogRecord.withEvent(item, eventID: eventID) }
        }
        if !skipped.isEmpty {
            // Numbered after the events (`insertRecords` reads the next id).
            try insertRecords(&skipped, db: db)
            records += skipped
        }
        return (duplicates, records)
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

    public func append(_ events: [NewEvent]) async throws(StoreError) -> Appended {
        let jobs = events.reduce(0) { $0 + $1.targets.count }
        return try await gate.append(jobs: jobs) { () throws(StoreError) -> Appended in
            Appended(events, duplicates: try await committer.write(events))
        }
    }

    public func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job] {
        let now = clock.now().millisecondsSinceEpoch
        let leaseEnd = now + leaseFor.milliseconds
        let lease = Int64.random(in: 1...Int64.max)
        return try await pool.write { db in
            var claimed: [Job] = []
            var select = RowWriter(try db.cachedStatement(sql: Self.claimSQL))
            select.bind(destination)
            select.bind(now)
            select.bind(limit)
            var expired = 0
            try select.rows(db) { row in
                claimed.append(
                    Job(
                        id: row.int64(0),
                        eventID: row.int64(1),
                        lease: lease,
                        destination: destination,
                        attempt: Int(row.int64(2)) + 1,
                        source: row.string(7) ?? "",
                        messageId: row.string(8) ?? "",
                        type: MessageType(rawValue: row.string(9) ?? "") ?? .track,
                        name: row.string(10),
                        userId: row.string(13),
                        receivedAt: Timestamp(millisecondsSinceEpoch: row.int64(11)),
                        payload: row.bytes(12),
                        orderingKey: row.string(3),
                        rule: row.string(4),
                        output: row.optionalBytes(6)
                    )
                )
                if row.int64(5) != 0 { expired += 1 }
            }
            self.metrics.leaseExpired(destination: destination, count: expired)
            let take = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET state = 'in_flight', lease = ?, attempts = attempts + 1, available_at = ?, updated_at = ? WHERE id = ?
                    """
            )
            for job in claimed {
                var update = RowWriter(take)
                update.bind(lease)
                update.bind(leaseEnd)
                update.bind(now)
                update.bind(job.id)
                try update.step(db)
            }
            return claimed
        }
    }

    /// A destination's due jobs with their events, read in one walk of the waiting jobs' index
    /// (due order, stopping after `limit` rows: a claim costs the same with ten jobs waiting or
    /// ten million; leases that ran out are due too). The event comes with its job, so delivery
    /// does not go back for each one.
    static let claimSQL = """
        SELECT jobs.id, event_id, attempts, ordering_key, rule, state = 'in_flight', output,
            source, message_id, type, name, received_at, payload, COALESCE(user_id, anonymous_id)
        FROM jobs JOIN events ON events.id = jobs.event_id
        WHERE destination = ? AND \(waiting) AND available_at <= ?
        ORDER BY available_at, event_id LIMIT ?
        """

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
                UPDATE jobs SET state = ?, available_at = ?, last_error = COALESCE(?, last_error), lease = NULL, updated_at = ?,
                    output = COALESCE(?, output)
                WHERE id = ? AND lease = ? AND state = 'in_flight'
                """
        )
        for result in results {
            var row = RowWriter(update)
            row.bind(result.outcome.state.rawValue)
            row.bind(result.outcome.availableAt(now: now).millisecondsSinceEpoch)
            row.bind(result.outcome.error)
            row.bind(now.millisecondsSinceEpoch)
            if let output = result.output { row.bindBlob(output) } else { row.bindNull() }
            row.bind(result.jobID)
            row.bind(result.lease)
            try row.step(db)
            // A stale lease changed nothing: its outcome is not the job's, so it is not logged either.
            guard db.changesCount > 0 else { continue }
            if result.outcome.isFinal { settled += 1 }
            // The key's next job, if one waits behind this one, may go now.
            if let (destination, key) = result.releasedKey {
                if keyed == nil { keyed = try KeyedJobs(db) }
                released += try keyed!.releaseNext(destination: destination, key: key, at: now.millisecondsSinceEpoch, db: db)
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
        let now = clock.now().millisecondsSinceEpoch
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
            gate.newJobs.signal()
        }
        return recovered
    }

    public func release(_ jobs: [Job]) async throws {
        guard !jobs.isEmpty else { return }
        let now = clock.now().millisecondsSinceEpoch
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
}
