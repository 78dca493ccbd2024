import Foundation
import Logging
import PostgresNIO
import SwitchyardCore

/// A deletion's steps on the shared store: rows are read in id order and matched in Swift
/// (`Subjects`), then deleted by key in one short transaction, which also gives back the
/// queue's count for the waiting jobs it took and lets go the jobs that waited behind them.
/// Steps are background work, so they may wait for the database longer than a request would.
extension PostgresJobStore {
    public func erase(_ erasure: Erasure, from cursor: ErasureCursor, limit: Int) async throws -> ErasureStep {
        switch cursor {
        case .events(let after): return try await eraseEvents(erasure, after: after, limit: limit)
        case .log(let after): return try await eraseRecords(erasure, after: after, limit: limit)
        }
    }

    private func eraseEvents(_ erasure: Erasure, after: Int64, limit: Int) async throws -> ErasureStep {
        let subjects = erasure.subjects
        let rows = try await guarded { [self] connection in
            try await connection.run(
                "SELECT id, source, message_id, user_id, anonymous_id FROM events WHERE id > \(after) ORDER BY id LIMIT \(limit)",
                logger: logger
            ).decode((Int64, String, String, String?, String?).self)
        }
        let next: ErasureCursor = rows.count < limit ? .log(after: .min) : .events(after: rows.last!.0)
        let matched = rows.filter { subjects.matches(userId: $0.3, anonymousId: $0.4) }
        guard !matched.isEmpty else { return ErasureStep(removed: ErasureCounts(), next: next) }
        let ids = matched.map(\.0)
        let sources = matched.map(\.1)
        let messageIds = matched.map(\.2)
        let now = clock.now().millisecondsSinceEpoch
        let (removed, waiting, released) = try await transaction(deadline: Self.readDeadline) {
            [self] connection -> (ErasureCounts, Int, Int) in
            var removed = ErasureCounts()
            var waiting = 0
            var heads: [(String, String)] = []
            for (state, destination, key) in try await connection.run(
                "DELETE FROM jobs WHERE event_id = ANY(\(ids)::bigint[]) RETURNING state, destination, ordering_key",
                logger: logger
            ).decode((String, String, String?).self) {
                guard let state = JobState(rawValue: state) else { continue }
                removed.countJob(state)
                guard JobState.waiting.contains(state) else { continue }
                waiting += 1
                if let key, state != .blocked { heads.append((destination, key)) }
            }
            removed.logRecords = try await count(
                "WITH gone AS (DELETE FROM delivery_log WHERE event_id = ANY(\(ids)::bigint[]) RETURNING 1) SELECT count(*) FROM gone",
                connection
            )
            removed.events = try await count(
                "WITH gone AS (DELETE FROM events WHERE id = ANY(\(ids)::bigint[]) RETURNING 1) SELECT count(*) FROM gone",
                connection
            )
            removed.dedupMarks = try await count(
                """
                WITH gone AS (
                    DELETE FROM dedup WHERE (source, message_id) IN (SELECT * FROM unnest(\(sources)::text[], \(messageIds)::text[]))
                    RETURNING 1)
                SELECT count(*) FROM gone
                """,
                connection
            )
            // A deleted job that was its key's next lets the one behind it go, as a delivery would.
            var released = 0
            if !heads.isEmpty {
                released = try await count(
                    """
                    WITH next AS (
                        UPDATE jobs SET state = 'pending', available_at = \(now), updated_at = \(now) WHERE id IN (
                            SELECT (SELECT j.id FROM jobs j WHERE j.destination = t.d AND j.ordering_key = t.k AND j.state = 'blocked' ORDER BY j.id LIMIT 1)
                            FROM unnest(\(heads.map(\.0))::text[], \(heads.map(\.1))::text[]) AS t(d, k)
                            WHERE NOT EXISTS (
                                SELECT 1 FROM jobs h WHERE h.destination = t.d AND h.ordering_key = t.k AND h.state IN ('pending', 'failed', 'in_flight')))
                        RETURNING 1)
                    SELECT count(*) FROM next
                    """,
                    connection
                )
            }
            if waiting > 0 { try await Self.addDepth(-waiting, connection, logger: logger) }
            if released > 0 { try await connection.run("SELECT pg_notify(\(Self.channel), 'jobs')", logger: logger) }
            try await addRemoved(removed, to: erasure, connection)
            return (removed, waiting, released)
        }
        gate.settled(waiting, released: released)
        return ErasureStep(removed: removed, next: next)
    }

    private func eraseRecords(_ erasure: Erasure, after: Int64, limit: Int) async throws -> ErasureStep {
        let subjects = erasure.subjects
        let rows = try await guarded { [self] connection in
            try await connection.run(
                "SELECT id, user_id, detail FROM delivery_log WHERE id > \(after) ORDER BY id LIMIT \(limit)",
                logger: logger
            ).decode((Int64, String?, String?).self)
        }
        let next: ErasureCursor? = rows.count < limit ? nil : .log(after: rows.last!.0)
        let matched = rows.filter { erasure.records.matches(recordUserId: $0.1, detail: $0.2.map { Array($0.utf8) }) }.map(\.0)
        guard !matched.isEmpty else { return ErasureStep(removed: ErasureCounts(), next: next) }
        let removed = try await transaction(deadline: Self.readDeadline) { [self] connection -> ErasureCounts in
            var removed = ErasureCounts()
            removed.logRecords = try await count(
                "WITH gone AS (DELETE FROM delivery_log WHERE id = ANY(\(matched)::bigint[]) RETURNING 1) SELECT count(*) FROM gone",
                connection
            )
            try await addRemoved(removed, to: erasure, connection)
            return removed
        }
        return ErasureStep(removed: removed, next: next)
    }

    private func count(_ query: PostgresQuery, _ connection: PostgresConnection) async throws -> Int {
        for n in try await connection.run(query, logger: logger).decode(Int64.self) { return Int(n) }
        return 0
    }
}
