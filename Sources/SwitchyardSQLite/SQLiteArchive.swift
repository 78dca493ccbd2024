import Foundation
import GRDB
import SwitchyardCore

/// The archiver's cursor in the queue's file. One node owns the file, so its lease is always
/// granted; ids are handed out by the single writer in commit order, so every committed id is
/// safe to read up to.
extension SQLiteJobStore {
    public func leaseArchive(leaseFor: Duration) async throws -> ArchiveCursor? {
        try await pool.read { db in
            let row = try Row.fetchOne(db, sql: "SELECT position, pending_through FROM archive_state WHERE id = 1")
            return ArchiveCursor(position: row?["position"] ?? 0, pendingThrough: row?["pending_through"])
        }
    }

    public func saveArchiveCursor(_ cursor: ArchiveCursor) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO archive_state (id, position, pending_through) VALUES (1, ?, ?)",
                arguments: [cursor.position, cursor.pendingThrough]
            )
        }
    }

    public func eventsToArchive(after position: Int64, through: Int64?, limit: Int) async throws -> [ArchivedEvent] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT id, message_id, source, type, name, user_id, anonymous_id, received_at, payload FROM events
                    WHERE id > ? AND id <= ? ORDER BY id LIMIT ?
                    """,
                arguments: [position, through ?? Int64.max, limit]
            ).compactMap { row in
                guard let type = MessageType(rawValue: row["type"]) else { return nil }
                let event = Event(
                    messageId: row["message_id"],
                    type: type,
                    name: row["name"],
                    userId: row["user_id"],
                    anonymousId: row["anonymous_id"],
                    receivedAt: Timestamp(millisecondsSinceEpoch: row["received_at"]),
                    payload: [UInt8](row["payload"] as Data)
                )
                return ArchivedEvent(id: row["id"], source: row["source"], event: event)
            }
        }
    }

    public func oldestUnarchived(after position: Int64) async throws -> Timestamp? {
        try await pool.read { db in
            try Int64.fetchOne(db, sql: "SELECT received_at FROM events WHERE id > ? ORDER BY id LIMIT 1", arguments: [position])
                .map(Timestamp.init(millisecondsSinceEpoch:))
        }
    }

    /// The last event the archive holds: retention keeps every event after it.
    public func archivePosition() async throws -> Int64 {
        try await pool.read { db in try Int64.fetchOne(db, sql: "SELECT position FROM archive_state WHERE id = 1") ?? 0 }
    }
}
