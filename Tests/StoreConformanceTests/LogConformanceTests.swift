import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// An attempt's log as a worker writes it: the entry as sent (its text with the event cut out) on
/// the first attempt, and what the destination answered.
func attemptLog(_ job: Job, _ outcome: JobOutcome) -> AttemptLog {
    let entry = JSONValue.object(
        JSONObject([("Detail", .string(String(decoding: job.payload, as: UTF8.self))), ("DetailType", .string(job.name ?? ""))])
    )
    let text = entry.serialized()
    return AttemptLog(
        job: job,
        batchId: "b-\(job.id)",
        requestId: "r-1",
        result: entryOutcome(outcome),
        entry: entry,
        entrySize: text.count,
        entryText: EntryText(entry: text, embedding: job.payload)
    )
}

@Suite("Every store: the delivery log", .timeLimit(.minutes(2)))
struct LogConformanceTests {
    @Test(
        "each event is received, then transformed and attempted per job; records come back in order and by filter",
        arguments: StoreFixture.all
    )
    func records(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([NewEvent(source: "web", event: makeEvent(1), targets: [JobTarget(destination: "a", rule: "r1")])])
            try await store.append([NewEvent(source: "app", event: makeEvent(2), destinations: ["a"])])
            let jobs = try await store.claim("a")
            try await store.finish([
                JobResult(job: jobs[0], outcome: .succeeded, log: attemptLog(jobs[0], .succeeded)),
                JobResult(
                    job: jobs[1],
                    outcome: .retry(at: later(), error: "ThrottlingException"),
                    log: attemptLog(jobs[1], .retry(at: later(), error: "ThrottlingException"))
                ),
            ])
            let all = try await store.records(LogQuery())
            #expect(all.map(\.id) == all.map(\.id).sorted(by: >), "newest first")
            #expect(Set(all.map(\.id)).count == all.count)
            let oldestFirst = all.reversed().map { "\($0.kind.rawValue) \($0.messageId) \($0.status)" }
            #expect(oldestFirst.prefix(2) == ["received m-1 received", "received m-2 received"])
            #expect(
                Set(oldestFirst.dropFirst(2)) == [
                    "transformed m-1 transformed", "attempt m-1 succeeded", "transformed m-2 transformed", "attempt m-2 failed",
                ]
            )

            let delivered = try #require(all.first { $0.kind == .attempt && $0.messageId == "m-1" })
            #expect(
                delivered.reference == "ref-1" && delivered.attempt == 1 && delivered.batchId == "b-\(jobs[0].id)" && delivered.rule == "r1"
            )
            let failed = try #require(all.first { $0.kind == .attempt && $0.messageId == "m-2" })
            #expect(failed.errorCode == "ThrottlingException" && failed.httpStatus == 500 && failed.nextRetryAt != nil)
            let transformed = try #require(all.first { $0.kind == .transformed && $0.messageId == "m-1" })
            #expect(transformed.detail == attemptLog(jobs[0], .succeeded).entry, "the entry comes back exactly as sent, its event put back")
            #expect(transformed.entryText == nil)
            let received = try #require(all.first { $0.kind == .received && $0.messageId == "m-2" })
            #expect(
                received.source == "app" && received.event == "E2" && received.userId == "u2" && received.type == "track"
                    && received.size == jobs[1].payload.count
            )

            #expect(try await store.records(LogQuery(filter: LogFilter(messageId: "m-2"))).count == 3)
            #expect(
                try await store.records(LogQuery(filter: LogFilter(rule: "r1"))).map(\.kind).sorted { $0.rawValue < $1.rawValue } == [
                    .attempt, .transformed,
                ]
            )
            #expect(try await store.records(LogQuery(filter: LogFilter(status: "failed"))).map(\.messageId) == ["m-2"])
            #expect(try await store.records(LogQuery(filter: LogFilter(source: "app", kind: .received))).map(\.messageId) == ["m-2"])
            #expect(try await store.records(LogQuery(filter: LogFilter(destination: "a"))).allSatisfy { $0.kind != .received })

            // Paging: each page continues before the last id of the previous one.
            var paged: [Int64] = []
            var before: Int64?
            while true {
                let page = try await store.records(LogQuery(before: before, limit: 2))
                if page.isEmpty { break }
                paged += page.map(\.id)
                before = page.last?.id
            }
            #expect(paged == all.map(\.id))
        }
    }

    @Test(
        "a reader resuming after the last id it saw gets every later record once, in order, while writers go on",
        arguments: StoreFixture.all
    )
    func resume(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let seen = try await withThrowingTaskGroup(of: [Int64].self) { group in
                group.addTask {
                    for n in stride(from: 1, through: 120, by: 3) {
                        try await store.append(events(n...(n + 2)))
                        let jobs = try await store.claim("a", limit: 2)
                        try await store.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
                    }
                    return []
                }
                group.addTask {
                    var ids: [Int64] = []
                    var idle = 0
                    while idle < 50 {
                        let page = try await store.records(after: ids.last ?? 0, filter: LogFilter(), limit: 7)
                        idle = page.isEmpty ? idle + 1 : 0
                        ids += page.map(\.id)
                        await Task.yield()
                    }
                    return ids
                }
                return try await group.reduce(into: [Int64]()) { $0 += $1 }
            }
            var everything: [Int64] = []
            var before: Int64?
            while true {
                let page = try await store.records(LogQuery(before: before, limit: 1000))
                if page.isEmpty { break }
                everything += page.map(\.id)
                before = page.last?.id
            }
            // A shared store hands records to resuming readers once every older transaction on
            // the server is over (other tests' included), so the last ones may come a little later.
            var ids = seen
            let deadline = ContinuousClock.now + .seconds(20)
            while ids.count < everything.count, ContinuousClock.now < deadline {
                ids += try await store.records(after: ids.last ?? 0, filter: LogFilter(), limit: 10_000).map(\.id)
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(ids == ids.sorted() && Set(ids).count == ids.count, "in order, none twice")
            #expect(ids == everything.reversed(), "none skipped")
        }
    }

    @Test("live subscribers get committed records as they commit, filtered", arguments: StoreFixture.all)
    func live(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let all = store.liveLog.subscribe(LogFilter())
            let attempts = store.liveLog.subscribe(LogFilter(kind: .attempt))
            defer {
                store.liveLog.unsubscribe(all.id)
                store.liveLog.unsubscribe(attempts.id)
            }
            try await store.append(events(1...1))
            let jobs = try await store.claim("a")
            try await store.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
            var kinds: [LogRecord.Kind] = []
            for await item in all.stream {
                if case .record(let record) = item { kinds.append(record.kind) }
                if kinds.count == 3 { break }
            }
            #expect(kinds == [.received, .transformed, .attempt])
            for await item in attempts.stream {
                guard case .record(let record) = item else { continue }
                #expect(record.kind == .attempt && record.status == "succeeded")
                break
            }
        }
    }

    @Test("live subscribers see every record in id order, however concurrent writers' commits interleave", arguments: StoreFixture.all)
    func liveOrder(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let subscription = store.liveLog.subscribe(LogFilter())
            defer { store.liveLog.unsubscribe(subscription.id) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for n in 0..<25 { try await store.append(events((writer * 100 + n)...(writer * 100 + n))) }
                    }
                }
                group.addTask {
                    var settled = 0
                    while settled < 100 {
                        let jobs = try await store.claim("a", limit: 10)
                        try await store.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
                        settled += jobs.count
                        if jobs.isEmpty { await store.waitForNewJobs(since: store.newJobsGeneration, timeout: .milliseconds(20)) }
                    }
                }
                try await group.waitForAll()
            }
            var ids: [Int64] = []
            for await item in subscription.stream {
                guard case .record(let record) = item else {
                    Issue.record("no record may be dropped here")
                    break
                }
                ids.append(record.id)
                if ids.count == 300 { break }
            }
            #expect(ids == ids.sorted(), "in id order")
            #expect(Set(ids).count == 300)
        }
    }

    @Test("an event's story holds the stored event, each job's state and every record about it", arguments: StoreFixture.all)
    func story(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([
                NewEvent(
                    source: "web",
                    event: makeEvent(1),
                    targets: [JobTarget(destination: "a"), JobTarget(destination: "b", rule: "r1")]
                )
            ])
            try await store.append(events(2...2))
            let jobs = try await store.claim("a", limit: 1)
            try await store.finish(
                jobs.map {
                    JobResult(
                        job: $0,
                        outcome: .retry(at: later(), error: "ThrottlingException"),
                        log: attemptLog($0, .retry(at: later(), error: "ThrottlingException"))
                    )
                }
            )
            let story = try #require(try await store.story(messageId: "m-1"))
            #expect(story.messageId == "m-1" && story.source == "web")
            #expect(story.event == (try JSONParser.parse(makeEvent(1).payload)))
            #expect(
                story.jobs.map { "\($0.destination) \($0.rule ?? "-") \($0.state) \($0.attempts)" } == ["a - failed 1", "b r1 pending 0"]
            )
            #expect(story.jobs[0].lastError == "ThrottlingException" && story.jobs[0].nextAttemptAt != nil)
            #expect(story.records.map(\.kind) == [.received, .transformed, .attempt])
            #expect(try await store.story(messageId: "m-404") == nil)
        }
    }
}

@Suite("Every store: dead letters and retention", .timeLimit(.minutes(2)))
struct DeadLetterConformanceTests {
    @Test(
        "dead letters are listed newest first with their reason, filtered, and replayed with attempts starting over",
        arguments: StoreFixture.all
    )
    func deadLettersAndReplay(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...3, to: ["a", "b"]))
            let a = try await store.claim("a")
            try await store.settle([a[0]], .dead(reason: "InvalidArgument: Detail is malformed"), logged: true)
            try await store.settle([a[1]], .dead(reason: "AccessDeniedException: not allowed"), logged: true)
            try await store.settle([a[2]], .succeeded)
            try await store.settle(try await store.claim("b", limit: 1), .dead(reason: "InvalidArgument: too big"))

            let all = try await store.deadLetters(DeadLetterQuery())
            #expect(all.count == 3)
            let forA = try await store.deadLetters(DeadLetterQuery(destination: "a"))
            #expect(Set(forA.map(\.messageId)) == ["m-1", "m-2"])
            #expect(forA.allSatisfy { $0.attempts == 1 && $0.source == "web" && $0.type == "track" })
            #expect(forA.first { $0.messageId == "m-1" }?.reason == "InvalidArgument: Detail is malformed")
            #expect(try await store.deadLetters(DeadLetterQuery(errorCode: "InvalidArgument")).map(\.destination).sorted() == ["a", "b"])
            #expect(try await store.deadLetters(DeadLetterQuery(messageIds: ["m-2"])).map(\.messageId) == ["m-2"])
            #expect(try await store.deadLetters(DeadLetterQuery(limit: 1)).count == 1)

            let generation = store.newJobsGeneration
            #expect(try await store.replay(DeadLetterQuery(destination: "a", errorCode: "InvalidArgument")) == 1)
            #expect(store.newJobsGeneration > generation, "replayed jobs wake the workers")
            let replayed = try await store.claim("a")
            #expect(replayed.map(\.messageId) == ["m-1"])
            #expect(replayed.first?.attempt == 1)
            let record = try #require(try await store.records(LogQuery(filter: LogFilter(kind: .replayed))).first)
            #expect(record.messageId == "m-1" && record.destination == "a" && record.status == "waiting")
            #expect(try await store.deadLetters(DeadLetterQuery()).count == 2)
        }
    }

    @Test(
        "pruning deletes old log records, delivered jobs and their events, never what is still to be delivered",
        arguments: StoreFixture.all
    )
    func prune(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...4))
            let jobs = try await store.claim("a", limit: 3)
            try await store.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
            // Past the millisecond the outcomes were stamped with, so "older than 0 ms" holds for them.
            TestTime.advance(by: .milliseconds(5))
            var keep = RetentionConfig()
            keep.maxLogRecords = 4
            let first = try await store.prune(keep)
            #expect(first.records == 2 && first.jobs == 0 && first.events == 0)
            var none = RetentionConfig()
            none.log = .milliseconds(0)
            none.delivered = .milliseconds(0)
            let second = try await store.prune(none)
            #expect(second.jobs == 3 && second.events == 3)
            #expect(try await store.stats().events == 1)
            #expect(try await store.claim("a").map(\.messageId) == ["m-4"])
            #expect(try await store.story(messageId: "m-1") == nil)
            #expect(try await store.records(LogQuery(filter: LogFilter(kind: .attempt))).isEmpty)
        }
    }

    @Test(
        "pruning a history larger than one step deletes it all in one call, a step of `batch` rows at a time",
        arguments: StoreFixture.all
    )
    func pruneInSteps(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            // Ten delivered to one destination, three routed nowhere, two still waiting.
            try await store.append(events(1...12) + events(13...15, to: []))
            let jobs = try await store.claim("a", limit: 10)
            try await store.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
            TestTime.advance(by: .milliseconds(5))
            var tight = RetentionConfig()
            tight.log = .milliseconds(0)
            tight.delivered = .milliseconds(0)
            tight.batch = 3
            let report = try await store.prune(tight)
            #expect(report.jobs == 10 && report.events == 13 && report.records == 20)
            #expect(try await store.stats().events == 2)
            #expect(try await store.claim("a").map(\.messageId) == ["m-11", "m-12"])
        }
    }
}
