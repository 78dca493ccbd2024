import Foundation
import GRDB
import SwitchyardCore

/// What the queue holds, for the summary, `/metrics`, heartbeats and `/ready`.
extension SQLiteJobStore {
    public func backlog() async throws -> [String: QueueStats.Destination] {
        let now = clock.now().millisecondsSinceEpoch
        return try await pool.read { db in try Self.backlog(db, now: now) }
    }

    /// One process owns the queue (see `QueueLock`), and its heartbeat clock already knows every
    /// delivery, so only the backlog is left to check.
    public func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision {
        let destinations = heartbeat.destinations
        let waiting = try await backlog().filter { destinations.contains($0.key) }.values.reduce(0) { $0 + $1.waiting }
        guard waiting == 0 else { return .backlog(waiting) }
        try await append([heartbeat])
        return .stored
    }

    public func stats() async throws -> QueueStats {
        let now = clock.now().millisecondsSinceEpoch
        return try await pool.read { db in
            var destinations = try Self.backlog(db, now: now)
            for row in try Row.fetchAll(db, sql: "SELECT destination, COUNT(*) FROM jobs WHERE state = 'succeeded' GROUP BY destination") {
                destinations[row[0], default: .init()].counts[.succeeded] = row[1]
            }
            let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0
            return QueueStats(events: events, destinations: destinations)
        }
    }

    /// Reads only the waiting jobs' index (plus one event per destination) and the dead letters:
    /// delivered jobs, however many are kept, cost nothing.
    static func backlog(_ db: Database, now: Int64) throws -> [String: QueueStats.Destination] {
        var destinations: [String: QueueStats.Destination] = [:]
        let next = try db.cachedStatement(
            sql: """
                SELECT destination FROM jobs WHERE \(waiting) AND destination > ? ORDER BY destination LIMIT 1
                """
        )
        let tally = try db.cachedStatement(
            sql: """
                SELECT SUM(state = 'pending'), SUM(state = 'failed'), SUM(state = 'in_flight'), MIN(event_id), SUM(state = 'blocked') FROM jobs
                WHERE destination = ? AND \(waiting)
                """
        )
        // One index probe per destination to find the next, then one pass over its waiting jobs.
        var after = ""
        while let name = try String.fetchOne(next, arguments: [after]) {
            after = name
            guard let row = try Row.fetchOne(tally, arguments: [name]) else { continue }
            var counts: [JobState: Int] = [:]
            for (column, state) in [(0, JobState.pending), (1, .failed), (2, .inFlight), (4, .blocked)] where (row[column] as Int? ?? 0) > 0
            {
                counts[state] = row[column]
            }
            // Event ids grow with arrival, so the smallest waiting one is the oldest event.
            let oldest = try Int64.fetchOne(db, sql: "SELECT received_at FROM events WHERE id = ?", arguments: [row[3] as Int64?])
            destinations[name] = .init(counts: counts, oldestWaitingAgeMs: oldest.map { now - $0 })
        }
        for row in try Row.fetchAll(db, sql: "SELECT destination, COUNT(*) FROM jobs WHERE state = 'dead' GROUP BY destination") {
            destinations[row[0], default: .init()].counts[.dead] = row[1]
        }
        return destinations
    }

    public func checkWritable() async throws {
        let now = clock.now()
        try gate.checkLastCommit()
        try Self.checkFreeSpace(atPath: config.path, minFreeBytes: config.minFreeBytes)
        let probe = now.rfc3339
        try await Self.write(pool) { db in
            try db.execute(
                sql: "INSERT INTO meta (key, value) VALUES ('ready_probe', ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                arguments: [probe]
            )
        }
    }
}
