import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

extension PostgresJobStore {
    /// Prunes in steps of `retention.batch` rows, each its own short transaction, so that a long
    /// history is deleted without holding locks or the write deadline for long; one node at a
    /// time (an advisory lock each step: a node that finds another pruning leaves it the rest).
    /// Each step looks its rows up by key (`= ANY(ARRAY(...))`), so that statistics taken
    /// before a large delete cannot turn it into scans of the whole table.
    /// Delivered jobs take their events with them when nothing else is left to deliver; events
    /// that never had a job are found by age through a BRIN index, cheap to keep on append.
    public func prune(_ retention: RetentionConfig) async throws -> PruneReport {
        let cutoffs = retention.cutoffs(at: clock.now())
        let (delivered, dead, logCutoff) = (cutoffs.delivered, cutoffs.deadLetters, cutoffs.log)
        let batch = max(1, retention.batch)
        var report = PruneReport(records: 0, jobs: 0, events: 0)
        // Events the archive has not written yet stay, however old.
        let archived = retention.keepUnarchived ? try await archivePosition() : Int64.max

        // The log, by age and then by count (the newest `maxLogRecords` are kept).
        let oldestKept: Int64? = try await guarded { [self] connection in
            for id in try await connection.run(
                """
                SELECT id FROM delivery_log ORDER BY id DESC OFFSET \(max(0, retention.maxLogRecords - 1)) LIMIT 1
                """,
                logger: logger
            ).decode(Int64.self) { return id }
            return nil
        }
        let below = oldestKept ?? Int64.min
        report.records += try await pruneInSteps(
            of: batch,
            """
            WITH gone AS (
                DELETE FROM delivery_log WHERE id = ANY(ARRAY(SELECT id FROM delivery_log WHERE at < \(logCutoff) OR id < \(below) LIMIT \(batch)))
                RETURNING 1)
            SELECT count(*), 0 FROM gone
            """
        ).rows
        // Finished jobs, and their events once no other job of theirs is left.
        let finished = try await pruneInSteps(
            of: batch,
            """
            WITH gone AS (
                DELETE FROM jobs WHERE id = ANY(ARRAY(
                    SELECT id FROM jobs WHERE (state = 'succeeded' AND updated_at < \(delivered)) OR (state = 'dead' AND updated_at < \(dead))
                    LIMIT \(batch)))
                RETURNING id, event_id
            ), orphans AS (
                -- The statement still sees the jobs it deletes: an event goes when all its jobs are among them.
                DELETE FROM events e USING (SELECT event_id, count(*) AS n FROM gone GROUP BY event_id) g
                WHERE e.id = g.event_id AND e.received_at < \(delivered) AND e.id <= \(archived)
                    AND (SELECT count(*) FROM jobs j WHERE j.event_id = e.id) = g.n
                RETURNING 1)
            SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM orphans)
            """
        )
        report.jobs += finished.rows
        report.events += finished.events
        // Events that never had a job (routed nowhere, or filtered out everywhere).
        report.events += try await pruneInSteps(
            of: batch,
            """
            WITH gone AS (
                DELETE FROM events WHERE id = ANY(ARRAY(
                    SELECT id FROM events e WHERE received_at < \(delivered) AND id <= \(archived) AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.event_id = e.id)
                    LIMIT \(batch)))
                RETURNING 1)
            SELECT count(*), count(*) FROM gone
            """
        ).events
        // Dedup marks whose window has passed, found by their end through its index.
        let now = clock.now().millisecondsSinceEpoch
        report.dedupMarks += try await pruneInSteps(
            of: batch,
            """
            WITH gone AS (
                DELETE FROM dedup WHERE (source, message_id) IN (SELECT source, message_id FROM dedup WHERE until <= \(now) LIMIT \(batch))
                RETURNING 1)
            SELECT count(*), 0 FROM gone
            """
        ).rows
        return report
    }

    /// Runs a pruning step until one deletes fewer than `batch` rows, another node holds the
    /// pruning lock, or this one shuts down. The query answers the rows it deleted from its
    /// table, and the events among them or taken along; returned summed over the steps.
    private func pruneInSteps(of batch: Int, _ query: PostgresQuery) async throws -> (rows: Int, events: Int) {
        var total = (rows: 0, events: 0)
        while let step = try await pruneStep(query) {
            total.rows += step.rows
            total.events += step.events
            if step.rows < batch { break }
        }
        return total
    }

    /// One pruning step in its own transaction, or nil when another node holds the pruning lock
    /// (or this one is shutting down).
    private func pruneStep(_ query: PostgresQuery) async throws -> (rows: Int, events: Int)? {
        guard !Task.isCancelled else { return nil }
        return try await guarded { [self] connection in
            try await connection.runTransaction(logger: logger) { connection in
                for mine in try await connection.run("SELECT pg_try_advisory_xact_lock(\(Self.pruneLock))", logger: logger)
                    .decode(Bool.self) where !mine
                {
                    return nil
                }
                for (a, b) in try await connection.run(query, logger: logger).decode((Int64, Int64).self) {
                    return (Int(a), Int(b))
                }
                return (0, 0)
            }
        }
    }

    /// Held by the node pruning, one step at a time; any constant no other application uses.
    static let pruneLock: Int64 = 0x5357_5944_5052_554E  // "SWYDPRUN"
}
