import AWSSigV4
import Logging
import SwitchyardCore
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardArchive

@Suite("Replays", .timeLimit(.minutes(1)))
struct ReplayRunnerTests {
    struct Setup {
        let store: MemoryJobStore
        let archiver: Archiver
        let runner: ReplayRunner
        let clock: ManualWallClock
        let start: Timestamp
    }

    /// Events 1–3 in the first hour and 4–5 in the second, archived; event 6 in the third hour,
    /// only in the store. Destination `b` connects to nothing: only replays send to it.
    static func withSetup(suppressed: [String] = [], _ body: (Setup) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let clock = ManualWallClock()
            try await TestTime.$clock.withValue(clock) {
                let store = try MemoryJobStore(storage: MemoryStorage(), config: StorageConfig(), owner: true, clock: clock)
                let bucket = LocalArchiveBucket(path: dir)
                let logger = Logger(label: "test")
                let archiver = Archiver(
                    config: ArchiveConfig(path: dir),
                    store: store,
                    bucket: bucket,
                    clock: clock,
                    metrics: .discarding(),
                    logger: logger
                )
                var config = SwitchyardConfig()
                config.destinations = [DestinationConfig(name: "b", type: "eventbridge")]
                let digests = Subjects(userIds: Set(suppressed.map(SubjectDigest.of)))
                let runner = ReplayRunner(
                    store: store,
                    bucket: bucket,
                    routing: Routing(config),
                    suppressions: Suppressions(.init(version: 1, subjects: digests)),
                    clock: clock,
                    metrics: .discarding(),
                    logger: logger
                )
                let start = clock.now()
                for n in 1...6 {
                    if n == 4 || n == 6 { clock.advance(by: .seconds(3600)) }
                    if n == 6 { try await archiver.round() }
                    _ = try await store.append([NewEvent(source: "web", event: Self.event(n, at: clock.now()), destinations: ["a"])])
                }
                clock.advance(by: .seconds(60))
                try await body(Setup(store: store, archiver: archiver, runner: runner, clock: clock, start: start))
                store.close()
            }
        }
    }

    /// Event `n` as ingestion stores it, with its `receivedAt`.
    static func event(_ n: Int, at time: Timestamp) -> Event {
        var event = makeEvent(n)
        event.receivedAt = time
        event.payload = Array(
            #"{"type":"track","event":"E\#(n)","userId":"u\#(n)","messageId":"m-\#(n)","receivedAt":"\#(time.rfc3339)"}"#.utf8
        )
        return event
    }

    static func replay(_ name: String, from: Timestamp, to: Timestamp, filter: Replay.Filter = .init()) -> Replay {
        Replay(name: name, from: from, to: to, destinations: ["b"], filter: filter, rate: 100_000, createdAt: from)
    }

    /// The replayed events stored for `b`: their message ids, in order.
    static func sent(_ store: MemoryJobStore) async throws -> [String] {
        try await store.claim(destination: "b", limit: 100, leaseFor: .seconds(60)).map(\.messageId)
    }

    @Test("a range is read from the archive's files, then from the store; each event stored again under the replay, marked")
    func archiveThenStore() async throws {
        try await Self.withSetup { s in
            let replay = Self.replay("r1", from: s.start.later(seconds: 3600), to: s.start.later(seconds: 4 * 3600))
            try await s.store.createReplay(replay)
            try await s.runner.runPending()
            let done = try #require(try await s.store.replay(named: "r1"))
            #expect(done.state == .completed && done.finishedAt != nil)
            #expect(done.progress.filesTotal == 1 && done.progress.filesDone == 1)
            #expect(done.progress.eventsSent == 3 && done.progress.archivedThrough == 5)
            let jobs = try await s.store.claim(destination: "b", limit: 100, leaseFor: .seconds(60))
            #expect(jobs.map(\.messageId) == ["m-4", "m-5", "m-6"])
            #expect(jobs.allSatisfy { $0.source == "replay:r1" })
            let payload = try #require(jobs.first?.payload)
            let message = try JSONParser.parse(payload)
            #expect(message[path: "context.replay.name"]?.stringValue == "r1")
            #expect(message[path: "receivedAt"]?.stringValue == s.start.later(seconds: 3600).rfc3339, "its own time kept")
            // Replayed events are not archived again.
            try await s.archiver.round()
            #expect(try await ArchiverTests.contents(LocalArchiveBucket(path: s.archiver.config.path!)).values.flatMap { $0 }.count == 6)
        }
    }

    @Test("a replay run again from its start sends nothing twice: the store knows its events")
    func resumeSendsNothingTwice() async throws {
        try await Self.withSetup { s in
            try await s.store.createReplay(Self.replay("r1", from: s.start, to: s.clock.now()))
            try await s.runner.runPending()
            #expect(try await Self.sent(s.store).count == 6)
            // As after a crash just before its progress was saved: back to the start.
            var again = try #require(try await s.store.replay(named: "r1"))
            again.state = .running
            again.progress = Replay.Progress()
            again.progress.archivedThrough = 5
            _ = try await s.store.saveReplay(again, leaseFor: .seconds(60))
            try await s.runner.runPending()
            let done = try #require(try await s.store.replay(named: "r1"))
            #expect(done.state == .completed && done.progress.eventsRead == 6 && done.progress.eventsSent == 0)
            #expect(try await s.store.stats().events == 12)
        }
    }

    @Test("filters, suppressed users and events outside the range are left out")
    func leftOut() async throws {
        try await Self.withSetup(suppressed: ["u2"]) { s in
            let filter = Replay.Filter(events: ["E1", "E2", "E3", "E6"])
            try await s.store.createReplay(Self.replay("r1", from: s.start, to: s.start.later(seconds: 2 * 3600), filter: filter))
            try await s.runner.runPending()
            // m-2's user is suppressed, m-4 and m-5 are not in the filter, m-6 is at the range's end.
            let sent = try await Self.sent(s.store)
            #expect(sent == ["m-1", "m-3"])
            let progress = try #require(try await s.store.replay(named: "r1")).progress
            #expect([progress.eventsRead, progress.eventsSent, progress.eventsSkipped] == [5, 2, 3])
        }
    }

    @Test("a cancelled replay stops and sends nothing more")
    func cancelled() async throws {
        try await Self.withSetup { s in
            try await s.store.createReplay(Self.replay("r1", from: s.start, to: s.clock.now()))
            #expect(try await s.store.cancelReplay(named: "r1")?.state == .cancelling)
            try await s.runner.runPending()
            #expect(try await s.store.replay(named: "r1")?.state == .cancelled)
            #expect(try await Self.sent(s.store).isEmpty)
        }
    }
}

extension Timestamp {
    func later(seconds: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: millisecondsSinceEpoch + seconds * 1000) }
}

@Suite("Deleting users from the archive", .timeLimit(.minutes(1)))
struct ArchiveEraserTests {
    @Test("a file holding a deleted user's events is written again without them, with a new manifest; an emptied one goes")
    func erase() async throws {
        try await ReplayRunnerTests.withSetup { s in
            let bucket = LocalArchiveBucket(path: s.archiver.config.path!)
            let eraser = ArchiveEraser(bucket: bucket, logger: Logger(label: "test"))
            #expect(try await eraser.erase(Subjects(userIds: ["u2", "u4", "u5", "nobody"])) == 3)
            let files = try await ArchiverTests.contents(bucket)
            #expect(files.count == 1, "the second hour held only u4 and u5")
            #expect(ArchiverTests.ids(files).sorted() == ["m-1", "m-3"])
            let key = try #require(files.keys.first)
            let manifestBytes = try #require(try await bucket.get(ArchiveLayout.manifestKey(forData: key)))
            let manifest = try #require(ArchiveManifest(json: try JSONParser.parse(manifestBytes)))
            let data = try #require(try await bucket.get(key))
            #expect(manifest.count == 2 && manifest.sha256 == SigV4Signer.hexSHA256(data) && manifest.bytes == data.count)
            #expect(try await bucket.list(under: "").count == 2)
            #expect(try await eraser.erase(Subjects(userIds: ["u2"])) == 0)
        }
    }
}
