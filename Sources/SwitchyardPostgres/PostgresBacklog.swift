import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// What the queue holds across all nodes, for the summary, `/metrics`, heartbeats and `/ready`.
extension PostgresJobStore {
    /// Reads the waiting jobs' partial index (and one event per destination) and the dead letters'.
    public func backlog() async throws -> [String: QueueStats.Destination] {
        try await guarded { [self] connection in
            let now = clock.now().millisecondsSinceEpoch
            var destinations: [String: QueueStats.Destination] = [:]
            var oldestEvent: [String: Int64] = [:]
            let rows = try await connection.run(
                """
                SELECT destination, state, COUNT(*), MIN(event_id) FROM jobs WHERE \(unescaped: PostgresSchema.waiting) GROUP BY destination, state
                """,
                logger: logger
            )
            for (destination, state, count, oldest) in try rows.decode((String, String, Int64, Int64).self) {
                guard let state = JobState(rawValue: state) else { continue }
                destinations[destination, default: .init()].counts[state] = Int(count)
                oldestEvent[destination] = min(oldestEvent[destination] ?? .max, oldest)
            }
            if !oldestEvent.isEmpty {
                let names = Array(oldestEvent.keys)
                let received = try await connection.run(
                    """
                    SELECT t.d, e.received_at FROM unnest(\(names)::text[], \(names.map { oldestEvent[$0]! })::bigint[]) AS t(d, e) JOIN events e ON e.id = t.e
                    """,
                    logger: logger
                )
                for (destination, at) in try received.decode((String, Int64).self) {
                    destinations[destination]?.oldestWaitingAgeMs = now - at
                }
            }
            for (destination, count) in try await connection.run(
                "SELECT destination, COUNT(*) FROM jobs WHERE state = 'dead' GROUP BY destination",
                logger: logger
            )
            .decode((String, Int64).self) {
                destinations[destination, default: .init()].counts[.dead] = Int(count)
            }
            return destinations
        }
    }

    /// Decided under a transaction advisory lock per destination, so that of nodes asking at
    /// once the first stores it and the others see it waiting; it is recorded in `heartbeats` as
    /// well, so that a heartbeat already delivered (or dead-lettered) still counts as activity.
    public func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision {
        guard let destination = heartbeat.destinations.first else { return .backlog(0) }
        let since = quietSince.millisecondsSinceEpoch
        let storedAt = clock.now().millisecondsSinceEpoch
        let decision: HeartbeatDecision = try await transaction { [self] connection in
            try await Self.lockKeys(["heartbeat\u{0}\(destination)"], connection, logger: logger)
            let rows = try await connection.run(
                """
                SELECT (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE destination = \(destination) AND \(unescaped: PostgresSchema.waiting) LIMIT 1000) w),
                       GREATEST(
                           (SELECT stored_at FROM heartbeats WHERE destination = \(destination) AND stored_at > \(since)),
                           (SELECT updated_at FROM jobs WHERE state = 'succeeded' AND updated_at > \(since) AND destination = \(destination)
                               ORDER BY updated_at DESC LIMIT 1))
                """,
                logger: logger
            )
            for (waiting, active) in try rows.decode((Int64, Int64?).self) {
                if waiting > 0 { return .backlog(Int(waiting)) }
                if let active { return .active(at: Timestamp(millisecondsSinceEpoch: active)) }
            }
            try await connection.run(
                """
                INSERT INTO heartbeats (destination, stored_at) VALUES (\(destination), \(storedAt))
                ON CONFLICT (destination) DO UPDATE SET stored_at = EXCLUDED.stored_at
                """,
                logger: logger
            )
            return .stored
        }
        guard decision == .stored else { return decision }
        do {
            _ = try await append([heartbeat])
        } catch {
            // Other nodes already see it recorded: take that back, so the next try is not an interval away.
            let logger = self.logger
            _ = try? await Self.within(Self.writeDeadline, client) { connection in
                try await connection.run(
                    "DELETE FROM heartbeats WHERE destination = \(destination) AND stored_at = \(storedAt)",
                    logger: logger
                )
            }
            throw error
        }
        return decision
    }

    public func stats() async throws -> QueueStats {
        try await guarded { [self] connection in
            var destinations = try await backlog()
            for (destination, count) in try await connection.run(
                "SELECT destination, COUNT(*) FROM jobs WHERE state = 'succeeded' GROUP BY destination",
                logger: logger
            )
            .decode((String, Int64).self) {
                destinations[destination, default: .init()].counts[.succeeded] = Int(count)
            }
            var events = 0
            for count in try await connection.run("SELECT COUNT(*) FROM events", logger: logger).decode(Int64.self) {
                events = Int(count)
            }
            return QueueStats(events: events, destinations: destinations)
        }
    }

    public func checkWritable() async throws {
        guard isStarted else { throw StoreError.unavailable(notStartedReason) }
        try gate.checkLastCommit()
        // A write like ingestion's, under the same deadline: `/ready` must answer while the
        // database does not.
        let logger = self.logger
        do {
            try await Self.within(Self.writeDeadline, client) { connection in
                _ = try await connection.run("UPDATE queue_depth SET jobs = jobs WHERE shard = 0", logger: logger)
            }
        } catch {
            throw StoreError.unavailable(Self.describe(error))
        }
    }

    static func addDepth(_ n: Int, _ connection: PostgresConnection, logger: Logger) async throws {
        try await connection.run(
            "UPDATE queue_depth SET jobs = jobs + \(Int64(n)) WHERE shard = \(Int32.random(in: 0..<Int32(PostgresSchema.depthShards)))",
            logger: logger
        )
    }

    func readDepth(_ connection: PostgresConnection) async throws {
        for total in try await connection.run("SELECT COALESCE(SUM(jobs), 0)::bigint FROM queue_depth", logger: logger).decode(
            Int64.self
        ) {
            gate.setWaiting(Int(total))
        }
    }

    /// How old the count of every node's waiting jobs may be when a node checks its limit.
    static let sharedCountInterval: Duration = .seconds(1)
}
