import Foundation
import GRDB
import SwitchyardCore

extension SQLiteJobStore {
    /// Prunes in steps of `retention.batch` rows, each its own write, so that group commits
    /// (which share the one writer) wait for one step at most, never for a whole history.
    public func prune(_ retention: RetentionConfig) async throws -> PruneReport {
        let cutoffs = retention.cutoffs(at: clock.now())
        let (delivered, dead, logCutoff) = (cutoffs.delivered, cutoffs.deadLetters, cutoffs.log)
        let batch = max(1, retention.batch)
        var report = PruneReport(records: 0, jobs: 0, events: 0)
        // Ids are shared with events, so the newest `maxLogRecords` are found by counting.
        let oldestKept =
            try await pool.read { db in
                try Int64.fetchOne(
                    db,
                    sql: "SELECT id FROM delivery_log ORDER BY id DESC LIMIT 1 OFFSET ?",
                    arguments: [max(0, retention.maxLogRecords - 1)]
                )
            } ?? Int64.min
        // Runs a deleting step, each its own write, until one deletes fewer than `batch` rows
        // (or the server shuts down); returns the rows deleted.
        func inSteps(_ sql: String, _ arguments: StatementArguments) async throws -> Int {
            var total = 0
            while !Task.isCancelled {
                let deleted = try await pool.write { db in
                    // Deleting may take the newest ids: remember them, so they are not handed out again.
                    try Self.noteLastLogID(try Self.nextLogID(db) - 1, db)
                    try db.execute(sql: sql, arguments: arguments)
                    return db.changesCount
                }
                total += deleted
                if deleted < batch { break }
            }
            return total
        }
        report.records = try await inSteps(
            """
            DELETE FROM delivery_log WHERE id IN (SELECT id FROM delivery_log WHERE at < ? OR id < ? LIMIT ?)
            """,
            [logCutoff, oldestKept, batch]
        )
        // Ids grow with arrival, so everything older than the delivered retention lies below the
        // first newer event: the steps scan that old end of the tables, never the recent bulk.
        let recent =
            try await pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT id FROM events WHERE received_at >= ? ORDER BY id LIMIT 1", arguments: [delivered])
            } ?? Int64.max
        report.jobs = try await inSteps(
            """
            DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE event_id < ? AND state = 'succeeded' AND updated_at < ? LIMIT ?)
            """,
            [recent, delivered, batch]
        )
        report.jobs += try await inSteps(
            """
            DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'dead' AND updated_at < ? LIMIT ?)
            """,
            [dead, batch]
        )
        // Events with no job left (all delivered and pruned, or never routed anywhere) go too,
        // once they are older than the delivered retention, and the archive has them.
        let archived = retention.keepUnarchived ? try await archivePosition() + 1 : Int64.max
        // An event whose dedup mark still stands stays until the message index holds the mark.
        let now = clock.now().millisecondsSinceEpoch
        let indexed = try await messageIndex.read { db in try Int64.fetchOne(db, sql: Self.indexedThroughSQL) ?? 0 }
        report.events = try await inSteps(
            """
            DELETE FROM events WHERE id IN (
                SELECT id FROM events WHERE id < ? AND id < ? AND received_at < ?
                AND (id <= ? OR dedup_until IS NULL OR dedup_until <= ?)
                AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id) LIMIT ?)
            """,
            [recent, archived, delivered, indexed, now, batch]
        )
        // Dedup marks whose window has passed: those held in memory, and the index's runs whose
        // marks have all passed (and whose events are gone).
        report.dedupMarks = marks.expire(at: now)
        let oldest = try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events") } ?? Int64.max
        report.dedupMarks += try await messageIndex.write { db in try Self.dropSpentRuns(db, oldestEvent: oldest, now: now) }
        // Runs with no standing mark whose events are gone also go at the index's next pass.
        return report
    }
}
