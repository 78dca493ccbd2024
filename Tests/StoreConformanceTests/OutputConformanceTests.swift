import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// What transformations made of a job is kept with it: every later attempt gets the same, and
/// the log says what it was.
@Suite("Every store: transformation outputs", .timeLimit(.minutes(2)))
struct OutputConformanceTests {
    static func log(_ output: String) -> TransformationLog {
        TransformationLog(status: .transformed, transformations: ["rename"], output: Array(output.utf8), logs: ["renamed"])
    }

    @Test("a saved output comes back with every later claim of the job, and is logged once with its lines", arguments: StoreFixture.all)
    func savedOutputIsKept(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...2))
            let jobs = try await store.claim("a")
            #expect(jobs.allSatisfy { $0.output == nil })
            let output = #"[{"event":"renamed","n":1},{"event":"renamed","n":2}]"#
            try await store.saveOutputs([JobOutput(job: jobs[0], output: Array(output.utf8), log: Self.log(output))])
            try await store.settle(jobs, .retry(at: now(), error: "ThrottlingException"))
            let again = try await store.claim("a")
            #expect(again.map(\.messageId) == ["m-1", "m-2"])
            #expect(again[0].output.map { String(decoding: $0, as: UTF8.self) } == output)
            #expect(again[1].output == nil)
            #expect(again[0].attempt == 2)

            let records = try await store.records(LogQuery(filter: LogFilter(kind: .transformation)))
            #expect(records.count == 1)
            let record = try #require(records.first)
            #expect(record.messageId == "m-1" && record.destination == "a" && record.status == "transformed")
            #expect(record.detail?[path: "transformations"] == .array([.string("rename")]))
            #expect(record.detail?[path: "events"]?.arrayValue?.count == 2)
            #expect(record.detail?[path: "logs"] == .array([.string("renamed")]))
        }
    }

    @Test("an output saved under a lease that ran out changes nothing and is not logged", arguments: StoreFixture.all)
    func staleLease(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1))
            var stale = try await store.claim("a")[0]
            stale.lease &+= 1
            try await store.saveOutputs([JobOutput(job: stale, output: Array("[{}]".utf8), log: Self.log("[{}]"))])
            try await store.settle([stale], .retry(at: now(), error: "x"))
            #expect(try await store.records(LogQuery(filter: LogFilter(kind: .transformation))).isEmpty)
        }
    }

    @Test("a retry's result replaces the output with what is left to send", arguments: StoreFixture.all)
    func retryReplacesOutput(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...1))
            let job = try await store.claim("a")[0]
            try await store.saveOutputs([
                JobOutput(job: job, output: Array("[{\"n\":1},{\"n\":2}]".utf8), log: Self.log("[{\"n\":1},{\"n\":2}]"))
            ])
            var result = JobResult(job: job, outcome: .retry(at: now(), error: "1 of 2 entries not delivered"), log: nil)
            result.output = Array("[{\"n\":2}]".utf8)
            try await store.finish([result])
            let again = try await store.claim("a")[0]
            #expect(again.output.map { String(decoding: $0, as: UTF8.self) } == "[{\"n\":2}]")
        }
    }

    @Test("a job a transformation dropped is finished, not dead, and its record says by which", arguments: StoreFixture.all)
    func dropped(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append(events(1...2))
            let jobs = try await store.claim("a")
            var attempt = AttemptLog(job: jobs[0], batchId: nil, requestId: nil, result: nil, entry: nil)
            attempt.transformation = TransformationLog(
                status: .dropped,
                transformations: ["drop-test"],
                logs: ["test traffic"],
                message: "dropped by transformation \"drop-test\""
            )
            try await store.finish([
                JobResult(job: jobs[0], outcome: .dropped(reason: "dropped by transformation \"drop-test\""), log: attempt)
            ])
            #expect(try await store.counts() == [.succeeded: 1, .inFlight: 1])
            #expect(try await store.backlog()["a"]?.waiting == 1)
            #expect(try await store.deadLetters(DeadLetterQuery()).isEmpty)
            let records = try await store.records(LogQuery(filter: LogFilter(messageId: "m-1")))
            #expect(records.map(\.kind).filter { $0 != .received } == [.transformation])
            #expect(records.first { $0.kind == .transformation }?.status == "dropped")
            #expect(records.first { $0.kind == .transformation }?.errorMessage == "dropped by transformation \"drop-test\"")
        }
    }
}
