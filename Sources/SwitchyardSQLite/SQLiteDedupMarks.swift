import GRDB
import SwitchyardCore

/// Dedup marks (`DedupRule`) in the queue's own transaction: the event's row carries its mark
/// (`dedup_until`), so an event and its mark are committed together or not at all. Whether a
/// mark already stands is asked of `RecentMarks` and, only where its filter cannot rule the id
/// out, of the message index's runs.
struct DedupMarks {
    let recent: RecentMarks
    let index: DatabasePool

    /// Marks the event's message id until `until`; false when a mark still stood at its receipt
    /// (the event is a duplicate). The mark is added to `recent` at once, so a copy later in the
    /// same transaction is caught; the committer settles it once the transaction ends.
    func mark(_ item: NewEvent, eventID: Int64, until: Int64, db: Database) throws -> Bool {
        let key = DedupKey(item)
        let hash = key.hashValue
        let (tail, mayBeInRuns) = recent.look(hash)
        let standing: Int64?
        if let tail, try Self.isEvent(tail.eventID, of: key, db) {
            standing = tail.until
        } else {
            standing = mayBeInRuns ? try Self.probe(key, index) : nil
        }
        if DedupRule.isDuplicate(item, markedUntil: standing) { return false }
        recent.add(hash, RecentMarks.Mark(until: until, eventID: eventID))
        return true
    }

    /// Whether the tail's mark under the key's hash is the key's own: its event's row says.
    /// Asked only when the hash is there, which is almost only for real duplicates.
    static func isEvent(_ id: Int64, of key: DedupKey, _ db: Database) throws -> Bool {
        let statement = try db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM events WHERE id = ? AND source = ? AND message_id = ?)")
        return try Bool.fetchOne(statement, arguments: [id, key.source, key.messageId]) ?? false
    }

    /// The latest end of the key's marks in the index's runs. Read on one of the index's
    /// readers: the queue's writer does not attach the index (its transactions would lock it).
    static func probe(_ key: DedupKey, _ index: DatabasePool) throws -> Int64? {
        try index.read { db in
            // Cached per reader connection: a probe is one step of a prepared statement.
            let statement = try db.cachedStatement(
                sql: """
                    SELECT MAX(m.until) FROM message_runs r CROSS JOIN message_index m
                    ON m.run = r.run AND m.message_id = ? AND m.source = ?
                    """
            )
            return try Int64.fetchOne(statement, arguments: [key.messageId, key.source])
        }
    }
}
