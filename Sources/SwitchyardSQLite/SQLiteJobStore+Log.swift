import Foundation
import GRDB
import SwitchyardCore

/// The delivery log, dead letters and retention of the embedded queue.
extension SQLiteJobStore {
    static func insertRecords(_ records: inout [LogRecord], db: Database) throws {
        guard !records.isEmpty else { return }
        var nextID = try nextLogID(db)
        let statement = try db.cachedStatement(
            sql: """
                INSERT INTO delivery_log (id, at, kind, status, message_id, source, destination, type, event, user_id, attempt, batch_id,
                    request_id, reference, error_code, error_message, http_status, next_retry_at, size, detail, event_id, detail_event, rule)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        )
        for n in records.indices {
            let r = records[n]
            var row = RowWriter(statement)
            row.bind(nextID)
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
            if let text = r.entryText {
                row.bindText(text.bytes)
            } else {
                row.bind(r.detail?.jsonString)
            }
            row.bind(r.eventID)
            row.bind(r.entryText?.eventOffset)
            row.bind(r.rule)
            try row.step(db)
            records[n].id = nextID
            records[n].entryText = nil
            nextID += 1
        }
    }

    static let recordColumns = """
        id, at, kind, status, message_id, source, destination, type, event, user_id, attempt, batch_id, request_id,
        reference, error_code, error_message, http_status, next_retry_at, size, detail, event_id
        """

    static func record(_ row: Row) -> LogRecord {
        var r = LogRecord(
            at: Timestamp(millisecondsSinceEpoch: row["at"]),
            kind: LogRecord.Kind(rawValue: row["kind"]) ?? .received,
            messageId: row["message_id"],
            status: row["status"]
        )
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
        r.rule = row["rule"]
        if let offset = row["detail_event"] as Int? {
            // Completed by `restoreEmbeddedEvents`, from the stored event.
            r.entryText = (row["detail"] as String?).map { EntryText(bytes: Array($0.utf8), eventOffset: offset) }
        } else {
            r.detail = (row["detail"] as String?).flatMap { try? JSONParser.parse($0) }
        }
        return r
    }

    /// Puts each transformed entry's event back (see `EmbeddedEvent`), one lookup per event.
    static func restoreEmbeddedEvents(_ records: [LogRecord], db: Database) throws -> [LogRecord] {
        var records = records
        let payload = try db.cachedStatement(sql: "SELECT payload FROM events WHERE id = ?")
        for n in records.indices {
            guard let text = records[n].entryText else { continue }
            var event: [UInt8]?
            if let id = records[n].eventID {
                var read = RowWriter(payload)
                read.bind(id)
                try read.rows(db) { row in event = row.bytes(0) }
            }
            records[n].detail = try? JSONParser.parse(text.restored(event: event))
            records[n].entryText = nil
        }
        return records
    }

    /// An event read as its `received` record, in the columns of `recordColumns`.
    static let receivedColumns = """
        id, received_at AS at, 'received' AS kind, 'received' AS status, message_id, source, NULL AS destination, type,
        name AS event, COALESCE(user_id, anonymous_id) AS user_id, NULL AS attempt, NULL AS batch_id, NULL AS request_id,
        NULL AS reference, NULL AS error_code, NULL AS error_message, NULL AS http_status, NULL AS next_retry_at,
        length(payload) AS size, NULL AS detail, id AS event_id, NULL AS detail_event, NULL AS rule
        """

    /// What reads select from `delivery_log`: `recordColumns` (frozen, since migration v7 copies
    /// exactly those), the offset of a cut-out event, and the rule.
    static let recordReadColumns = recordColumns + ", detail_event, rule"

    /// One query per table the log is read from: stored records, and events as received records
    /// (unless the filter rules those out), each ordered and limited by id; the caller merges them.
    static func logQueries(
        _ filter: LogFilter,
        extra: (_ timeColumn: String) -> [(String, DatabaseValue)],
        order: String,
        limit: Int
    ) -> [(String, StatementArguments)] {
        var tables = [(table: "delivery_log", columns: recordReadColumns, time: "at", filter: filter.sql)]
        if let received = filter.receivedSQL {
            tables.append((table: "events", columns: receivedColumns, time: "received_at", filter: received))
        }
        return tables.map { t in
            var conditions = t.filter.0.isEmpty ? [] : [t.filter.0]
            var arguments = t.filter.1.map(\.databaseValue)
            for (condition, value) in extra(t.time) {
                conditions.append(condition)
                arguments.append(value)
            }
            arguments.append(limit.databaseValue)
            let clause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
            return ("SELECT \(t.columns) FROM \(t.table) \(clause) ORDER BY id \(order) LIMIT ?", StatementArguments(arguments))
        }
    }

    public func records(_ query: LogQuery) async throws -> [LogRecord] {
        let limit = max(1, min(query.limit, 1000))
        let queries = Self.logQueries(
            query.filter,
            extra: { time in
                var extra: [(String, DatabaseValue)] = []
                if let since = query.since { extra.append(("\(time) >= ?", since.millisecondsSinceEpoch.databaseValue)) }
                if let until = query.until { extra.append(("\(time) <= ?", until.millisecondsSinceEpoch.databaseValue)) }
                if let before = query.before { extra.append(("id < ?", before.databaseValue)) }
                return extra
            },
            order: "DESC",
            limit: limit
        )
        return try await pool.read { db in
            let records = try queries.flatMap { try Row.fetchAll(db, sql: $0.0, arguments: $0.1).map(Self.record) }
            return try Self.restoreEmbeddedEvents(Array(records.sorted { $0.id > $1.id }.prefix(limit)), db: db)
        }
    }

    public func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord] {
        let queries = Self.logQueries(filter, extra: { _ in [("id > ?", id.databaseValue)] }, order: "ASC", limit: limit)
        return try await pool.read { db in
            let records = try queries.flatMap { try Row.fetchAll(db, sql: $0.0, arguments: $0.1).map(Self.record) }
            return try Self.restoreEmbeddedEvents(Array(records.sorted { $0.id < $1.id }.prefix(limit)), db: db)
        }
    }

    public func story(messageId: String) async throws -> EventStory? {
        try await pool.read { db in
            guard
                let event = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT id, source, received_at, payload FROM events WHERE id IN (\(Self.eventsWithMessageID)) ORDER BY id DESC LIMIT 1
                        """,
                    arguments: [messageId, messageId]
                )
            else {
                return nil
            }
            let eventID: Int64 = event["id"]
            let payload: Data = event["payload"]
            let jobs = try Row.fetchAll(
                db,
                sql: "SELECT destination, state, attempts, last_error, available_at, rule FROM jobs WHERE event_id = ? ORDER BY id",
                arguments: [eventID]
            ).map { row in
                let state: String = row["state"]
                return EventStory.JobSummary(
                    destination: row["destination"],
                    rule: row["rule"],
                    state: state,
                    attempts: row["attempts"],
                    lastError: row["last_error"],
                    nextAttemptAt: state == "failed" || state == "pending" ? Timestamp(millisecondsSinceEpoch: row["available_at"]) : nil
                )
            }
            let records = try Self.restoreEmbeddedEvents(
                Row.fetchAll(
                    db,
                    sql: """
                        SELECT \(Self.receivedColumns) FROM events WHERE id = ?1
                        UNION ALL SELECT \(Self.recordReadColumns) FROM delivery_log WHERE event_id = ?1 ORDER BY id
                        """,
                    arguments: [eventID]
                ).map(Self.record),
                db: db
            )
            return EventStory(
                messageId: messageId,
                source: event["source"],
                receivedAt: Timestamp(millisecondsSinceEpoch: event["received_at"]),
                event: (try? JSONParser.parse([UInt8](payload))) ?? .null,
                jobs: jobs,
                records: records
            )
        }
    }

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
        let now = Timestamp.now()
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
                // A replayed job of an ordering key waits behind the key's job still to be delivered, if any.
                var state = JobState.pending
                var availableAt = now.millisecondsSinceEpoch
                if let key = row[9] as String? {
                    if keyed == nil { keyed = try KeyedJobs(db) }
                    if try keyed!.isBusy(destination: row[3], key: key, db: db) { (state, availableAt) = (.blocked, KeyedJobs.never) }
                }
                try update.execute(arguments: [state.rawValue, availableAt, now.millisecondsSinceEpoch, row[0] as Int64])
                var r = LogRecord(at: now, kind: .replayed, messageId: row[1], status: "waiting")
                r.eventID = row[8]
                r.source = row[2]
                r.destination = row[3]
                r.type = row[4]
                r.event = row[5]
                r.userId = row[6]
                r.errorMessage = row[7]
                r.rule = row[10]
                records.append(r)
            }
            try Self.insertRecords(&records, db: db)
            return (records, records)
        }
        queuedJobsAdded(records.count)
        if !records.isEmpty { signalNewJobs() }
        return records.count
    }

    /// Prunes in steps of `retention.batch` rows, each its own write, so that group commits
    /// (which share the one writer) wait for one step at most, never for a whole history.
    public func prune(_ retention: RetentionConfig) async throws -> PruneReport {
        let now = Timestamp.now().millisecondsSinceEpoch
        let delivered = now - retention.delivered.milliseconds
        let dead = now - retention.deadLetters.milliseconds
        let logCutoff = now - retention.log.milliseconds
        let batch = max(1, retention.batch)
        var report = PruneReport(records: 0, jobs: 0, events: 0)
        // Ids are shared with events, so the newest `maxLogRecords` are found by counting.
        let oldestKept =
            try await pool.read { db in
                try Int64.fetchOne(
                    db,
                    sql: "SELECT id FROM delivery_log ORDER BY id DESC LIMIT 1 OFFSET ?",
                    arguments: [max(0, retention.maxLogRecords - 1)]
                )
            } ?? Int64.min
        // Runs a deleting step, each its own write, until one deletes fewer than `batch` rows
        // (or the server shuts down); returns the rows deleted.
        func inSteps(_ sql: String, _ arguments: StatementArguments) async throws -> Int {
            var total = 0
            while !Task.isCancelled {
                let deleted = try await pool.write { db in
                    // Deleting may take the newest ids: remember them, so they are not handed out again.
                    try Self.noteLastLogID(try Self.nextLogID(db) - 1, db)
                    try db.execute(sql: sql, arguments: arguments)
                    return db.changesCount
                }
                total += deleted
                if deleted < batch { break }
            }
            return total
        }
        report.records = try await inSteps(
            """
            DELETE FROM delivery_log WHERE id IN (SELECT id FROM delivery_log WHERE at < ? OR id < ? LIMIT ?)
            """,
            [logCutoff, oldestKept, batch]
        )
        // Ids grow with arrival, so everything older than the delivered retention lies below the
        // first newer event: the steps scan that old end of the tables, never the recent bulk.
        let recent =
            try await pool.read { db in
                try Int64.fetchOne(db, sql: "SELECT id FROM events WHERE received_at >= ? ORDER BY id LIMIT 1", arguments: [delivered])
            } ?? Int64.max
        report.jobs = try await inSteps(
            """
            DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE event_id < ? AND state = 'succeeded' AND updated_at < ? LIMIT ?)
            """,
            [recent, delivered, batch]
        )
        report.jobs += try await inSteps(
            """
            DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = 'dead' AND updated_at < ? LIMIT ?)
            """,
            [dead, batch]
        )
        // Events with no job left (all delivered and pruned, or never routed anywhere) go too,
        // once they are older than the delivered retention.
        report.events = try await inSteps(
            """
            DELETE FROM events WHERE id IN (
                SELECT id FROM events WHERE id < ? AND received_at < ? AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.event_id = events.id) LIMIT ?)
            """,
            [recent, delivered, batch]
        )
        // The message index drops runs of pruned events at its next pass (`indexMessageIDs`).
        return report
    }
}
