import Foundation
import GRDB
import SwitchyardCore

/// Dedup marks (`DedupRule`) in the queue's own transaction: one statement per event probes the
/// mark of its source and message id and sets it unless one still stands, so an event and its
/// mark are committed together or not at all. Prepared only in transactions that meet an event
/// with dedup on.
struct DedupMarks {
    let upsert: Statement

    init(_ db: Database) throws {
        upsert = try db.cachedStatement(
            sql: """
                INSERT INTO dedup (source, message_id, until) VALUES (?, ?, ?)
                ON CONFLICT (source, message_id) DO UPDATE SET until = excluded.until WHERE dedup.until <= ?
                """
        )
    }

    /// Marks the event's message id until `until`; false when a mark still stood at `received`
    /// (the event is a duplicate), earlier in this transaction included.
    func mark(_ item: NewEvent, until: Int64, received: Int64, db: Database) throws -> Bool {
        var row = RowWriter(upsert)
        row.bind(item.source)
        row.bind(item.event.messageId)
        row.bind(until)
        row.bind(received)
        try row.step(db)
        return db.changesCount > 0
    }
}
