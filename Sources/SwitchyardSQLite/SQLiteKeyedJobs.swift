import Foundation
import GRDB
import SwitchyardCore

/// The statements behind per-key order (`DeliveryOrdering.perKey`): a job whose key has an earlier
/// job still to be delivered is stored `blocked`, never due (`available_at` is the largest time,
/// so claims never reach it); when the one ahead is delivered or dead, the oldest blocked job of
/// the key becomes pending. Prepared only in transactions that meet a keyed job.
struct KeyedJobs {
    let busy: Statement
    let insert: Statement
    let next: Statement

    init(_ db: Database) throws {
        busy = try db.cachedStatement(
            sql: """
                SELECT 1 FROM jobs WHERE destination = ? AND ordering_key = ? AND \(SQLiteJobStore.waiting) LIMIT 1
                """
        )
        insert = try db.cachedStatement(
            sql: """
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, ordering_key, rule) VALUES (?, ?, ?, ?, ?, ?, ?)
                """
        )
        next = try db.cachedStatement(
            sql: """
                UPDATE jobs SET state = 'pending', available_at = ?, updated_at = ? WHERE id = (
                    SELECT id FROM jobs WHERE destination = ? AND ordering_key = ? AND state = 'blocked' AND \(SQLiteJobStore.waiting)
                    ORDER BY id LIMIT 1)
                """
        )
    }

    /// Whether the key has a job still to be delivered (earlier in this transaction included).
    func isBusy(destination: String, key: String, db: Database) throws -> Bool {
        var found = false
        var row = RowWriter(busy)
        row.bind(destination)
        row.bind(key)
        try row.rows(db) { _ in found = true }
        return found
    }

    func insert(eventID: Int64, target destination: String, key: String, rule: String?, at received: Int64, db: Database) throws {
        let start = KeyedOrder.start(keyBusy: try isBusy(destination: destination, key: key, db: db), due: received)
        var row = RowWriter(insert)
        row.bind(eventID)
        row.bind(destination)
        row.bind(start.state.rawValue)
        row.bind(start.availableAt)
        row.bind(received)
        row.bind(key)
        row.bind(rule)
        try row.step(db)
    }

    /// Lets the key's oldest blocked job go; returns how many did (0 or 1).
    func releaseNext(destination: String, key: String, at now: Int64, db: Database) throws -> Int {
        var row = RowWriter(next)
        row.bind(now)
        row.bind(now)
        row.bind(destination)
        row.bind(key)
        try row.step(db)
        return db.changesCount
    }
}
