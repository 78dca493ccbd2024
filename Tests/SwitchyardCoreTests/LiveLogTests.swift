import Foundation
import Logging
import NIOConcurrencyHelpers
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore
@testable import SwitchyardMemory

@Suite("The delivery log", .timeLimit(.minutes(2)))
struct LiveLogTests {
    func deliverAll(
        _ store: MemoryJobStore,
        answer: @escaping @Sendable (PreparedEntry, Int) -> EntryOutcome,
        until done: @escaping @Sendable () async throws -> Bool
    ) async throws {
        let destination = ScriptedDestination(answer: answer)
        let worker = DeliveryWorker(
            name: "d",
            destination: destination,
            store: store,
            policy: policy(maxAttempts: 2),
            logger: Logger(label: "test"),
            metrics: testMetrics()
        )
        try await runWorker(worker, until: done)
    }

    @Test("receipt, transform, each attempt and dead letters are recorded, and streamed as committed")
    func recorded() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            let subscription = store.liveLog.subscribe(LogFilter(messageId: "m-1"))
            try await store.append([
                NewEvent(source: "web", event: makeEvent(1), destinations: ["d"]),
                NewEvent(source: "web", event: makeEvent(2), destinations: ["d"]),
            ])
            try await deliverAll(
                store,
                answer: { entry, attempt in
                    entry.job.messageId == "m-1" && attempt == 1
                        ? .retry(.init(code: "ThrottlingException", message: "slow", httpStatus: 400))
                        : .delivered(reference: "ev-\(entry.job.messageId)")
                },
                until: { try await counts(store) == ["succeeded": 2] }
            )

            let story = try #require(try await store.story(messageId: "m-1"))
            #expect(story.records.map(\.kind) == [.received, .transformed, .attempt, .attempt])
            #expect(story.records.map(\.status) == ["received", "transformed", "failed", "succeeded"])
            let failed = story.records[2]
            #expect(
                failed.errorCode == "ThrottlingException" && failed.httpStatus == 400 && failed.nextRetryAt != nil && failed.attempt == 1
            )
            #expect(failed.batchId != nil && failed.requestId?.hasPrefix("req-") == true)
            #expect(story.records[1].detail?[path: "messageId"] == .string("m-1"))
            #expect(story.records[3].reference == "ev-m-1" && story.records[3].attempt == 2)
            #expect(story.records.allSatisfy { $0.userId == "u1" && $0.type == "track" && $0.event == "E1" })
            #expect(story.jobs.map(\.state) == ["succeeded"])

            // The live subscriber saw the same records, in the same order, with the same ids.
            var streamed: [LogRecord] = []
            for await item in subscription.stream {
                if case .record(let r) = item { streamed.append(r) }
                if streamed.count == story.records.count { break }
            }
            #expect(streamed == story.records)

            // Received records (the events) and stored records share one sequence of ids.
            let log = try await store.records(LogQuery())
            #expect(log.count == 7 && zip(log, log.dropFirst()).allSatisfy { $0.id > $1.id })
            #expect(
                try await store.records(after: log.last!.id, filter: LogFilter(), limit: 100).map(\.id)
                    == log.dropLast().reversed().map(\.id)
            )
            #expect(try await store.records(LogQuery(filter: LogFilter(kind: .received))).map(\.messageId) == ["m-2", "m-1"])
            store.close()
        }
    }

    @Test("one event matching two destination rules is two jobs, each delivered, logged and dead-lettered under its rule")
    func rulesInTheLog() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append([
                NewEvent(
                    source: "web",
                    event: makeEvent(1),
                    targets: [
                        JobTarget(destination: "d", rule: "CANCELLATION"), JobTarget(destination: "d", rule: "HIGH_VALUE"),
                    ]
                )
            ])
            try await deliverAll(
                store,
                answer: { entry, _ in
                    entry.job.rule == "HIGH_VALUE"
                        ? .reject(.init(code: "ValidationException", message: "no")) : .delivered(reference: "ev-\(entry.job.rule ?? "")")
                },
                until: { try await counts(store) == ["succeeded": 1, "dead": 1] }
            )
            let story = try #require(try await store.story(messageId: "m-1"))
            #expect(story.jobs.map(\.rule) == ["CANCELLATION", "HIGH_VALUE"])
            #expect(story.jobs.map(\.state) == ["succeeded", "dead"])
            let attempts = story.records.filter { $0.kind == .attempt }
            #expect(Set(attempts.map { "\($0.rule ?? "-"):\($0.status)" }) == ["CANCELLATION:succeeded", "HIGH_VALUE:dead"])
            #expect(story.records.first?.rule == nil, "the received record is the event's, before any rule")
            #expect(
                try await store.records(LogQuery(filter: LogFilter(rule: "HIGH_VALUE"))).map(\.kind).sorted { $0.rawValue < $1.rawValue }
                    == [.attempt, .transformed]
            )
            let dead = try await store.deadLetters(DeadLetterQuery())
            #expect(dead.map(\.rule) == ["HIGH_VALUE"])
            #expect(dead.first?.json[path: "rule"] == .string("HIGH_VALUE"))
            // A replayed job keeps its rule.
            #expect(try await store.replay(DeadLetterQuery()) == 1)
            let again = try await store.claim(destination: "d", limit: 10, leaseFor: .seconds(30))
            #expect(again.map(\.rule) == ["HIGH_VALUE"])
            store.close()
        }
    }

    @Test("an embedded event is cut out and put back byte for byte, escapes and all")
    func embeddedEventRoundTrip() throws {
        for event in [#"{"a":"quote \" and backslash \\ and tab\t","b":"é ✓ 😀"}"#, #"{"type":"track"}"#] {
            let bytes = Array(event.utf8)
            let entry = JSONValue.object(JSONObject([("Source", .string("s")), ("Detail", .string(event)), ("DetailType", .string("t"))]))
                .serialized()
            let cut = EntryText(entry: entry, embedding: bytes)
            #expect(cut.eventOffset != nil)
            #expect(cut.bytes.count < entry.count - bytes.count)
            #expect(cut.restored(event: bytes) == entry)
        }
        // An entry that does not carry the event verbatim is kept whole.
        let whole = EntryText(entry: Array(#"{"Detail":"{}"}"#.utf8), embedding: Array(#"{"x":1}"#.utf8))
        #expect(whole.eventOffset == nil && whole.restored(event: nil) == Array(#"{"Detail":"{}"}"#.utf8))
    }

    @Test("a slow live reader loses records and is told how many; it never holds more than its buffer")
    func slowReader() async {
        let hub = LiveLogHub(bufferSize: 5)
        let subscription = hub.subscribe(LogFilter())
        let records = (1...20).map { n -> LogRecord in
            var r = LogRecord(at: .now(), kind: .received, messageId: "m\(n)", status: "received")
            r.id = Int64(n)
            return r
        }
        hub.publish(records)
        hub.publish([records[0]])
        hub.unsubscribe(subscription.id)
        var items: [LiveLogHub.Item] = []
        for await item in subscription.stream { items.append(item) }
        #expect(items.count <= 5)
        #expect(items.contains { if case .dropped(let n) = $0 { return n > 0 } else { return false } })
    }

    @Test("replay puts dead letters back with their attempts starting over, and logs it")
    func replay() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            try await deliverAll(
                store,
                answer: { _, _ in .reject(.init(code: "AccessDeniedException", message: "no", httpStatus: 403)) },
                until: { try await counts(store) == ["dead": 3] }
            )
            #expect(try await store.deadLetters(DeadLetterQuery(errorCode: "AccessDenied")).count == 3)
            #expect(try await store.deadLetters(DeadLetterQuery(errorCode: "Throttling")).isEmpty)
            #expect(try await store.replay(DeadLetterQuery(messageIds: ["m-2"])) == 1)
            #expect(try await counts(store) == ["dead": 2, "pending": 1])
            let story = try #require(try await store.story(messageId: "m-2"))
            #expect(story.records.last?.kind == .replayed && story.records.last?.status == "waiting")
            let jobs = try await store.claim(destination: "d", limit: 10, leaseFor: .seconds(30))
            #expect(jobs.map(\.messageId) == ["m-2"] && jobs[0].attempt == 1)
            store.close()
        }
    }

    @Test("retention prunes old records, delivered jobs and old dead letters, never waiting jobs")
    func retention() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append((1...4).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            try await deliverAll(
                store,
                answer: { entry, _ in
                    switch entry.job.messageId {
                    case "m-1": return .delivered(reference: nil)
                    case "m-2": return .reject(.init(code: "MalformedDetail", message: ""))
                    default: return .retry(.init(code: "HTTP503", message: ""))
                    }
                },
                until: {
                    let c = try await counts(store)
                    return c["succeeded"] == 1 && c["dead"] == 1 && (c["failed"] ?? 0) + (c["dead"] ?? 0) >= 1
                }
            )
            try await Task.sleep(for: .milliseconds(30))
            var keepAll = RetentionConfig()
            keepAll.maxLogRecords = 1_000_000
            let nothing = try await store.prune(keepAll)
            #expect(nothing == PruneReport(records: 0, jobs: 0, events: 0))

            // Stored records are capped by count, newest kept; received records are the events
            // themselves and live as long as their event does.
            let stored = { try await store.records(LogQuery()).filter { $0.kind != .received } }
            let newest = try await stored().prefix(2).map(\.id)
            var capped = RetentionConfig()
            capped.maxLogRecords = 2
            _ = try await store.prune(capped)
            #expect(try await stored().map(\.id) == newest)

            var tight = RetentionConfig()
            tight.log = .milliseconds(1)
            tight.delivered = .milliseconds(1)
            tight.deadLetters = .seconds(3600)
            let report = try await store.prune(tight)
            #expect(report.records == 2)
            #expect(report.jobs == 1 && report.events == 1)
            let left = try await store.stats()
            #expect(left.events == 3)
            #expect(left.destinations["d"]?.counts[.succeeded] == nil)
            #expect(left.destinations["d"]?.counts[.dead] == 1)
            let remaining = try await store.records(LogQuery())
            #expect(remaining.allSatisfy { $0.kind == .received })
            #expect(remaining.map(\.messageId) == ["m-4", "m-3", "m-2"])
            store.close()
        }
    }
}
