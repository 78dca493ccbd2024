import Logging
import NIOConcurrencyHelpers
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

/// A stand-in for the JavaScript engine (which has its own tests, and runs under the server's):
/// Swift closures in the engine's place, so these tests are about what delivery does with what
/// transformations return.
final class ClosureEngine: TransformationEngine, Sendable {
    let body: @Sendable (String, JSONValue, JSONValue) -> TransformationResult.Outcome
    let calls = NIOLockedValueBox(0)

    init(_ body: @escaping @Sendable (String, JSONValue, JSONValue) -> TransformationResult.Outcome) {
        self.body = body
    }

    func run(_ transformation: String, inputs: [TransformationInput]) async -> [TransformationResult] {
        calls.withLockedValue { $0 += inputs.count }
        return inputs.map { input in
            let event = (try? JSONParser.parse(input.event)) ?? .null
            let metadata = (try? JSONParser.parse(input.metadata)) ?? .null
            return TransformationResult(
                outcome: body(transformation, event, metadata),
                logs: ["\(transformation) saw \(event[path: "messageId"]?.stringValue ?? "")"]
            )
        }
    }
}

/// Records every body sent, and answers each entry as the test says.
final class RecordingDestination: Destination, Sendable {
    let batchLimits: BatchLimits
    let answer: @Sendable (JSONValue, Int) -> EntryOutcome
    let requests = NIOLockedValueBox<[[JSONValue]]>([])

    init(
        limits: BatchLimits = .init(maxEntries: 10, maxBytes: 100_000),
        answer: @escaping @Sendable (JSONValue, Int) -> EntryOutcome = { _, _ in .delivered(reference: "ok") }
    ) {
        batchLimits = limits
        self.answer = answer
    }

    var sent: [JSONValue] { requests.withLockedValue { $0.flatMap { $0 } } }

    func prepare(_ job: Job) -> Prepared {
        .entry(PreparedEntry(job: job, body: job.payload, size: job.payload.count, display: try? JSONParser.parse(job.payload)))
    }

    func send(_ entries: [PreparedEntry]) async -> SendResult {
        let bodies = entries.map { (try? JSONParser.parse($0.body)) ?? .null }
        requests.withLockedValue { $0.append(bodies) }
        return SendResult(outcomes: zip(bodies, entries).map { answer($0, $1.job.attempt) })
    }
}

@Suite("Delivery through transformations", .timeLimit(.minutes(2)))
struct TransformationDeliveryTests {
    static func object(_ pairs: [(String, JSONValue)]) -> [UInt8] { JSONValue.object(JSONObject(pairs)).serialized() }

    static func worker(
        _ store: MemoryJobStore,
        _ destination: RecordingDestination,
        _ engine: ClosureEngine,
        names: [String] = ["t"]
    ) -> DeliveryWorker {
        var worker = DeliveryWorker(
            name: "d",
            destination: destination,
            store: store,
            policy: policy(),
            logger: Logger(label: "test"),
            metrics: testMetrics()
        )
        worker.transformations = TransformationChain(names: names, engine: engine, destinationType: "test")
        return worker
    }

    @Test("the chain runs in order on the privacy-applied event, with RudderStack's metadata; fan-out, drop and failure per event")
    func chain() async throws {
        let engine = ClosureEngine { name, event, metadata in
            #expect(metadata[path: "destinationId"]?.stringValue == "d" && metadata[path: "transformationName"]?.stringValue == name)
            #expect(metadata[path: "messageId"]?.stringValue == event[path: "messageId"]?.stringValue)
            #expect(event[path: "properties.email"] == nil, "privacy is applied before the scripts")
            switch (name, event[path: "event"]?.stringValue) {
            case ("first", "E1"):
                return .events([
                    Self.object([("event", .string("one")), ("messageId", .string("m-1"))]),
                    Self.object([("event", .string("two")), ("messageId", .string("m-1"))]),
                ])
            case ("first", "E2"): return .dropped
            case ("first", "E3"): return .failed("TypeError: boom at line 3")
            case ("second", "one"): return .dropped
            default: return .events([Self.object([("event", .string("after-\(name)")), ("messageId", .string("m-1"))])])
            }
        }
        var privacy = DestinationPrivacyConfig()
        privacy.dropProperties = ["email"]
        let chain = TransformationChain(
            names: ["first", "second"],
            engine: engine,
            destinationType: "test",
            privacy: PrivacyRules(privacy)
        )
        let jobs = (1...3).map { n in
            Job(
                id: Int64(n),
                lease: 1,
                destination: "d",
                attempt: 1,
                source: "web",
                messageId: "m-\(n)",
                type: .track,
                name: "E\(n)",
                userId: nil,
                receivedAt: TestTime.now(),
                payload: Array(#"{"event":"E\#(n)","messageId":"m-\#(n)","properties":{"email":"a@b.c"}}"#.utf8)
            )
        }
        let results = await chain.apply(to: jobs)
        guard case .output(let output, let log) = results[0] else {
            Issue.record("\(results[0])")
            return
        }
        // "one" was dropped by the second, "two" became "after-second".
        #expect(String(decoding: output, as: UTF8.self) == #"[{"event":"after-second","messageId":"m-1"}]"#)
        #expect(log.transformations == ["first", "second"] && log.logs == ["first saw m-1", "second saw m-1", "second saw m-1"])
        guard case .dropped(let dropped) = results[1], case .failed(let failed) = results[2] else {
            Issue.record("\(results)")
            return
        }
        #expect(dropped.message == "dropped by transformation \"first\"" && dropped.transformations == ["first"])
        #expect(failed.message == "transformation \"first\" failed: TypeError: boom at line 3")
    }

    @Test("what the transformations returned is sent; a drop is an outcome, not a dead letter; a failure dead-letters only its event")
    func deliversOutputs() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append((1...4).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["d"]) })
            let engine = ClosureEngine { _, event, _ in
                switch event[path: "event"]?.stringValue {
                case "E2": return .dropped
                case "E3": return .failed("RangeError: Maximum call stack size exceeded")
                default:
                    return .events([
                        Self.object([
                            ("event", .string("renamed-\(event[path: "event"]?.stringValue ?? "")")),
                            ("messageId", event[path: "messageId"] ?? .null),
                        ])
                    ])
                }
            }
            let destination = RecordingDestination()
            try await runWorker(Self.worker(store, destination, engine)) { try await counts(store) == ["succeeded": 3, "dead": 1] }
            #expect(Set(destination.sent.compactMap { $0[path: "event"]?.stringValue }) == ["renamed-E1", "renamed-E4"])
            let dead = try await store.deadLetters(DeadLetterQuery())
            #expect(dead.map(\.messageId) == ["m-3"])
            #expect(dead.first?.reason == "transformation \"t\" failed: RangeError: Maximum call stack size exceeded")
            let m2 = try await store.records(LogQuery(filter: LogFilter(messageId: "m-2")))
            #expect(m2.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.received, .transformation])
            #expect(m2.first { $0.kind == .transformation }?.status == "dropped")
            let m1 = try await store.records(LogQuery(filter: LogFilter(messageId: "m-1", kind: .transformation)))
            #expect(
                m1.first?.detail?[path: "events"]
                    == .array([.object(JSONObject([("event", .string("renamed-E1")), ("messageId", .string("m-1"))]))])
            )
            #expect(m1.first?.detail?[path: "logs"] == .array([.string("t saw m-1")]))
            store.close()
        }
    }

    @Test("a retry sends what the first attempt sent: the script runs once per job, however it would answer again")
    func retriesSendTheStoredOutput() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
            let counter = NIOLockedValueBox(0)
            // Like a script that reads the clock: a different answer every call.
            let engine = ClosureEngine { _, _, _ in
                let n = counter.withLockedValue {
                    $0 += 1
                    return $0
                }
                return .events([Self.object([("run", .number(String(n)))])])
            }
            let destination = RecordingDestination { _, attempt in
                attempt < 3 ? .retry(.init(code: "ThrottlingException", message: "slow down")) : .delivered(reference: "ok")
            }
            try await runWorker(Self.worker(store, destination, engine)) { try await counts(store) == ["succeeded": 1] }
            #expect(destination.sent.map { $0[path: "run"] } == [.number("1"), .number("1"), .number("1")])
            #expect(engine.calls.withLockedValue { $0 } == 1)
            store.close()
        }
    }

    @Test("a fan-out larger than one request goes in several; a partial failure retries only what was not delivered")
    func fanOut() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
            let engine = ClosureEngine { _, _, _ in .events((1...7).map { Self.object([("part", .number(String($0)))]) }) }
            let destination = RecordingDestination(limits: .init(maxEntries: 3, maxBytes: 100_000)) { body, attempt in
                // Part 5 is throttled once.
                body[path: "part"] == .number("5") && attempt == 1
                    ? .retry(.init(code: "ThrottlingException", message: "slow down")) : .delivered(reference: "ok")
            }
            try await runWorker(Self.worker(store, destination, engine)) { try await counts(store) == ["succeeded": 1] }
            let requests = destination.requests.withLockedValue { $0 }
            #expect(requests.map(\.count) == [3, 3, 1, 1])
            #expect(requests.last == [.object(JSONObject([("part", .number("5"))]))])
            let attempts = try await store.records(LogQuery(filter: LogFilter(kind: .attempt)))
            #expect(attempts.map(\.status).sorted() == ["failed", "succeeded"])
            #expect(attempts.first { $0.status == "failed" }?.errorMessage == "1 of 7 entries not delivered: slow down")
            store.close()
        }
    }

    @Test("an entry refused in a fan-out dead-letters the job, saying how many were delivered")
    func fanOutRefused() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: ["d"])])
            let engine = ClosureEngine { _, _, _ in .events((1...3).map { Self.object([("part", .number(String($0)))]) }) }
            let destination = RecordingDestination { body, _ in
                body[path: "part"] == .number("2")
                    ? .reject(.init(code: "ValidationException", message: "too big")) : .delivered(reference: "ok")
            }
            try await runWorker(Self.worker(store, destination, engine)) { try await counts(store) == ["dead": 1] }
            #expect(
                try await store.deadLetters(DeadLetterQuery()).first?.reason
                    == "ValidationException: entry 2 of 3 refused (2 delivered): too big"
            )
            store.close()
        }
    }

    @Test("heartbeats are not given to transformations")
    func heartbeatsPass() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append([NewEvent(source: Heartbeat.source, event: makeEvent(1), destinations: ["d"])])
            let engine = ClosureEngine { _, _, _ in .dropped }
            let destination = RecordingDestination()
            try await runWorker(Self.worker(store, destination, engine)) { try await counts(store) == ["succeeded": 1] }
            #expect(destination.sent.count == 1 && engine.calls.withLockedValue { $0 } == 0)
            store.close()
        }
    }
}
