import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: the archive's cursor", .timeLimit(.minutes(2)))
struct ArchiveConformanceTests {
    /// The events after `position` once `count` of them can be read: on PostgreSQL a transaction
    /// still open anywhere in the cluster (another test's) holds the log's horizon back, and
    /// committed events are handed out only below it.
    static func committed(
        _ store: any JobStore,
        after position: Int64 = 0,
        through: Int64? = nil,
        limit: Int = 100,
        count: Int
    ) async throws -> [ArchivedEvent] {
        while true {
            let events = try await store.eventsToArchive(after: position, through: through, limit: limit)
            if events.count >= count { return events }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test(
        "events come after the cursor in id order, up to a pending batch's end; the cursor survives a restart",
        arguments: StoreFixture.all
    )
    func cursor(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let first = try await open()
            try await first.store.append(events(1...3) + events(4...5, to: []))
            #expect(try await first.store.leaseArchive(leaseFor: .seconds(60)) == ArchiveCursor(position: 0))
            let all = try await Self.committed(first.store, count: 5)
            #expect(all.map(\.event.messageId) == ["m-1", "m-2", "m-3", "m-4", "m-5"])
            #expect(all.map(\.id) == all.map(\.id).sorted() && Set(all.map(\.id)).count == 5)
            #expect(all.allSatisfy { $0.source == "web" })
            #expect(all[0].event.payload == makeEvent(1).payload)
            let page = try await Self.committed(first.store, limit: 2, count: 2)
            #expect(page.map(\.event.messageId) == ["m-1", "m-2"])
            try await first.store.saveArchiveCursor(ArchiveCursor(position: all[1].id, pendingThrough: all[3].id))
            try await first.close()

            let second = try await open()
            let cursor = try #require(try await second.store.leaseArchive(leaseFor: .seconds(60)))
            #expect(cursor == ArchiveCursor(position: all[1].id, pendingThrough: all[3].id))
            let pending = try await Self.committed(second.store, after: cursor.position, through: cursor.pendingThrough, count: 2)
            #expect(pending.map(\.event.messageId) == ["m-3", "m-4"])
            #expect(try await second.store.oldestUnarchived(after: all[1].id) == all[2].event.receivedAt)
            #expect(try await second.store.oldestUnarchived(after: all[4].id) == nil)
            try await second.close()
        }
    }

    @Test("with the archive on, retention deletes only events the archive has", arguments: StoreFixture.all)
    func retentionWaitsForTheArchive(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            // Routed nowhere: retention would take all four at once.
            try await store.append(events(1...4, to: []))
            let stored = try await Self.committed(store, count: 4)
            _ = try await store.leaseArchive(leaseFor: .seconds(60))
            try await store.saveArchiveCursor(ArchiveCursor(position: stored[1].id))
            TestTime.advance(by: .milliseconds(5))
            var retention = RetentionConfig()
            retention.delivered = .milliseconds(0)
            retention.keepUnarchived = true
            #expect(try await store.prune(retention).events == 2)
            #expect(try await Self.committed(store, count: 2).map(\.event.messageId) == ["m-3", "m-4"])
            retention.keepUnarchived = false
            #expect(try await store.prune(retention).events == 2)
        }
    }

    @Test("one node holds the archive at a time; another takes it over when its lease runs out", arguments: NodesConformanceTests.shared)
    func leaseAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            #expect(try await a.leaseArchive(leaseFor: .seconds(60)) == ArchiveCursor(position: 0))
            #expect(try await b.leaseArchive(leaseFor: .seconds(60)) == nil)
            await #expect(throws: ArchiveLeaseLost.self) { try await b.saveArchiveCursor(ArchiveCursor(position: 7)) }
            try await a.saveArchiveCursor(ArchiveCursor(position: 5, pendingThrough: 9))
            // Renewing is taking it again.
            #expect(try await a.leaseArchive(leaseFor: .seconds(60)) == ArchiveCursor(position: 5, pendingThrough: 9))
            TestTime.advance(by: .seconds(61))
            #expect(try await b.leaseArchive(leaseFor: .seconds(60)) == ArchiveCursor(position: 5, pendingThrough: 9))
            await #expect(throws: ArchiveLeaseLost.self) { try await a.saveArchiveCursor(ArchiveCursor(position: 9)) }
            try await b.saveArchiveCursor(ArchiveCursor(position: 9))
            #expect(try await a.leaseArchive(leaseFor: .seconds(60)) == nil)
        }
    }
}
