import Foundation
import GRDB
import SwitchyardCore

/// Jobs given up on: listed for inspection, and put back in the queue on request.
extension SQLiteJobStore {
    func deadLetterConditions(_ q: DeadLetterQuery) -> (String, [any DatabaseValueConvertible]) {
        var conditions = ["j.state = 'dead'"]
        var arguments: [any DatabaseValueConvertible] = []
        if let d = q.destination {
            conditions.append("j.destination = ?")
            arguments.append(d)
        }
        if let since = q.since {
            conditions.append("j.updated_at >= ?")
            arguments.append(since.millisecondsSinceEpoch)
        }
        if let until = q.until {
            conditions.append("j.updated_at <= ?")
            arguments.append(until.millisecondsSinceEpoch)
        }
        if let code = q.errorCode {
            conditions.append("j.last_error LIKE ? ESCAPE '\\'")
            arguments.append(Self.likePrefix(code))
        }
        if let ids = q.messageIds {
            conditions.append("e.message_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            arguments += ids.map { $0 as any DatabaseValueConvertible }
        }
        return (conditions.joined(separator: " AND "), arguments)
    }

    static func likePrefix(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
            + "%"
    }

    public func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter] {
        let (clause, args) = deadLetterConditions(query)
        let arguments = (args + [max(1, min(query.limit, 10_000))]).map(\.databaseValue)
        return try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, j.attempts, j.last_error, e.received_at, j.updated_at, j.rule
                    FROM jobs j JOIN events e ON e.id = j.event_id WHERE \(clause) ORDER BY j.updated_at DESC, j.id DESC LIMIT ?
                    """,
                arguments: StatementArguments(arguments)
            ).map { row in
                DeadLetter(
                    jobId: row[0],
                    messageId: row[1],
                    source: row[2],
                    destination: row[3],
                    type: row[4],
                    event: row[5],
                    attempts: row[6],
                    reason: row[7] ?? "",
                    receivedAt: Timestamp(millisecondsSinceEpoch: row[8]),
                    deadAt: Timestamp(millisecondsSinceEpoch: row[9]),
                    rule: row[10]
                )
            }
        }
    }

    public func replay(_ query: DeadLetterQuery) async throws -> Int {
        let (clause, args) = deadLetterConditions(query)
        let now = clock.now()
        let arguments = (args + [max(1, min(query.limit, 1_000_000))]).map(\.databaseValue)
        let records = try await Self.writeAndPublish(pool, liveLog) { db -> ([LogRecord], [LogRecord]) in
            let rows = try Row.fetchAll(
                db,
                sql: """
                    SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, COALESCE(e.user_id, e.anonymous_id), j.last_error, e.id, j.ordering_key, j.rule
                    FROM jobs j JOIN events e ON e.id = j.event_id WHERE \(clause) ORDER BY j.id LIMIT ?
                    """,
                arguments: StatementArguments(arguments)
            )
            var records: [LogRecord] = []
            let update = try db.cachedStatement(
                sql: """
                    UPDATE jobs SET state = ?, attempts = 0, available_at = ?, lease = NULL, updated_at = ? WHERE id = ? AND state = 'dead'
                    """
            )
            var keyed: KeyedJobs?
            for row in rows {
                let letter = ReplayedJob(
                    jobID: row[0],
                    eventID: row[8],
                    messageId: row[1],
                    source: row[2],
                    destination: row[3],
                    type: row[4],
                    event: row[5],
                    userId: row[6],
                    lastError: row[7],
                    orderingKey: row[9],
                    rule: row[10]
                )
                // A replayed job of an ordering key waits behind the key's job still to be delivered, if any.
                var busy = false
                if let key = letter.orderingKey {
                    if keyed == nil { keyed = try KeyedJobs(db) }
                    busy = try keyed!.isBusy(destination: letter.destination, key: key, db: db)
                }
                let start = KeyedOrder.start(keyBusy: busy, due: now.millisecondsSinceEpoch)
                try update.execute(arguments: [start.state.rawValue, start.availableAt, now.millisecondsSinceEpoch, letter.jobID])
                records.append(.replayed(letter, at: now))
            }
            try Self.insertRecords(&records, db: db)
            return (records, records)
        }
        gate.replayed(records.count)
        return records.count
    }
}

extension SQLiteJobStore {
    public func deadLetterHeads(destination: String?, limit: Int) async throws -> [DeadLetterHead] {
        try await pool.read { db in
            let reason = "coalesce(last_error, '')"
            let head = "substr(\(reason), 1, min(200, CASE WHEN instr(\(reason), ':') > 0 THEN instr(\(reason), ':') - 1 ELSE 200 END))"
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT destination, \(head) AS head, count(*) AS n, min(updated_at), max(updated_at), max(\(reason))
                    FROM jobs WHERE state = 'dead' \(destination == nil ? "" : "AND destination = ?")
                    GROUP BY destination, head ORDER BY n DESC, destination DESC, head DESC LIMIT ?
                    """,
                arguments: StatementArguments((destination.map { [$0.databaseValue] } ?? []) + [limit.databaseValue])
            ).map { row in
                DeadLetterHead(
                    destination: row[0],
                    head: row[1],
                    count: row[2],
                    oldest: Timestamp(millisecondsSinceEpoch: row[3]),
                    newest: Timestamp(millisecondsSinceEpoch: row[4]),
                    example: row[5]
                )
            }
        }
    }
}
