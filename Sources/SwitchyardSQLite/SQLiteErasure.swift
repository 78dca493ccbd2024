import Foundation
import GRDB
import SwitchyardCore

/// A deletion's steps on the embedded store. Rows are matched in Swift (`Subjects`) on a reader,
/// then deleted by id on the writer, so the writer is held for the deletes alone; with
/// `secure_delete` on, what they held is overwritten in the file, not just unlinked.
extension SQLiteJobStore {
    public func erase(_ erasure: Erasure, from cursor: ErasureCursor, limit: Int) async throws -> ErasureStep {
        switch cursor {
        case .events(let after): return try await eraseEvents(erasure, after: after, limit: limit)
        case .log(let after): return try await eraseRecords(erasure, after: after, limit: limit)
        }
    }

    private struct Matched {
        var id: Int64
        var source: String
        var messageId: String
    }

    private func eraseEvents(_ erasure: Erasure, after: Int64, limit: Int) async throws -> ErasureStep {
        let subjects = erasure.subjects
        let (scanned, last, matched) = try await pool.read { db -> (Int, Int64, [Matched]) in
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT id, source, message_id, user_id, anonymous_id FROM events WHERE id > ? ORDER BY id LIMIT ?",
                arguments: [after, limit]
            )
            var scanned = 0
            var last = after
            var matched: [Matched] = []
            while let row = try rows.next() {
                scanned += 1
                last = row[0]
                if subjects.matches(userId: row[3], anonymousId: row[4]) {
                    matched.append(Matched(id: row[0], source: row[1], messageId: row[2]))
                }
            }
            return (scanned, last, matched)
        }
        let next: ErasureCursor = scanned < limit ? .log(after: .min) : .events(after: last)
        var removed = ErasureCounts()
        if !matched.isEmpty {
            // The index is derived data: its entries go before the events (so a failed step leaves
            // nothing found only through it) and again after them (an indexing run that read the
            // events before they went may have written them meanwhile; see `indexMessageIDs`).
            let entries = matched.map { (messageId: $0.messageId, eventID: $0.id) }
            let before = try await Self.deleteIndexEntries(entries, messageIndex)
            let now = clock.now().millisecondsSinceEpoch
            // Marks not yet in the index are held in memory: they go once the events have. A mark
            // is counted once, wherever it was found (an indexing pass may have copied it meanwhile).
            let keys = matched.map { DedupKey(source: $0.source, messageId: $0.messageId).hashValue }
            let marked = before.marked.union(marks.events(keys).intersection(matched.map(\.id)))
            let (counts, waiting, released) = try await pool.write { db in
                try Self.noteLastLogID(try Self.nextLogID(db) - 1, db)
                var counts = ErasureCounts()
                counts.messageIndexEntries = before.entries
                counts.dedupMarks = marked.count
                var waiting = 0
                var heads = Set<[String]>()
                for event in matched {
                    let jobs = try Row.fetchAll(
                        db,
                        sql: "SELECT state, destination, ordering_key FROM jobs WHERE event_id = ?",
                        arguments: [event.id]
                    )
                    for job in jobs {
                        guard let state = JobState(rawValue: job[0]) else { continue }
                        counts.countJob(state)
                        guard JobState.waiting.contains(state) else { continue }
                        waiting += 1
                        if let key = job[2] as String?, state != .blocked { heads.insert([job[1], key]) }
                    }
                    try db.execute(sql: "DELETE FROM jobs WHERE event_id = ?", arguments: [event.id])
                    try db.execute(sql: "DELETE FROM delivery_log WHERE event_id = ?", arguments: [event.id])
                    counts.logRecords += db.changesCount
                    try db.execute(sql: "DELETE FROM events WHERE id = ?", arguments: [event.id])
                    counts.events += db.changesCount
                }
                // A deleted job that was its key's next lets the one behind it go, as a delivery would.
                var released = 0
                for head in heads where try !Self.keyHasHead(destination: head[0], key: head[1], db) {
                    released += try KeyedJobs(db).releaseNext(destination: head[0], key: head[1], at: now, db: db)
                }
                try Self.addRemoved(counts, to: erasure.id, db)
                return (counts, waiting, released)
            }
            gate.settled(waiting, released: released)
            marks.erase(keys)
            removed = counts
            let after = try await Self.deleteIndexEntries(entries, messageIndex)
            if after.entries > 0 {
                let lateMarks = after.marked.subtracting(marked).count
                removed.messageIndexEntries += after.entries
                removed.dedupMarks += lateMarks
                var late = ErasureCounts()
                late.messageIndexEntries = after.entries
                late.dedupMarks = lateMarks
                let counted = late
                try await pool.write { db in try Self.addRemoved(counted, to: erasure.id, db) }
            }
        }
        return ErasureStep(removed: removed, next: next)
    }

    /// Whether a key still has a job that is not blocked (one that was not deleted).
    static func keyHasHead(destination: String, key: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db,
            sql: """
                SELECT EXISTS (SELECT 1 FROM jobs WHERE destination = ? AND ordering_key = ? AND state IN ('pending', 'failed', 'in_flight'))
                """,
            arguments: [destination, key]
        ) ?? false
    }

    private func eraseRecords(_ erasure: Erasure, after: Int64, limit: Int) async throws -> ErasureStep {
        let subjects = erasure.subjects
        let (scanned, last, matched) = try await pool.read { db -> (Int, Int64, [Int64]) in
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT id, user_id, detail FROM delivery_log WHERE id > ? ORDER BY id LIMIT ?",
                arguments: [after, limit]
            )
            var scanned = 0
            var last = after
            var matched: [Int64] = []
            while let row = try rows.next() {
                scanned += 1
                last = row[0]
                let detail = (row[2] as String?).map { Array($0.utf8) }
                if erasure.records.matches(recordUserId: row[1], detail: detail) { matched.append(row[0]) }
            }
            return (scanned, last, matched)
        }
        var removed = ErasureCounts()
        if !matched.isEmpty {
            removed.logRecords = try await pool.write { db in
                try Self.noteLastLogID(try Self.nextLogID(db) - 1, db)
                var deleted = 0
                for id in matched {
                    try db.execute(sql: "DELETE FROM delivery_log WHERE id = ?", arguments: [id])
                    deleted += db.changesCount
                }
                var counts = ErasureCounts()
                counts.logRecords = deleted
                try Self.addRemoved(counts, to: erasure.id, db)
                return deleted
            }
        }
        return ErasureStep(removed: removed, next: scanned < limit ? nil : .log(after: last))
    }

    /// Adds to the regulation's counts and marks it running.
    static func addRemoved(_ counts: ErasureCounts, to id: String, _ db: Database) throws {
        let stored = try String.fetchOne(db, sql: "SELECT removed FROM regulations WHERE id = ?", arguments: [id])
        let total = ErasureCounts(json: stored.flatMap { try? JSONParser.parse($0) }) + counts
        try db.execute(
            sql: "UPDATE regulations SET removed = ?, status = 'RUNNING' WHERE id = ?",
            arguments: [String(decoding: total.json.serialized(), as: UTF8.self), id]
        )
    }
}
