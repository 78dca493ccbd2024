import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: skipped destinations (no consent)", .timeLimit(.minutes(2)))
struct SkippedConformanceTests {
    @Test(
        "an event's skipped destinations are stored with it as records: no job, in the log, the story and the live stream",
        arguments: StoreFixture.all
    )
    func skipped(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let live = store.liveLog.subscribe(LogFilter(kind: .skipped))
            defer { store.liveLog.unsubscribe(live.id) }
            let reason = "no consent: denied C0004 (resolutionStrategy and)"
            try await store.append([
                NewEvent(
                    source: "web",
                    event: makeEvent(1),
                    targets: [JobTarget(destination: "a")],
                    skipped: [SkippedTarget(destination: "ads", reason: reason), SkippedTarget(destination: "b", reason: "no consent: x")]
                ),
                NewEvent(source: "web", event: makeEvent(2), targets: [], skipped: [SkippedTarget(destination: "ads", reason: reason)]),
                NewEvent(source: "web", event: makeEvent(3), destinations: ["a"]),
            ])
            #expect(try await store.counts("a")[.pending] == 2)
            #expect(try await store.counts("ads").isEmpty, "a skipped destination gets no job")

            let skipped = try await store.records(LogQuery(filter: LogFilter(kind: .skipped))).reversed()
            #expect(
                skipped.map { "\($0.messageId) \($0.destination ?? "-") \($0.status)" } == [
                    "m-1 ads skipped", "m-1 b skipped", "m-2 ads skipped",
                ]
            )
            let first = try #require(skipped.first)
            #expect(first.errorMessage == reason && first.source == "web" && first.type == "track" && first.userId != nil)

            let all = try await store.records(LogQuery()).reversed()
            #expect(all.map { $0.kind } == [.received, .received, .received, .skipped, .skipped, .skipped], "numbered after the events")
            #expect(Set(all.map(\.id)).count == all.count)
            #expect(try await store.records(LogQuery(filter: LogFilter(destination: "ads", status: "skipped"))).count == 2)

            let story = try #require(try await store.story(messageId: "m-2"))
            #expect(story.jobs.isEmpty && story.records.map(\.kind) == [.received, .skipped])

            var streamed: [String] = []
            for await item in live.stream {
                if case .record(let record) = item { streamed.append("\(record.messageId) \(record.destination ?? "-")") }
                if streamed.count == 3 { break }
            }
            #expect(streamed == ["m-1 ads", "m-1 b", "m-2 ads"])
        }
    }
}
