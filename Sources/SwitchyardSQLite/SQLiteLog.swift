import Foundation
import GRDB
import SwitchyardCore

/// The delivery log: records written with the outcomes, read back by filter, page and event.
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
}
