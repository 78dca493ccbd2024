import SwitchyardCore

/// The archiver's cursor; one process owns the memory, so the lease is always granted.
extension MemoryJobStore {
    public func leaseArchive(leaseFor: Duration) async throws -> ArchiveCursor? {
        try checkOpen()
        return storage.rows.withLockedValue { $0.archive }
    }

    public func saveArchiveCursor(_ cursor: ArchiveCursor) async throws {
        try checkOpen()
        storage.rows.withLockedValue { $0.archive = cursor }
    }

    public func eventsToArchive(after position: Int64, through: Int64?, limit: Int) async throws -> [ArchivedEvent] {
        try checkOpen()
        return storage.rows.withLockedValue { rows in
            rows.events.values.filter { $0.id > position && $0.id <= (through ?? .max) }.sorted { $0.id < $1.id }.prefix(limit)
                .map { ArchivedEvent(id: $0.id, source: $0.source, event: $0.event) }
        }
    }

    public func archivePosition() async throws -> Int64 {
        try checkOpen()
        return storage.rows.withLockedValue { $0.archive.position }
    }

    public func oldestUnarchived(after position: Int64) async throws -> Timestamp? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in
            rows.events.values.filter { $0.id > position }.min { $0.id < $1.id }?.event.receivedAt
        }
    }
}
