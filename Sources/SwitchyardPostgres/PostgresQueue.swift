import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Claims and outcomes: leases with `FOR UPDATE SKIP LOCKED`, settled in group commits.
extension PostgresJobStore {
    public func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job] {
        try await guarded { [self] connection in
            let now = clock.now().millisecondsSinceEpoch
            let leaseEnd = now + leaseFor.milliseconds
            let lease = Int64.random(in: 1...Int64.max)
            let rows = try await connection.run(
                """
                WITH due AS (
                    SELECT id, available_at, state FROM jobs
                    WHERE destination = \(destination) AND \(unescaped: PostgresSchema.waiting) AND available_at <= \(now)
                    ORDER BY available_at, event_id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                ), claimed AS (
                    UPDATE jobs j SET state = 'in_flight', lease = \(lease), lease_node = \(node), attempts = j.attempts + 1,
                        available_at = \(leaseEnd), updated_at = \(now)
                    FROM due WHERE j.id = due.id
                    RETURNING j.id, j.event_id, j.attempts, j.ordering_key, j.rule, due.available_at AS due_at, due.state AS was, j.output
                )
                SELECT c.id, c.event_id, c.attempts, c.ordering_key, c.rule, e.source, e.message_id, e.type, e.name, e.received_at, e.payload,
                    COALESCE(e.user_id, e.anonymous_id), c.was, c.output
                FROM claimed c JOIN events e ON e.id = c.event_id ORDER BY c.due_at, c.event_id
                """,
                logger: logger
            )
            var jobs: [Job] = []
            var expired = 0
            for row in rows {
                let r = row.makeRandomAccess()
                let payload = try r[10].decode(ByteBuffer.self)
                jobs.append(
                    Job(
                        id: try r[0].decode(Int64.self),
                        eventID: try r[1].decode(Int64.self),
                        lease: lease,
                        destination: destination,
                        attempt: Int(try r[2].decode(Int32.self)),
                        source: try r[5].decode(String.self),
                        messageId: try r[6].decode(String.self),
                        type: MessageType(rawValue: try r[7].decode(String.self)) ?? .track,
                        name: try r[8].decode(String?.self),
                        userId: try r[11].decode(String?.self),
                        receivedAt: Timestamp(millisecondsSinceEpoch: try r[9].decode(Int64.self)),
                        payload: Array(payload.readableBytesView),
                        orderingKey: try r[3].decode(String?.self),
                        rule: try r[4].decode(String?.self),
                        output: try r[13].decode(ByteBuffer?.self).map { Array($0.readableBytesView) }
                    )
                )
                if try r[12].decode(String.self) == JobState.inFlight.rawValue { expired += 1 }
            }
            metrics.leaseExpired(destination: destination, count: expired)
            return jobs
        }
    }

    public func finish(_ results: [JobResult]) async throws {
        guard !results.isEmpty else { return }
        _ = try await outcomes.submit(results)
    }

    /// One transaction for many outcomes: states (ignoring stale leases), the next job of each
    /// settled key, the log records, and the depth.
    func settle(_ results: [JobResult]) async throws(StoreError) {
        let now = clock.now()
        let ms = now.millisecondsSinceEpoch
        let settled = try await transaction { [self] connection -> (finished: Int, released: Int) in
            // Keys first, in one order on every node: an append of the same key waits for this
            // commit, so it either sees the job settled or is let go by it.
            let settling = results.compactMap { $0.releasedKey.map { Self.keyLock($0.destination, $0.key) } }
            try await Self.lockKeys(Set(settling), connection, logger: self.logger)
            var ids: [Int64] = []
            var leases: [Int64] = []
            var states: [String] = []
            var times: [Int64] = []
            var errors: [String] = []
            var hasError: [Bool] = []
            var outputs: [ByteBuffer] = []
            var hasOutput: [Bool] = []
            for result in results {
                outputs.append(ByteBuffer(bytes: result.output ?? []))
                hasOutput.append(result.output != nil)
                ids.append(result.jobID)
                leases.append(result.lease)
                states.append(result.outcome.state.rawValue)
                times.append(result.outcome.availableAt(now: now).millisecondsSinceEpoch)
                errors.append(result.outcome.error.pgText ?? "")
                hasError.append(result.outcome.error != nil)
            }
            // Each settled job with the lease that settled it: a stale lease's result for the same
            // job, in the same call, changed nothing and is not logged.
            var settled: [Int64: Int64] = [:]
            let rows = try await connection.run(
                """
                UPDATE jobs SET state = t.s, available_at = t.at, last_error = CASE WHEN t.h THEN t.err ELSE jobs.last_error END,
                    lease = NULL, updated_at = \(ms), output = CASE WHEN t.ho THEN t.o ELSE jobs.output END
                FROM unnest(\(ids)::bigint[], \(leases)::bigint[], \(states)::text[], \(times)::bigint[], \(errors)::text[], \(hasError)::boolean[],
                    \(outputs)::bytea[], \(hasOutput)::boolean[])
                    AS t(id, lease, s, at, err, h, o, ho)
                WHERE jobs.id = t.id AND jobs.lease = t.lease AND jobs.state = 'in_flight'
                RETURNING jobs.id, t.lease
                """,
                logger: self.logger
            )
            for (id, lease) in try rows.decode((Int64, Int64).self) { settled[id] = lease }
            guard !settled.isEmpty else { return (0, 0) }
            var finished = 0
            var releaseDestinations: [String] = []
            var releaseKeys: [String] = []
            var records: [LogRecord] = []
            for result in results where settled[result.jobID] == result.lease {
                if result.outcome.isFinal { finished += 1 }
                if let (destination, key) = result.releasedKey {
                    releaseDestinations.append(destination)
                    releaseKeys.append(key.pgText)
                }
                if let log = result.log { records += LogRecord.records(for: log, outcome: result.outcome, at: now) }
            }
            var released = 0
            if !releaseKeys.isEmpty {
                let next = try await connection.run(
                    """
                    UPDATE jobs SET state = 'pending', available_at = \(ms), updated_at = \(ms) WHERE id IN (
                        SELECT (SELECT j.id FROM jobs j WHERE j.destination = t.d AND j.ordering_key = t.k AND j.state = 'blocked' ORDER BY j.id LIMIT 1)
                        FROM unnest(\(releaseDestinations)::text[], \(releaseKeys)::text[]) AS t(d, k))
                    RETURNING id
                    """,
                    logger: self.logger
                )
                for _ in try next.decode(Int64.self) { released += 1 }
            }
            try await self.insertRecords(records, connection)
            if finished > 0 { try await Self.addDepth(-finished, connection, logger: self.logger) }
            if released > 0 { try await connection.run("SELECT pg_notify(\(Self.channel), 'jobs')", logger: self.logger) }
            return (finished, released)
        }
        gate.settled(settled.finished, released: settled.released)
    }

    public func release(_ jobs: [Job]) async throws {
        try await guarded { [self] connection in
            guard !jobs.isEmpty else { return }
            let now = clock.now().millisecondsSinceEpoch
            try await connection.run(
                """
                UPDATE jobs SET state = CASE WHEN attempts > 1 THEN 'failed' ELSE 'pending' END, attempts = attempts - 1,
                    available_at = \(now), lease = NULL, updated_at = \(now)
                FROM unnest(\(jobs.map(\.id))::bigint[], \(jobs.map(\.lease))::bigint[]) AS t(id, lease)
                WHERE jobs.id = t.id AND jobs.lease = t.lease AND jobs.state = 'in_flight'
                """,
                logger: logger
            )
            try await connection.run("SELECT pg_notify(\(Self.channel), 'jobs')", logger: logger)
        }
    }

    /// Only this node's own leases: another node's may be live, and run out on their own.
    public func recoverInterrupted() async throws -> Int {
        try await guarded { [self] connection in
            let now = clock.now().millisecondsSinceEpoch
            let rows = try await connection.run(
                """
                UPDATE jobs SET state = 'failed', available_at = \(now), lease = NULL, updated_at = \(now),
                    last_error = COALESCE(last_error, 'interrupted: the node stopped during delivery')
                WHERE state = 'in_flight' AND lease_node = \(node)
                RETURNING id
                """,
                logger: logger
            )
            var recovered = 0
            for _ in try rows.decode(Int64.self) { recovered += 1 }
            if recovered > 0 {
                logger.info("jobs this node left in flight are due again", metadata: ["recoveredInFlight": "\(recovered)"])
                gate.newJobs.signal()
            }
            return recovered
        }
    }
}
