import Foundation
import GRDB
import SwitchyardCore

/// Finding an event by its message id without indexing random ids in the ingestion commit.
extension SQLiteJobStore {
    /// Rows of `events` with a message id, as a subquery taking the id twice: one probe of each
    /// sorted run of the index, plus a scan of the events stored since the last run was cut.
    /// Runs on the queue's readers, which attach the index as `mi`.
    static let eventsWithMessageID = """
        SELECT m.event_id FROM mi.message_runs r CROSS JOIN mi.message_index m ON m.run = r.run AND m.message_id = ?
        UNION ALL SELECT id FROM events WHERE id > (SELECT COALESCE(MAX(through), 0) FROM mi.message_runs) AND message_id = ?
        """

    /// Indexes the message ids of up to `limit` events stored since the last call as one new run,
    /// sorted by message id, then merges small runs; returns how many ids it indexed. The run
    /// carries the events' dedup marks, which `RecentMarks` then stops holding in memory.
    ///
    /// Why runs: message ids are random, so inserting them into one B-tree dirties a page per id,
    /// and once that tree outgrows the page cache every batch rewrites nearly all of it. A run is
    /// written in key order, so it only appends pages. Lookups probe each run; merging keeps their
    /// number logarithmic. The ids are read and sorted on one of the queue's readers and written to
    /// the index's own file: the queue's writer is not involved.
    public func indexMessageIDs(limit: Int = 50_000) async throws -> Int {
        let through = try await messageIndex.read { db in try Int64.fetchOne(db, sql: Self.indexedThroughSQL) ?? 0 }
        let (oldest, entries, last) = try await pool.read { db -> (Int64, [IndexEntry], Int64?) in
            let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events") ?? Int64.max
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT message_id, id, source, dedup_until FROM (
                        SELECT id, message_id, source, dedup_until FROM events WHERE id > ? ORDER BY id LIMIT ?
                    ) ORDER BY message_id, id
                    """,
                arguments: [through, limit]
            )
            var entries: [IndexEntry] = []
            var last: Int64?
            while let row = try rows.next() {
                let id: Int64 = row[1]
                let until: Int64? = row[3]
                entries.append(IndexEntry(messageID: row[0], eventID: id, source: until == nil ? nil : row[2] as String, until: until))
                last = max(last ?? id, id)
            }
            return (oldest, entries, last)
        }
        let now = clock.now().millisecondsSinceEpoch
        let indexed = try await messageIndex.write { db -> Int? in
            // Another pass (a prune's, say) indexed these events meanwhile: leave them to it.
            guard try Int64.fetchOne(db, sql: Self.indexedThroughSQL) ?? 0 == through else { return nil }
            // Runs whose events are all pruned and whose marks have passed go (entries of pruned
            // events inside a run that is still needed are dropped when that run is next merged).
            _ = try Self.dropSpentRuns(db, oldestEvent: oldest, now: now)
            guard let last else { return 0 }
            try db.execute(
                sql: "INSERT INTO message_runs (after, through, entries, until) VALUES (?, ?, ?, ?)",
                arguments: [through, last, entries.count, entries.compactMap(\.until).max()]
            )
            let run = db.lastInsertedRowID
            let insert = try db.cachedStatement(
                sql: "INSERT INTO message_index (run, message_id, event_id, source, until) VALUES (?, ?, ?, ?, ?)"
            )
            for entry in entries {
                var row = RowWriter(insert)
                row.bind(run)
                row.bind(entry.messageID)
                row.bind(entry.eventID)
                row.bind(entry.source)
                row.bind(entry.until)
                try row.step(db)
            }
            try Self.mergeMessageRuns(db, oldestEvent: oldest, now: now)
            return entries.count
        }
        guard let indexed, let last else { return 0 }
        marks.published(
            entries.compactMap { entry in entry.source.map { DedupKey(source: $0, messageId: entry.messageID).hashValue } },
            through: last
        )
        try await dropEntriesOfDeletedEvents(entries.map { ($0.messageID, $0.eventID) }, after: through, through: last)
        return indexed
    }

    struct IndexEntry {
        var messageID: String
        var eventID: Int64
        /// Set for the entry of an event with a dedup mark, with the mark's end.
        var source: String?
        var until: Int64?
    }

    /// A deletion may have taken some of the events while their ids were being indexed, after it
    /// cleared their entries: those entries go now (a deletion clears entries after deleting
    /// events, so each order of the two is covered). Most runs lose nothing: one count shows it.
    private func dropEntriesOfDeletedEvents(_ ids: [(String, Int64)], after through: Int64, through last: Int64) async throws {
        let present = try await pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE id > ? AND id <= ?", arguments: [through, last]) ?? 0
        }
        guard present < ids.count else { return }
        let kept = Set(
            try await pool.read { db in
                try Int64.fetchAll(db, sql: "SELECT id FROM events WHERE id > ? AND id <= ?", arguments: [through, last])
            }
        )
        let gone = ids.filter { !kept.contains($0.1) }
        try await Self.deleteIndexEntries(gone, messageIndex)
    }

    /// Deletes the index entries of these events, in whichever run holds them; returns how many,
    /// and the events among them whose entry held a dedup mark.
    @discardableResult
    static func deleteIndexEntries(
        _ entries: [(messageId: String, eventID: Int64)],
        _ index: DatabasePool
    ) async throws -> (entries: Int, marked: Set<Int64>) {
        guard !entries.isEmpty else { return (0, []) }
        return try await index.write { db in
            let delete = try db.cachedStatement(
                sql:
                    "DELETE FROM message_index WHERE run IN (SELECT run FROM message_runs) AND message_id = ? AND event_id = ? RETURNING until"
            )
            var deleted = (entries: 0, marked: Set<Int64>())
            for (messageId, eventID) in entries {
                let rows = try Row.fetchAll(delete, arguments: [messageId, eventID])
                deleted.entries += rows.count
                if rows.contains(where: { $0[0] as Int64? != nil }) { deleted.marked.insert(eventID) }
            }
            return deleted
        }
    }

    /// Runs are grouped in tiers by size (powers of 8). When the newest `fanIn` runs share a tier
    /// they become one run of the next: every id is rewritten about once per tier, at most
    /// log8(`maxMergedEntries`) times, and there are at most `fanIn` - 1 runs per tier. Runs larger
    /// than `maxMergedEntries` are left alone so a merge never holds the writer for long.
    static func mergeMessageRuns(_ db: Database, oldestEvent: Int64, now: Int64, fanIn: Int = 8, maxMergedEntries: Int = 250_000) throws {
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
                sql:
                    "INSERT INTO message_runs (after, through, entries, until) VALUES (?, ?, 0, (SELECT MAX(until) FROM message_runs WHERE run IN (\(list))))",
                arguments: [newest.last!["after"] as Int64, newest.first!["through"] as Int64]
            )
            let merged = db.lastInsertedRowID
            // Entries of events older than the oldest stored one are dropped on the way, unless
            // their dedup mark still stands. (Others of pruned events may stay: a lookup joins to
            // `events` and finds nothing for them.)
            try db.execute(
                sql: """
                    INSERT INTO message_index (run, message_id, event_id, source, until)
                    SELECT ?, m.message_id, m.event_id, m.source, m.until FROM message_index m
                    WHERE m.run IN (\(list)) AND (m.event_id >= ? OR m.until > ?)
                    ORDER BY m.message_id, m.event_id
                    """,
                arguments: [merged, oldestEvent, now]
            )
            try db.execute(sql: "UPDATE message_runs SET entries = ? WHERE run = ?", arguments: [db.changesCount, merged])
            try db.execute(sql: "DELETE FROM message_index WHERE run IN (\(list))")
            try db.execute(sql: "DELETE FROM message_runs WHERE run IN (\(list))")
        }
    }
}
