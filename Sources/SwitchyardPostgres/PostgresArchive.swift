import Logging
import PostgresNIO
import SwitchyardCore

/// The archiver's cursor, shared by every node: the node holding the lease (renewed each batch)
/// writes the archive; another takes it over when the lease runs out. Events are read only
/// below the log's horizon, where no transaction still running can commit one.
extension PostgresJobStore {
    public func leaseArchive(leaseFor: Duration) async throws -> ArchiveCursor? {
        let now = clock.now().millisecondsSinceEpoch
        let until = now + leaseFor.milliseconds
        return try await transaction(deadline: Self.readDeadline) { [self] connection -> ArchiveCursor? in
            for (position, pending) in try await connection.run(
                """
                UPDATE archive_state SET holder = \(node), lease_until = \(until)
                WHERE id = 1 AND (holder IS NULL OR holder = \(node) OR lease_until < \(now))
                RETURNING position, pending_through
                """,
                logger: logger
            ).decode((Int64, Int64?).self) {
                return ArchiveCursor(position: position, pendingThrough: pending)
            }
            return nil
        }
    }

    public func saveArchiveCursor(_ cursor: ArchiveCursor) async throws {
        let saved = try await transaction(deadline: Self.readDeadline) { [self] connection -> Bool in
            for _ in try await connection.run(
                """
                UPDATE archive_state SET position = \(cursor.position), pending_through = \(cursor.pendingThrough)
                WHERE id = 1 AND holder = \(node) RETURNING 1
                """,
                logger: logger
            ).decode(Int32.self) {
                return true
            }
            return false
        }
        if !saved { throw ArchiveLeaseLost() }
    }

    public func eventsToArchive(after position: Int64, through: Int64?, limit: Int) async throws -> [ArchivedEvent] {
        try await guarded { [self] connection in
            let horizon = try await Self.horizon(connection, logger: logger)
            let upTo = min(through ?? Int64.max, horizon - 1)
            var out: [ArchivedEvent] = []
            for (id, messageID, source, type, name, userID, anonymousID, receivedAt, payload) in try await connection.run(
                """
                SELECT id, message_id, source, type, name, user_id, anonymous_id, received_at, payload FROM events
                WHERE id > \(position) AND id <= \(upTo) ORDER BY id LIMIT \(limit)
                """,
                logger: logger
            ).decode((Int64, String, String, String, String?, String?, String?, Int64, ByteBuffer).self) {
                guard let type = MessageType(rawValue: type) else { continue }
                let event = Event(
                    messageId: messageID,
                    type: type,
                    name: name,
                    userId: userID,
                    anonymousId: anonymousID,
                    receivedAt: Timestamp(millisecondsSinceEpoch: receivedAt),
                    payload: Array(payload.readableBytesView)
                )
                out.append(ArchivedEvent(id: id, source: source, event: event))
            }
            return out
        }
    }

    public func oldestUnarchived(after position: Int64) async throws -> Timestamp? {
        try await guarded { [self] connection in
            for at in try await connection.run(
                "SELECT received_at FROM events WHERE id > \(position) ORDER BY id LIMIT 1",
                logger: logger
            ).decode(Int64.self) {
                return Timestamp(millisecondsSinceEpoch: at)
            }
            return nil
        }
    }

    /// The last event the archive holds: retention keeps every event after it.
    public func archivePosition() async throws -> Int64 {
        try await guarded { [self] connection in
            for position in try await connection.run("SELECT position FROM archive_state WHERE id = 1", logger: logger)
                .decode(Int64.self)
            {
                return position
            }
            return 0
        }
    }
}
