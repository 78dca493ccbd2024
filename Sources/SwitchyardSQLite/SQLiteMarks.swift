import GRDB
import SwitchyardCore

/// Where the SQLite store's dedup marks live between commits (`RecentMarks`) and the message
/// index's runs, which keep them past their events until their windows pass.
extension SQLiteJobStore {
    /// Opens the marks: the `dedup` table of older versions moved into the index, and the tail
    /// loaded from the events the index does not cover yet. The filter is built later, by the
    /// indexer (`buildMarkFilter`), so a large index does not slow the start.
    static func loadMarks(_ marks: RecentMarks, pool: DatabasePool, index: DatabasePool, clock: any WallClock) throws {
        try moveDedupTable(pool: pool, index: index, now: clock.now().millisecondsSinceEpoch)
        let through = try index.read { db in try Int64.fetchOne(db, sql: indexedThroughSQL) ?? 0 }
        let tail = try pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT id, source, message_id, dedup_until FROM events WHERE id > ? AND dedup_until IS NOT NULL",
                arguments: [through]
            ).map { row in
                (DedupKey(source: row[1], messageId: row[2]).hashValue, RecentMarks.Mark(until: row[3], eventID: row[0]))
            }
        }
        marks.load(tail: tail, indexedThrough: through)
    }

    /// Marks from before they were kept with events: written to the index as one run (their
    /// events are unknown, so their entries get ids below zero, which match no event), then the
    /// table goes. A crash between the two only writes the run again.
    static func moveDedupTable(pool: DatabasePool, index: DatabasePool, now: Int64) throws {
        let rows = try pool.read { db -> [Row]? in
            guard try db.tableExists("dedup") else { return nil }
            return try Row.fetchAll(
                db,
                sql: "SELECT source, message_id, until FROM dedup WHERE until > ? ORDER BY message_id, source",
                arguments: [now]
            )
        }
        guard let rows else { return }
        if !rows.isEmpty {
            try index.write { db in
                let through = try Int64.fetchOne(db, sql: indexedThroughSQL) ?? 0
                try db.execute(
                    sql: "INSERT INTO message_runs (after, through, entries, until) VALUES (?, ?, ?, ?)",
                    arguments: [through, through, rows.count, rows.map { $0["until"] as Int64 }.max()]
                )
                let run = db.lastInsertedRowID
                let insert = try db.cachedStatement(
                    sql: "INSERT INTO message_index (run, message_id, event_id, source, until) VALUES (?, ?, ?, ?, ?)"
                )
                for (i, row) in rows.enumerated() {
                    try insert.execute(arguments: [run, row["message_id"], -Int64(i + 1), row["source"], row["until"]])
                }
            }
        }
        try pool.write { db in try db.execute(sql: "DROP TABLE IF EXISTS dedup") }
    }

    static let indexedThroughSQL = "SELECT COALESCE(MAX(through), 0) FROM message_runs"

    /// Builds the filter over the index's standing marks, sized for twice as many (and at least a
    /// million, 1.2 MiB, so a busy start does not rebuild it again and again), and swaps it in.
    func buildMarkFilter() async throws {
        marks.beginBuild()
        let now = clock.now().millisecondsSinceEpoch
        let filter = try await messageIndex.read { db in
            let bound =
                try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(entries), 0) FROM message_runs WHERE until > ?", arguments: [now]) ?? 0
            var filter = BloomFilter(capacity: max(2 * bound, 1_000_000))
            let rows = try Row.fetchCursor(db, sql: "SELECT source, message_id FROM message_index WHERE until > ?", arguments: [now])
            while let row = try rows.next() {
                filter.insert(DedupKey(source: row[0], messageId: row[1]).hashValue)
            }
            return filter
        }
        marks.finishBuild(filter)
    }

    /// Drops the runs whose events are all pruned and whose marks have all passed; returns how
    /// many marks went with them.
    static func dropSpentRuns(_ db: Database, oldestEvent: Int64, now: Int64) throws -> Int {
        let spent = "SELECT run FROM message_runs WHERE through < ? AND COALESCE(until, 0) <= ?"
        let marks =
            try Int.fetchOne(
                db,
                sql: "SELECT COUNT(until) FROM message_index WHERE run IN (\(spent))",
                arguments: [oldestEvent, now]
            ) ?? 0
        try db.execute(sql: "DELETE FROM message_index WHERE run IN (\(spent))", arguments: [oldestEvent, now])
        try db.execute(sql: "DELETE FROM message_runs WHERE through < ? AND COALESCE(until, 0) <= ?", arguments: [oldestEvent, now])
        return marks
    }
}
