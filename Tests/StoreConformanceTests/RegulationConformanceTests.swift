import Logging
import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// Regulations (suppression and deletion): every store keeps the same list, and a deletion
/// leaves none of the subjects' rows, whatever state they were in, and nobody else's less.
@Suite("Every store: regulations", .timeLimit(.minutes(2)))
struct RegulationConformanceTests {
    static func regulation(_ kind: Regulation.Kind, _ type: Regulation.SubjectType = .userId, count: Int) -> Regulation {
        Regulation(
            id: "reg_\(UUIDv4.make())",
            kind: kind,
            subjectType: type,
            subjectCount: count,
            status: kind.deletes ? .initialized : .finished,
            createdAt: now()
        )
    }

    /// Runs every deletion recorded, in steps of `stepRows`, and returns what the regulation says it removed.
    static func runDeletions(_ store: any JobStore, stepRows: Int = 3) async throws {
        var service = RegulationService(store: store, suppressions: Suppressions(), clock: TestTime.clock, logger: Logger(label: "test"))
        service.settle = .zero
        service.stepRows = stepRows
        try await service.runPendingErasures()
    }

    /// An event of user `user` (or anonymous id `anonymous`), with message id `m-n`, for `a`.
    static func event(_ n: Int, user: String?, anonymous: String? = nil, to destinations: [String] = ["a"]) -> NewEvent {
        var payload = #"{"type":"track","event":"E\#(n)","messageId":"m-\#(n)","properties":{"secret":"s-\#(n)"}"#
        if let user { payload += #","userId":"\#(user.jsonEscaped)""# }
        if let anonymous { payload += #","anonymousId":"\#(anonymous.jsonEscaped)""# }
        payload += "}"
        let event = Event(
            messageId: "m-\(n)",
            type: .track,
            name: "E\(n)",
            userId: user,
            anonymousId: anonymous,
            receivedAt: now(),
            payload: Array(payload.utf8)
        )
        var item = NewEvent(source: "web", event: event, destinations: destinations)
        item.dedupUntil = now().millisecondsSinceEpoch + 3_600_000
        return item
    }

    @Test(
        "the suppression list follows SUPPRESS_ONLY, UNSUPPRESS and SUPPRESS_WITH_DELETE; records keep no id",
        arguments: StoreFixture.all
    )
    func suppressionList(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let start = try await store.suppressionVersion()
            try await store.record(Self.regulation(.suppressOnly, count: 2), subjects: ["u1", "u2"])
            try await store.record(Self.regulation(.suppressWithDelete, .anonymousId, count: 1), subjects: ["a1"])
            try await store.record(Self.regulation(.deleteInternal, count: 1), subjects: ["u9"])
            try await store.record(Self.regulation(.unsuppress, count: 1), subjects: ["u2"])
            let list = try await store.suppressions()
            #expect(
                list.subjects == Subjects(userIds: [SubjectDigest.of("u1")], anonymousIds: [SubjectDigest.of("a1")]),
                "digests, not ids"
            )
            #expect(list.version > start)
            #expect(try await store.suppressionVersion() == list.version)
            let regulations = try await store.regulations(limit: 10)
            #expect(regulations.map(\.kind) == [.unsuppress, .deleteInternal, .suppressWithDelete, .suppressOnly], "newest first")
            #expect(regulations.map(\.subjectCount) == [1, 1, 1, 2])
            #expect(try await store.regulation(id: regulations[1].id) == regulations[1])
            #expect(try await store.regulation(id: "reg_none") == nil)
        }
    }

    @Test(
        "a deletion removes the subject's waiting, in-flight, delivered and dead jobs, their events, records and dedup marks, and nothing else",
        arguments: StoreFixture.all
    )
    func deletionRemovesEveryCopy(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            // u1: 1 delivered (logged), 2 dead (logged), 3 in flight, 4 waiting; u12 (a neighbour's id): 5, 6.
            try await store.append([Self.event(1, user: "u1"), Self.event(2, user: "u1"), Self.event(5, user: "u12")])
            let first = try await store.claim("a")
            try await store.settle(first.filter { $0.messageId == "m-1" }, .succeeded, logged: true)
            try await store.settle(first.filter { $0.messageId == "m-2" }, .dead(reason: "MalformedDetail"), logged: true)
            try await store.settle(first.filter { $0.messageId == "m-5" }, .succeeded, logged: true)
            try await store.append([Self.event(3, user: "u1")])
            let inFlight = try await store.claim("a")
            try await store.append([Self.event(4, user: "u1"), Self.event(6, user: "u12")])
            #expect(try await store.backlog()["a"]?.waiting == 3)

            let regulation = Self.regulation(.suppressWithDelete, count: 1)
            try await store.record(regulation, subjects: ["u1"])
            try await Self.runDeletions(store)

            let done = try #require(try await store.regulation(id: regulation.id))
            #expect(done.status == .finished)
            #expect(done.finishedAt != nil)
            var expected = ErasureCounts()
            expected.events = 4
            expected.waitingJobs = 2
            expected.deliveredJobs = 1
            expected.deadLetters = 1
            expected.logRecords = 2
            expected.dedupMarks = 4
            #expect(done.removed.events == expected.events)
            #expect(done.removed.waitingJobs == expected.waitingJobs)
            #expect(done.removed.deliveredJobs == expected.deliveredJobs)
            #expect(done.removed.deadLetters == expected.deadLetters)
            #expect(done.removed.logRecords == expected.logRecords)
            #expect(done.removed.dedupMarks == expected.dedupMarks)

            #expect(try await store.stats().events == 2, "u12's events stay")
            #expect(try await store.backlog()["a"]?.waiting == 1, "the queue's count gave the deleted jobs back")
            #expect(try await store.records(LogQuery(filter: LogFilter(userId: "u1"))).isEmpty)
            #expect(try await store.records(LogQuery(filter: LogFilter(userId: "u12"))).count == 3, "received 5 and 6, 5's attempt")
            #expect(try await store.story(messageId: "m-4") == nil)
            #expect(try await store.deadLetters(DeadLetterQuery()).isEmpty)
            // The in-flight job's outcome finds no job: nothing is recorded for it.
            try await store.settle(inFlight, .succeeded, logged: true)
            #expect(try await store.records(LogQuery(filter: LogFilter(userId: "u1"))).isEmpty)
            #expect(try await store.claim("a").map(\.messageId) == ["m-6"])
            // Its dedup marks went with it: the same ids are stored again.
            #expect(try await store.duplicates([Self.event(1, user: "u1")]) == 0)
        }
    }

    @Test("a deleted job that was its key's next lets the one behind it go", arguments: StoreFixture.all)
    func keyedJobsBehindDeletedOnesGo(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            func keyedBy(_ n: Int, user: String, key: String) -> NewEvent {
                var item = Self.event(n, user: user)
                item.targets = [JobTarget(destination: "d", orderingKey: key)]
                return item
            }
            try await store.append([keyedBy(1, user: "u1", key: "k"), keyedBy(2, user: "u2", key: "k"), keyedBy(3, user: "u3", key: "k")])
            #expect(try await store.counts("d") == [.pending: 1, .blocked: 2])
            try await store.record(Self.regulation(.deleteInternal, count: 1), subjects: ["u1"])
            try await Self.runDeletions(store)
            #expect(try await store.counts("d") == [.pending: 1, .blocked: 1])
            #expect(try await store.claim("d").map(\.messageId) == ["m-2"])
        }
    }

    @Test("records whose event was already pruned are found by their user, and anonymous ids by the event", arguments: StoreFixture.all)
    func recordsAndAnonymousIds(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            try await store.append([
                Self.event(1, user: "u1"), Self.event(2, user: nil, anonymous: "a-1"), Self.event(3, user: "u3", anonymous: "a-1"),
            ])
            try await store.settle(try await store.claim("a"), .succeeded, logged: true)
            TestTime.advance(by: .seconds(2 * 86400))
            var retention = RetentionConfig()
            retention.log = .seconds(30 * 86400)
            let pruned = try await store.prune(retention)
            #expect(pruned.events == 3)
            try await store.record(Self.regulation(.deleteInternal, count: 1), subjects: ["u1"])
            try await store.record(Self.regulation(.deleteInternal, .anonymousId, count: 1), subjects: ["a-1"])
            try await Self.runDeletions(store)
            let left = try await store.records(LogQuery(filter: LogFilter()))
            #expect(left.map(\.messageId) == ["m-3"], "u3's record names only u3; its event, which held a-1, is gone")
            let removed = try await store.regulations(limit: 2).map(\.removed.logRecords)
            #expect(removed == [1, 1])
        }
    }

    @Test("ids with odd characters match exactly, and a deletion of 100,000 ids runs", arguments: StoreFixture.all)
    func oddAndManyIds(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let odd = ["o'neil\"; DROP TABLE events; --", "%_*", "ü😀\\n", "tab\there", " "]
            var items = odd.enumerated().map { Self.event($0.offset + 1, user: $0.element) }
            items.append(Self.event(100, user: "%"))
            items.append(Self.event(101, user: "o'neil"))
            try await store.append(items)
            let many = (0..<100_000).map { "id-\($0)" } + odd
            try await store.record(Self.regulation(.suppressWithDelete, count: many.count), subjects: many)
            #expect(try await store.suppressions().subjects.userIds.count == many.count)
            try await Self.runDeletions(store, stepRows: 2_000)
            #expect(try await store.claim("a").map(\.messageId).sorted() == ["m-100", "m-101"])
            #expect(try await store.regulations(limit: 1).first?.removed.events == odd.count)
        }
    }

    @Test("an unfinished deletion keeps its subjects across a restart, and finishing forgets them", arguments: StoreFixture.all)
    func deletionSurvivesRestart(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let first = try await open()
            try await first.store.append([Self.event(1, user: "u1")])
            try await first.store.record(Self.regulation(.suppressWithDelete, count: 1), subjects: ["u1"])
            try await first.close()
            let second = try await open()
            let erasure = try #require(try await second.store.claimErasure(leaseFor: .seconds(60)))
            #expect(erasure.subjects == Subjects(userIds: ["u1"]))
            try await Self.runDeletions(second.store)
            #expect(try await second.store.claimErasure(leaseFor: .seconds(60)) == nil)
            #expect(try await second.store.stats().events == 0)
            #expect(try await second.store.suppressions().subjects == Subjects(userIds: [SubjectDigest.of("u1")]), "still suppressed")
            try await second.close()
        }
    }

    @Test(
        "one node runs a deletion at a time; another takes it over once the lease has run out",
        arguments: StoreFixture.all.filter(\.sharedByNodes)
    )
    func leasedAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            try await a.record(Self.regulation(.deleteInternal, count: 1), subjects: ["u1"])
            let (seenByA, seenByB) = (try await a.suppressionVersion(), try await b.suppressionVersion())
            #expect(seenByA == seenByB)
            let claimed = try await a.claimErasure(leaseFor: .seconds(60))
            #expect(claimed != nil)
            #expect(try await b.claimErasure(leaseFor: .seconds(60)) == nil)
            TestTime.advance(by: .seconds(61))
            #expect(try await b.claimErasure(leaseFor: .seconds(60))?.id == claimed?.id)
        }
    }
}

extension String {
    var jsonEscaped: String {
        String(decoding: JSONValue.string(self).serialized().dropFirst().dropLast(), as: UTF8.self)
    }
}
