import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Jobs given up on: listed for inspection, and put back in the queue on request.
extension PostgresJobStore {
    func deadLetterConditions(_ q: DeadLetterQuery, into query: inout PostgresQuery.StringInterpolation) {
        query.appendLiteral(" j.state = 'dead'")
        if let d = q.destination {
            query.appendLiteral(" AND j.destination = ")
            query.appendInterpolation(d.pgText)
        }
        if let since = q.since {
            query.appendLiteral(" AND j.updated_at >= ")
            query.appendInterpolation(since.millisecondsSinceEpoch)
        }
        if let until = q.until {
            query.appendLiteral(" AND j.updated_at <= ")
            query.appendInterpolation(until.millisecondsSinceEpoch)
        }
        if let code = q.errorCode {
            query.appendLiteral(" AND starts_with(j.last_error, ")
            query.appendInterpolation(code.pgText)
            query.appendLiteral(")")
        }
        if let ids = q.messageIds {
            query.appendLiteral(" AND e.message_id = ANY(")
            query.appendInterpolation(ids.map(\.pgText))
            query.appendLiteral("::text[])")
        }
    }

    public func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter] {
        try await guarded { [self] connection in
            var q = PostgresQuery.StringInterpolation(literalCapacity: 400, interpolationCount: 6)
            q.appendLiteral(
                """
                SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, j.attempts, j.last_error, e.received_at, j.updated_at, j.rule
                FROM jobs j JOIN events e ON e.id = j.event_id WHERE
                """
            )
            deadLetterConditions(query, into: &q)
            q.appendLiteral(" ORDER BY j.updated_at DESC, j.id DESC LIMIT ")
            q.appendInterpolation(max(1, min(query.limit, 10_000)))
            var letters: [DeadLetter] = []
            for row in try await connection.run(PostgresQuery(stringInterpolation: q), logger: logger) {
                let c = row.makeRandomAccess()
                letters.append(
                    DeadLetter(
                        jobId: try c[0].decode(Int64.self),
                        messageId: try c[1].decode(String.self),
                        source: try c[2].decode(String.self),
                        destination: try c[3].decode(String.self),
                        type: try c[4].decode(String.self),
                        event: try c[5].decode(String?.self),
                        attempts: Int(try c[6].decode(Int32.self)),
                        reason: try c[7].decode(String?.self) ?? "",
                        receivedAt: Timestamp(millisecondsSinceEpoch: try c[8].decode(Int64.self)),
                        deadAt: Timestamp(millisecondsSinceEpoch: try c[9].decode(Int64.self)),
                        rule: try c[10].decode(String?.self)
                    )
                )
            }
            return letters
        }
    }

    public func replay(_ query: DeadLetterQuery) async throws -> Int {
        try await guarded { [self] connection in
            let now = clock.now()
            let ms = now.millisecondsSinceEpoch
            var select = PostgresQuery.StringInterpolation(literalCapacity: 400, interpolationCount: 6)
            select.appendLiteral(
                """
                SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, COALESCE(e.user_id, e.anonymous_id), j.last_error, e.id, j.ordering_key, j.rule
                FROM jobs j JOIN events e ON e.id = j.event_id WHERE
                """
            )
            deadLetterConditions(query, into: &select)
            select.appendLiteral(" ORDER BY j.id LIMIT ")
            select.appendInterpolation(max(1, min(query.limit, 1_000_000)))
            select.appendLiteral(" FOR UPDATE OF j")
            let selectQuery = PostgresQuery(stringInterpolation: select)
            let count = try await transaction { [self] connection -> Int in
                var records: [LogRecord] = []
                var ids: [Int64] = []
                var keyDestinations: [String] = []
                var keys: [String] = []
                var keyed: [Bool] = []
                for row in try await connection.run(selectQuery, logger: self.logger) {
                    let c = row.makeRandomAccess()
                    var r = LogRecord(at: now, kind: .replayed, messageId: try c[1].decode(String.self), status: "waiting")
                    r.source = try c[2].decode(String.self)
                    r.destination = try c[3].decode(String.self)
                    r.type = try c[4].decode(String.self)
                    r.event = try c[5].decode(String?.self)
                    r.userId = try c[6].decode(String?.self)
                    r.errorMessage = try c[7].decode(String?.self)
                    r.eventID = try c[8].decode(Int64.self)
                    r.rule = try c[10].decode(String?.self)
                    let key = try c[9].decode(String?.self)
                    ids.append(try c[0].decode(Int64.self))
                    keyDestinations.append(r.destination ?? "")
                    keys.append(key.pgText ?? "")
                    keyed.append(key != nil)
                    records.append(r)
                }
                guard !ids.isEmpty else { return 0 }
                try await Self.lockKeys(
                    Set(
                        zip(keyDestinations, keys).enumerated().filter { keyed[$0.offset] }.map { Self.keyLock($0.element.0, $0.element.1) }
                    ),
                    connection,
                    logger: self.logger
                )
                // A replayed job of a key waits behind the key's job still to be delivered, if any.
                try await connection.run(
                    """
                    UPDATE jobs SET state = CASE WHEN t.b THEN 'blocked' ELSE 'pending' END, available_at = CASE WHEN t.b THEN \(KeyedOrder.never) ELSE \(ms) END,
                        attempts = 0, lease = NULL, updated_at = \(ms)
                    FROM (
                        SELECT u.id, (u.keyed AND EXISTS (
                            SELECT 1 FROM jobs w WHERE w.destination = u.d AND w.ordering_key = u.k AND w.state <> 'succeeded' AND w.state <> 'dead')) AS b
                        FROM unnest(\(ids)::bigint[], \(keyDestinations)::text[], \(keys)::text[], \(keyed)::boolean[]) AS u(id, d, k, keyed)
                    ) t
                    WHERE jobs.id = t.id AND jobs.state = 'dead'
                    """,
                    logger: self.logger
                )
                try await self.insertRecords(records, connection)
                try await Self.addDepth(ids.count, connection, logger: self.logger)
                try await connection.run("SELECT pg_notify(\(Self.channel), 'jobs')", logger: self.logger)
                return ids.count
            }
            gate.replayed(count)
            return count
        }
    }
}

extension PostgresJobStore {
    public func deadLetterHeads(destination: String?, limit: Int) async throws -> [DeadLetterHead] {
        try await guarded { [self] connection in
            let rows = try await connection.run(
                """
                SELECT destination, left(split_part(coalesce(last_error, ''), ':', 1), 200) AS head, count(*) AS n,
                       min(updated_at), max(updated_at), max(coalesce(last_error, ''))
                FROM jobs WHERE state = 'dead' AND (\(destination?.pgText)::text IS NULL OR destination = \(destination?.pgText))
                GROUP BY destination, head ORDER BY n DESC, destination DESC, head DESC LIMIT \(limit)
                """,
                logger: logger
            )
            var heads: [DeadLetterHead] = []
            for (destination, head, n, oldest, newest, example) in try rows.decode((String, String, Int64, Int64, Int64, String).self) {
                heads.append(
                    DeadLetterHead(
                        destination: destination,
                        head: head,
                        count: Int(n),
                        oldest: Timestamp(millisecondsSinceEpoch: oldest),
                        newest: Timestamp(millisecondsSinceEpoch: newest),
                        example: example
                    )
                )
            }
            return heads
        }
    }
}
