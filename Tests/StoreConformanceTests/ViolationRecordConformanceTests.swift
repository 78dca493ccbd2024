import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: tracking plan records", .timeLimit(.minutes(2)))
struct ViolationRecordConformanceTests {
    @Test(
        "a plan's records, written with their event or on their own (a dropped event's), are numbered, queried, in the story and streamed",
        arguments: StoreFixture.all
    )
    func appendedRecords(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let live = store.liveLog.subscribe(LogFilter(kind: .violation))
            defer { store.liveLog.unsubscribe(live.id) }
            let violation = TrackingViolation(
                type: .datatypeMismatch,
                message: "must be number",
                instancePath: "/properties/total",
                schemaPath: "#/properties/properties/properties/total/type"
            )
            var item = NewEvent(source: "web", event: makeEvent(1), destinations: ["a"])
            item.records = [LogRecord.violations([violation], of: makeEvent(1), source: "web", plan: "p", version: 2, dropped: false)]
            try await store.append([item])
            try await store.appendRecords([
                LogRecord.violations([violation], of: makeEvent(2), source: "web", plan: "p", version: 2, dropped: true)
            ])
            let records = try await store.records(LogQuery(filter: LogFilter(kind: .violation))).reversed()
            #expect(records.map { "\($0.messageId) \($0.status)" } == ["m-1 propagated", "m-2 dropped"])
            let kept = try #require(records.first)
            #expect(kept.userId != nil && kept.source == "web" && kept.type == "track")
            #expect(kept.errorMessage == "properties.total: must be number (Datatype-Mismatch)")
            #expect(kept.detail?[path: "trackingPlan"] == .string("p"))
            #expect(kept.detail?[path: "violations"]?.arrayValue?.first?[path: "meta.instancePath"] == .string("/properties/total"))
            #expect(records.last?.userId == nil, "a dropped event's record names no user")
            #expect(try await store.records(LogQuery(filter: LogFilter(status: "dropped"))).map(\.messageId) == ["m-2"])

            let all = try await store.records(LogQuery()).reversed()
            #expect(all.map(\.kind) == [.received, .violation, .violation])
            #expect(Set(all.map(\.id)).count == 3 && all.map(\.id) == all.map(\.id).sorted())
            let story = try #require(try await store.story(messageId: "m-1"))
            #expect(story.records.map(\.kind) == [.received, .violation])

            var streamed: [String] = []
            for await item in live.stream {
                if case .record(let record) = item { streamed.append(record.messageId) }
                if streamed.count == 2 { break }
            }
            #expect(streamed == ["m-1", "m-2"])
        }
    }
}
