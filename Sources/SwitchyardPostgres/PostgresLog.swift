import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// The delivery log: records written with the outcomes, read back by filter, page and event.
extension PostgresJobStore {
    /// Writes records at the transaction's positions from `recordOffset` on (events take those
    /// below it), and tells live readers, in one statement over arrays; nullable columns travel
    /// as a value and a bit in `z`.
    func insertRecords(_ records: [LogRecord], _ connection: PostgresConnection) async throws {
        guard !records.isEmpty else { return }
        var rows: [Int64] = []
        var at: [Int64] = []
        var kind: [String] = []
        var status: [String] = []
        var message: [String] = []
        var text = [[String]](repeating: [], count: 12)
        var number = [[Int64]](repeating: [], count: 6)
        var nulls: [Int64] = []
        for (n, r) in records.enumerated() {
            rows.append(Self.recordOffset + Int64(n))
            at.append(r.at.millisecondsSinceEpoch)
            kind.append(r.kind.rawValue)
            status.append(r.status.pgText)
            message.append(r.messageId.pgText)
            let detail: String? =
                r.entryText.map { String(decoding: $0.bytes, as: UTF8.self) }
                ?? r.detail.map { String(decoding: $0.serialized(), as: UTF8.self) }
            let texts: [String?] = [
                r.source, r.destination, r.rule, r.type, r.event, r.userId, r.batchId, r.requestId, r.reference, r.errorCode,
                r.errorMessage, detail,
            ]
            let numbers: [Int64?] = [
                r.attempt.map(Int64.init), r.httpStatus.map(Int64.init), r.nextRetryAt?.millisecondsSinceEpoch,
                r.size.map(Int64.init), r.entryText?.eventOffset.map(Int64.init), r.eventID,
            ]
            var mask: Int64 = 0
            for (i, value) in texts.enumerated() {
                text[i].append(value.pgText ?? "")
                if value == nil { mask |= 1 << Int64(i) }
            }
            for (i, value) in numbers.enumerated() {
                number[i].append(value ?? 0)
                if value == nil { mask |= 1 << Int64(12 + i) }
            }
            nulls.append(mask)
        }
        try await connection.run(
            """
            WITH x AS (\(unescaped: Self.positionBase)), ins AS (
            INSERT INTO delivery_log (id, at, kind, status, message_id, source, destination, rule, type, event, user_id, batch_id, request_id,
                reference, error_code, error_message, detail, attempt, http_status, next_retry_at, size, detail_event, event_id, node)
            SELECT x.base + t.pos, at, kind, status, m,
                CASE WHEN z & 1 = 0 THEN t0 END, CASE WHEN z & 2 = 0 THEN t1 END, CASE WHEN z & 4 = 0 THEN t2 END, CASE WHEN z & 8 = 0 THEN t3 END,
                CASE WHEN z & 16 = 0 THEN t4 END, CASE WHEN z & 32 = 0 THEN t5 END, CASE WHEN z & 64 = 0 THEN t6 END, CASE WHEN z & 128 = 0 THEN t7 END,
                CASE WHEN z & 256 = 0 THEN t8 END, CASE WHEN z & 512 = 0 THEN t9 END, CASE WHEN z & 1024 = 0 THEN t10 END, CASE WHEN z & 2048 = 0 THEN t11 END,
                CASE WHEN z & 4096 = 0 THEN n0::integer END, CASE WHEN z & 8192 = 0 THEN n1::integer END, CASE WHEN z & 16384 = 0 THEN n2 END,
                CASE WHEN z & 32768 = 0 THEN n3::integer END, CASE WHEN z & 65536 = 0 THEN n4::integer END, CASE WHEN z & 131072 = 0 THEN n5 END,
                \(node)
            FROM x, unnest(\(rows)::bigint[], \(at)::bigint[], \(kind)::text[], \(status)::text[], \(message)::text[],
                \(text[0])::text[], \(text[1])::text[], \(text[2])::text[], \(text[3])::text[], \(text[4])::text[], \(text[5])::text[],
                \(text[6])::text[], \(text[7])::text[], \(text[8])::text[], \(text[9])::text[], \(text[10])::text[], \(text[11])::text[],
                \(number[0])::bigint[], \(number[1])::bigint[], \(number[2])::bigint[], \(number[3])::bigint[], \(number[4])::bigint[], \(number[5])::bigint[],
                \(nulls)::bigint[])
                AS t(pos, at, kind, status, m, t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, n0, n1, n2, n3, n4, n5, z))
            SELECT pg_notify(\(Self.channel), 'log')
            """,
            logger: logger
        )
    }

    /// The columns both tables are read as, in one order (`record(_:)`).
    static let recordColumns = """
        id, at, kind, status, message_id, source, destination, rule, type, event, user_id, attempt, batch_id, request_id,
        reference, error_code, error_message, http_status, next_retry_at, size, detail, detail_event, event_id, node
        """

    /// An event read as its `received` record.
    static let receivedColumns = """
        id, received_at, 'received', 'received', message_id, source, NULL::text, NULL::text, type, name, COALESCE(user_id, anonymous_id), NULL::integer,
        NULL::text, NULL::text, NULL::text, NULL::text, NULL::text, NULL::integer, NULL::bigint, length(payload), NULL::text, NULL::integer, id, node
        """

    static func record(_ row: PostgresRow) throws -> LogRecord {
        let c = row.makeRandomAccess()
        var r = LogRecord(
            at: Timestamp(millisecondsSinceEpoch: try c[1].decode(Int64.self)),
            kind: LogRecord.Kind(rawValue: try c[2].decode(String.self)) ?? .received,
            messageId: try c[4].decode(String.self),
            status: try c[3].decode(String.self)
        )
        r.id = try c[0].decode(Int64.self)
        r.source = try c[5].decode(String?.self)
        r.destination = try c[6].decode(String?.self)
        r.rule = try c[7].decode(String?.self)
        r.type = try c[8].decode(String?.self)
        r.event = try c[9].decode(String?.self)
        r.userId = try c[10].decode(String?.self)
        r.attempt = try c[11].decode(Int32?.self).map(Int.init)
        r.batchId = try c[12].decode(String?.self)
        r.requestId = try c[13].decode(String?.self)
        r.reference = try c[14].decode(String?.self)
        r.errorCode = try c[15].decode(String?.self)
        r.errorMessage = try c[16].decode(String?.self)
        r.httpStatus = try c[17].decode(Int32?.self).map(Int.init)
        r.nextRetryAt = try c[18].decode(Int64?.self).map(Timestamp.init(millisecondsSinceEpoch:))
        r.size = try c[19].decode(Int32?.self).map(Int.init)
        let detail = try c[20].decode(String?.self)
        r.eventID = try c[22].decode(Int64?.self)
        r.node = try c[23].decode(String?.self)
        if let offset = try c[21].decode(Int32?.self) {
            r.entryText = detail.map { EntryText(bytes: Array($0.utf8), eventOffset: Int(offset)) }
        } else {
            r.detail = detail.flatMap { try? JSONParser.parse($0) }
        }
        return r
    }

    /// Puts each transformed entry's event back, one query for the page.
    func restoreEmbeddedEvents(_ records: [LogRecord], _ connection: PostgresConnection) async throws -> [LogRecord] {
        let wanted = Set(records.compactMap { $0.entryText != nil ? $0.eventID : nil })
        var payloads: [Int64: [UInt8]] = [:]
        if !wanted.isEmpty {
            for (id, payload) in try await connection.run(
                "SELECT id, payload FROM events WHERE id = ANY(\(Array(wanted))::bigint[])",
                logger: logger
            )
            .decode((Int64, ByteBuffer).self) {
                payloads[id] = Array(payload.readableBytesView)
            }
        }
        return records.map { record in
            guard let text = record.entryText else { return record }
            var r = record
            r.detail = try? JSONParser.parse(text.restored(event: r.eventID.flatMap { payloads[$0] }))
            r.entryText = nil
            return r
        }
    }

    /// The filter as conditions on either table; nil when it cannot match a received record.
    func conditions(_ filter: LogFilter, received: Bool, into query: inout PostgresQuery.StringInterpolation) throws -> Bool {
        if received {
            if filter.destination != nil || filter.rule != nil { return false }
            if let status = filter.status, status != "received" { return false }
            if let kind = filter.kind, kind != .received { return false }
        }
        if let v = filter.source {
            query.appendLiteral(" AND source = ")
            query.appendInterpolation(v.pgText)
        }
        if let v = filter.messageId {
            query.appendLiteral(" AND message_id = ")
            query.appendInterpolation(v.pgText)
        }
        if let v = filter.event {
            query.appendLiteral(received ? " AND name = " : " AND event = ")
            query.appendInterpolation(v.pgText)
        }
        if let v = filter.userId {
            query.appendLiteral(received ? " AND COALESCE(user_id, anonymous_id) = " : " AND user_id = ")
            query.appendInterpolation(v.pgText)
        }
        if !received {
            if let v = filter.destination {
                query.appendLiteral(" AND destination = ")
                query.appendInterpolation(v.pgText)
            }
            if let v = filter.status {
                query.appendLiteral(" AND status = ")
                query.appendInterpolation(v.pgText)
            }
            if let v = filter.kind?.rawValue {
                query.appendLiteral(" AND kind = ")
                query.appendInterpolation(v.pgText)
            }
            if let v = filter.rule {
                query.appendLiteral(" AND rule = ")
                query.appendInterpolation(v.pgText)
            }
        }
        return true
    }

    /// Both tables, each ordered and limited by position; the caller merges them.
    func logQuery(
        _ filter: LogFilter,
        newestFirst: Bool,
        limit: Int,
        extra: (Bool, inout PostgresQuery.StringInterpolation) -> Void
    ) throws -> [PostgresQuery] {
        var queries: [PostgresQuery] = []
        for received in [false, true] {
            var q = PostgresQuery.StringInterpolation(literalCapacity: 512, interpolationCount: 8)
            q.appendLiteral(
                "SELECT \(received ? Self.receivedColumns : Self.recordColumns) FROM \(received ? "events" : "delivery_log") WHERE true"
            )
            guard try conditions(filter, received: received, into: &q) else { continue }
            extra(received, &q)
            q.appendLiteral(" ORDER BY id \(newestFirst ? "DESC" : "ASC") LIMIT ")
            q.appendInterpolation(limit)
            queries.append(PostgresQuery(stringInterpolation: q))
        }
        return queries
    }

    /// Runs `logQuery`'s queries and merges their rows into one page in position order, the
    /// embedded events put back.
    func merged(_ queries: [PostgresQuery], newestFirst: Bool, limit: Int, _ connection: PostgresConnection) async throws -> [LogRecord] {
        var records: [LogRecord] = []
        for q in queries {
            for row in try await connection.run(q, logger: logger) { records.append(try Self.record(row)) }
        }
        records.sort { newestFirst ? $0.id > $1.id : $0.id < $1.id }
        return try await restoreEmbeddedEvents(Array(records.prefix(limit)), connection)
    }

    public func records(_ query: LogQuery) async throws -> [LogRecord] {
        try await guarded { [self] connection in
            let limit = max(1, min(query.limit, 1000))
            let queries = try logQuery(query.filter, newestFirst: true, limit: limit) { received, q in
                let time = received ? "received_at" : "at"
                if let since = query.since {
                    q.appendLiteral(" AND \(time) >= ")
                    q.appendInterpolation(since.millisecondsSinceEpoch)
                }
                if let until = query.until {
                    q.appendLiteral(" AND \(time) <= ")
                    q.appendInterpolation(until.millisecondsSinceEpoch)
                }
                if let before = query.before {
                    q.appendLiteral(" AND id < ")
                    q.appendInterpolation(before)
                }
            }
            return try await merged(queries, newestFirst: true, limit: limit, connection)
        }
    }

    /// Only positions below the horizon: a record of a transaction still open (or one that will
    /// commit later with a smaller position) is read on a later call, never skipped.
    public func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord] {
        try await guarded { [self] connection in
            let horizon = try await Self.horizon(connection, logger: logger)
            guard horizon > id + 1 else { return [] }
            let queries = try logQuery(filter, newestFirst: false, limit: limit) { _, q in
                q.appendLiteral(" AND id > ")
                q.appendInterpolation(id)
                q.appendLiteral(" AND id < ")
                q.appendInterpolation(horizon)
            }
            return try await merged(queries, newestFirst: false, limit: limit, connection)
        }
    }

    public func story(messageId: String) async throws -> EventStory? {
        try await guarded { [self] connection -> EventStory? in
            var found: (id: Int64, source: String, received: Int64, payload: ByteBuffer)?
            for row in try await connection.run(
                """
                SELECT id, source, received_at, payload FROM events WHERE message_id = \(messageId.pgText) ORDER BY id DESC LIMIT 1
                """,
                logger: logger
            ).decode((Int64, String, Int64, ByteBuffer).self) {
                found = (row.0, row.1, row.2, row.3)
            }
            guard let event = found else { return nil }
            var jobs: [EventStory.JobSummary] = []
            for (destination, rule, state, attempts, lastError, availableAt) in try await connection.run(
                """
                SELECT destination, rule, state, attempts, last_error, available_at FROM jobs WHERE event_id = \(event.id) ORDER BY id
                """,
                logger: logger
            ).decode((String, String?, String, Int32, String?, Int64).self) {
                jobs.append(
                    EventStory.JobSummary(
                        destination: destination,
                        rule: rule,
                        state: state,
                        attempts: Int(attempts),
                        lastError: lastError,
                        nextAttemptAt: state == "failed" || state == "pending" ? Timestamp(millisecondsSinceEpoch: availableAt) : nil
                    )
                )
            }
            var records: [LogRecord] = []
            for row in try await connection.run(
                """
                SELECT \(unescaped: Self.receivedColumns) FROM events WHERE id = \(event.id)
                UNION ALL SELECT \(unescaped: Self.recordColumns) FROM delivery_log WHERE event_id = \(event.id) ORDER BY 1
                """,
                logger: logger
            ) {
                records.append(try Self.record(row))
            }
            return EventStory(
                messageId: messageId,
                source: event.source,
                receivedAt: Timestamp(millisecondsSinceEpoch: event.received),
                event: (try? JSONParser.parse(Array(event.payload.readableBytesView))) ?? .null,
                jobs: jobs,
                records: try await restoreEmbeddedEvents(records, connection)
            )
        }
    }
}
