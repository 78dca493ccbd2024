import Foundation
import GRDB

/// The delivery log, dead letters and retention of the embedded queue.
extension SQLiteJobStore {
    static func logRecords(for log: AttemptLog, outcome: JobOutcome, at now: Timestamp) -> [LogRecord] {
        let job = log.job
        func base(_ kind: LogRecord.Kind, _ status: String) -> LogRecord {
            var r = LogRecord(at: now, kind: kind, messageId: job.messageId, status: status)
            r.eventID = job.eventID
            r.source = job.source
            r.destination = job.destination
            r.type = job.type.rawValue
            r.event = job.name
            r.userId = job.userId
            return r
        }
        var records: [LogRecord] = []
        if let entry = log.entry {
            var transformed = base(.transformed, "transformed")
            transformed.detail = entry
            transformed.detailText = log.entryText
            transformed.size = log.entrySize
            records.append(transformed)
        }
        guard let result = log.result else {
            // Dead-lettered before any send.
            var dead = base(.dead, "dead")
            if case .dead(let reason) = outcome { dead.errorMessage = reason }
            dead.errorCode = dead.errorMessage.map { String($0.prefix { $0 != ":" && $0 != " " }) }
            records.append(dead)
            return records
        }
        let status: String
        switch outcome {
        case .succeeded: status = "succeeded"
        case .retry: status = "failed"
        case .dead: status = "dead"
        }
        var attempt = base(.attempt, status)
        attempt.attempt = job.attempt
        attempt.batchId = log.batchId
        attempt.requestId = log.requestId
        switch result {
        case .delivered(let reference):
            attempt.reference = reference
        case .retry(let failure), .reject(let failure):
            attempt.errorCode = failure.code
            attempt.errorMessage = failure.message.isEmpty ? nil : failure.message
            attempt.httpStatus = failure.httpStatus
        }
        if case .retry(let at, _) = outcome { attempt.nextRetryAt = at }
        if case .dead(let reason) = outcome, case .retry = result {
            attempt.errorMessage = reason
        }
        records.append(attempt)
        return records
    }

    static func insertRecords(_ records: inout [LogRecord], db: Database) throws {
        guard !records.isEmpty else { return }
        let statement = try db.cachedStatement(sql: """
            INSERT INTO delivery_log (at, kind, status, message_id, source, destination, type, event, user_id, attempt, batch_id,
                request_id, reference, error_code, error_message, http_status, next_retry_at, size, detail, event_id)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for n in records.indices {
            let r = records[n]
            var row = RowWriter(statement)
            row.bind(r.at.millisecondsSinceEpoch)
            row.bind(r.kind.rawValue)
            row.bind(r.status)
            row.bind(r.messageId)
            row.bind(r.source)
            row.bind(r.destination)
            row.bind(r.type)
            row.bind(r.event)
            row.bind(r.userId)
            row.bind(r.attempt)
            row.bind(r.batchId)
            row.bind(r.requestId)
            row.bind(r.reference)
            row.bind(r.errorCode)
            row.bind(r.errorMessage)
            row.bind(r.httpStatus)
            row.bind(r.nextRetryAt?.millisecondsSinceEpoch)
            row.bind(r.size)
            if let text = r.detailText {
                row.bindText(text)
            } else {
                row.bind(r.detail?.jsonString)
            }
            row.bind(r.eventID)
            try row.step(db)
            records[n].id = db.lastInsertedRowID
            records[n].detailText = nil
        }
    }

    static let recordColumns = """
        id, at, kind, status, message_id, source, destination, type, event, user_id, attempt, batch_id, request_id,
        reference, error_code, error_message, http_status, next_retry_at, size, detail, event_id
        """

    static func record(_ row: Row) -> LogRecord {
        var r = LogRecord(
            at: Timestamp(millisecondsSinceEpoch: row["at"]), kind: LogRecord.Kind(rawValue: row["kind"]) ?? .received,
            messageId: row["message_id"], status: row["status"])
        r.id = row["id"]
        r.eventID = row["event_id"]
        r.source = row["source"]
        r.destination = row["destination"]
        r.type = row["type"]
        r.event = row["event"]
        r.userId = row["user_id"]
        r.attempt = row["attempt"]
        r.batchId = row["batch_id"]
        r.requestId = row["request_id"]
        r.reference = row["reference"]
        r.errorCode = row["error_code"]
        r.errorMessage = row["error_message"]
        r.httpStatus = row["http_status"]
        r.nextRetryAt = (row["next_retry_at"] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:))
        r.size = row["size"]
        r.detail = (row["detail"] as String?).flatMap { try? JSONParser.parse($0) }
        return r
    }

    public func records(_ query: LogQuery) async throws -> [LogRecord] {
        var (clause, args) = query.filter.sql
        var conditions = clause.isEmpty ? [] : [clause]
        var arguments: [any DatabaseValueConvertible] = args
        if let since = query.since { conditions.append("at >= ?"); arguments.append(since.millisecondsSinceEpoch) }
        if let until = query.until { conditions.append("at <= ?"); arguments.append(until.millisecondsSinceEpoch) }
        if let before = query.before { conditions.append("id < ?"); arguments.append(before) }
        clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments.append(max(1, min(query.limit, 1000)))
        let sql = "SELECT \(Self.recordColumns) FROM delivery_log \(clause) ORDER BY id DESC LIMIT ?"
        let finalArguments = arguments.map(\.databaseValue)
        return try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(finalArguments)).map(Self.record) }
    }

    public func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord] {
        let (clause, args) = filter.sql
        var arguments: [any DatabaseValueConvertible] = [id]
        arguments += args.map { $0 as any DatabaseValueConvertible }
        arguments.append(limit)
        let sql = "SELECT \(Self.recordColumns) FROM delivery_log WHERE id > ?\(clause.isEmpty ? "" : " AND " + clause) ORDER BY id LIMIT ?"
        let finalArguments = arguments.map(\.databaseValue)
        return try await pool.read { db in try Row.fetchAll(db, sql: sql, arguments: StatementArguments(finalArguments)).map(Self.record) }
    }

    public func story(messageId: String) async throws -> EventStory? {
        try await pool.read { db in
            guard let event = try Row.fetchOne(db, sql: """
                SELECT id, source, received_at, payload FROM events WHERE id IN (\(Self.eventsWithMessageID)) ORDER BY id DESC LIMIT 1
                """, arguments: [messageId, messageId]) else {
                return nil
            }
            let eventID: Int64 = event["id"]
            let payload: Data = event["payload"]
            let jobs = try Row.fetchAll(db, sql: "SELECT destination, state, attempts, last_error, available_at FROM jobs WHERE event_id = ? ORDER BY id", arguments: [eventID]).map { row in
                let state: String = row["state"]
                return EventStory.JobSummary(
                    destination: row["destination"], state: state, attempts: row["attempts"], lastError: row["last_error"],
                    nextAttemptAt: state == "failed" || state == "pending" ? Timestamp(millisecondsSinceEpoch: row["available_at"]) : nil)
            }
            let records = try Row.fetchAll(db, sql: "SELECT \(Self.recordColumns) FROM delivery_log WHERE event_id = ? ORDER BY id", arguments: [eventID]).map(Self.record)
            return EventStory(
                messageId: messageId, source: event["source"], receivedAt: Timestamp(millisecondsSinceEpoch: event["received_at"]),
                event: (try? JSONParser.parse([UInt8](payload))) ?? .null, jobs: jobs, records: records)
        }
    }

    func deadLetterConditions(_ q: DeadLetterQuery) -> (String, [any DatabaseValueConvertible]) {
        var conditions = ["j.state = 'dead'"]
        var arguments: [any DatabaseValueConvertible] = []
        if let d = q.destination { conditions.append("j.destination = ?"); arguments.append(d) }
        if let since = q.since { conditions.append("j.updated_at >= ?"); arguments.append(since.millisecondsSinceEpoch) }
        if let until = q.until { conditions.append("j.updated_at <= ?"); arguments.append(until.millisecondsSinceEpoch) }
        if let code = q.errorCode { conditions.append("j.last_error LIKE ? ESCAPE '\\'"); arguments.append(Self.likePrefix(code)) }
        if let ids = q.messageIds {
            conditions.append("e.message_id IN (\(ids.map { _ in "?" }.joined(separator: ",")))")
            arguments += ids.map { $0 as any DatabaseValueConvertible }
        }
        return (conditions.joined(separator: " AND "), arguments)
    }

    static func likePrefix(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
    }

    public func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter] {
        let (clause, args) = deadLetterConditions(query)
        let arguments = (args + [max(1, min(query.limit, 10_000))]).map(\.databaseValue)
        return try await pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, j.attempts, j.last_error, e.received_at, j.updated_at
                FROM jobs j JOIN events e ON e.id = j.event_id WHERE \(clause) ORDER BY j.updated_at DESC, j.id DESC LIMIT ?
                """, arguments: StatementArguments(arguments)).map { row in
                DeadLetter(
                    jobId: row[0], messageId: row[1], source: row[2], destination: row[3], type: row[4], event: row[5], attempts: row[6],
                    reason: row[7] ?? "", receivedAt: Timestamp(millisecondsSinceEpoch: row[8]), deadAt: Timestamp(millisecondsSinceEpoch: row[9]))
            }
        }
    }

    public func replay(_ query: DeadLetterQuery) async throws -> Int {
        let (clause, args) = deadLetterConditions(query)
        let now = Timestamp.now()
        let arguments = (args + [max(1, min(query.limit, 1_000_000))]).map(\.databaseValue)
        let records = try await pool.write { db -> [LogRecord] in
            let rows = try Row.fetchAll(db, sql: """
                SELECT j.id, e.message_id, e.source, j.destination, e.type, e.name, COALESCE(e.user_id, e.anonymous_id), j.last_error, e.id
                FROM jobs j JOIN events e ON e.id = j.event_id WHERE \(clause) ORDER BY j.id LIMIT ?
                """, arguments: StatementArguments(arguments))
            var records: [LogRecord] = []
            let update = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 'pending', attempts = 0, available_at = ?, lease = NULL, updated_at = ? WHERE id = ? AND state = 'dead'
                """)
            for row in rows {
                try update.execute(arguments: [now.millisecondsSinceEpoch, now.millisecondsSinceEpoch, row[0] as Int64])
                var r = LogRecord(at: now, kind: .replayed, messageId: row[1], status: "waiting")
                r.eventID = row[8]
                r.source = row[2]
                r.destination = row[3]
                r.type = row[4]
                r.event = row[5]
                r.userId = row[6]
                r.errorMessage = row[7]
                records.append(r)
            }
            try Self.insertRecords(&records, db: db)
            return records
        }
        queuedJobsAdded(records.count)
        liveLog.publish(records)
        if !records.isEmpty { signalNewJobs() }
        return records.count
    }

    public func prune(_ retention: RetentionConfig) async throws -> PruneReport {
        let now = Timestamp.now().millisecondsSinceEpoch
        return try await pool.write { db in
            try db.execute(sql: "DELETE FROM delivery_log WHERE at < ?", arguments: [now - retention.log.milliseconds])
            var records = db.changesCount
            if let maxID = try Int64.fetchOne(db, sql: "SELECT MAX(id) FROM delivery_log") {
                try db.execute(sql: "DELETE FROM delivery_log WHERE id <= ?", arguments: [maxID - Int64(retention.maxLogRecords)])
                records += db.changesCount
            }
            try db.execute(sql: """
                DELETE FROM jobs WHERE (state = 'succeeded' AND updated_at < ?) OR (state = 'dead' AND updated_at < ?)
                """, arguments: [now - retention.delivered.milliseconds, now - retention.deadLetters.milliseconds])
            let jobs = db.changesCount
            // Events with no job left (all delivered and pruned, or never routed anywhere) go too,
            // once they are older than the delivered retention.
            try db.execute(sql: """
                DELETE FROM events WHERE received_at < ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id)
                """, arguments: [now - retention.delivered.milliseconds])
            let events = db.changesCount
            // Index runs whose events are all gone go with them (ids of pruned events inside a run
            // that still has live ones are dropped when that run is next merged).
            let oldest = try Int64.fetchOne(db, sql: "SELECT MIN(id) FROM events") ?? Int64.max
            try db.execute(sql: "DELETE FROM message_index WHERE run IN (SELECT run FROM message_runs WHERE through < ?)", arguments: [oldest])
            try db.execute(sql: "DELETE FROM message_runs WHERE through < ?", arguments: [oldest])
            return PruneReport(records: records, jobs: jobs, events: events)
        }
    }
}
