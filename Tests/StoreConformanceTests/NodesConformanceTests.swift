import NIOConcurrencyHelpers
import SwitchyardCore
import SwitchyardTestSupport
import Testing

/// What a store shared by several nodes must keep true between them.
@Suite("Every shared store: several nodes", .timeLimit(.minutes(2)))
struct NodesConformanceTests {
    static var shared: [StoreFixture] { StoreFixture.all.filter(\.sharedByNodes) }

    @Test(
        "two nodes appending and delivering the same keys never have two of a key's jobs out at once, and deliver each key in order",
        arguments: shared
    )
    func keyOrderAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let nodes = [try await open(node: "node-a"), try await open(node: "node-b")]
            let users = ["u1", "u2", "u3"]
            // Each node appends every user's events, interleaved with the other's.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, node) in nodes.enumerated() {
                    group.addTask {
                        for n in 0..<30 {
                            let number = index * 1000 + n
                            try await node.store.append([keyed(number, user: users[n % users.count])])
                        }
                    }
                }
                try await group.waitForAll()
            }
            struct Seen {
                var inFlight: [String: Int] = [:]
                var overlaps = 0
                var order: [String: [String]] = [:]
            }
            let seen = NIOLockedValueBox(Seen())
            try await withThrowingTaskGroup(of: Void.self) { group in
                for node in nodes {
                    group.addTask {
                        var idle = 0
                        while idle < 20 {
                            let jobs = try await node.store.claim("d", limit: 5)
                            if jobs.isEmpty {
                                idle += 1
                                await Task.yield()
                                continue
                            }
                            idle = 0
                            seen.withLockedValue { s in
                                for job in jobs {
                                    let key = job.orderingKey ?? ""
                                    s.inFlight[key, default: 0] += 1
                                    if s.inFlight[key]! > 1 { s.overlaps += 1 }
                                    s.order[key, default: []].append(job.messageId)
                                }
                            }
                            seen.withLockedValue { s in for job in jobs { s.inFlight[job.orderingKey ?? ""]! -= 1 } }
                            try await node.store.settle(jobs, .succeeded)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let result = seen.withLockedValue { $0 }
            #expect(result.overlaps == 0)
            #expect(result.order.values.reduce(0) { $0 + $1.count } == 60, "every job delivered once")
            #expect(try await nodes[0].store.counts("d") == [.succeeded: 60])
            // Each key's jobs went out in the order they were stored (one node's appends are in
            // its own order; the positions interleave both nodes').
            let stored = try await nodes[1].store.records(LogQuery(filter: LogFilter(kind: .received), limit: 1000)).reversed().map(
                \.messageId
            )
            for (_, delivered) in result.order {
                let positions = delivered.map { stored.firstIndex(of: $0) ?? -1 }
                #expect(positions == positions.sorted())
            }
            for node in nodes { try await node.close() }
        }
    }

    @Test("a node's recovery takes back only its own interrupted jobs, never another live node's", arguments: shared)
    func recoveryIsPerNode(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let a = try await open(node: "node-a")
            let b = try await open(node: "node-b")
            try await a.store.append(events(1...2))
            let held = try await a.store.claim("a", limit: 1, leaseFor: .seconds(3600))
            #expect(held.map(\.messageId) == ["m-1"])
            #expect(try await b.store.recoverInterrupted() == 0, "node a's lease is not node b's to take")
            #expect(try await b.store.claim("a").map(\.messageId) == ["m-2"])
            try await a.close()
            let restarted = try await open(node: "node-a")
            #expect(try await restarted.store.recoverInterrupted() == 1)
            #expect(try await b.store.claim("a").map(\.messageId) == ["m-1"])
            try await restarted.close()
            try await b.close()
        }
    }

    @Test("the queue limit counts every node's jobs: a node refuses once the others filled the queue", arguments: shared)
    func limitAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes(maxQueuedJobs: 3) { a, b in
            try await b.append(events(1...1))
            try await a.append(events(2...3))
            // Node b reads the shared count again when its reading is a second old: then it
            // knows of node a's jobs, and refuses.
            TestTime.advance(by: .seconds(1))
            await #expect(throws: StoreError.full(queued: 3, limit: 3)) { try await b.append(events(4...4)) }
            // Delivered on node a, the room shows on node b once it reads the count again.
            try await a.settle(try await a.claim("a", limit: 1), .succeeded)
            TestTime.advance(by: .seconds(1))
            try await b.append(events(6...6))
            #expect(try await b.stats().events == 4)
        }
    }

    @Test("every node reads the records every node wrote, each naming its node", arguments: shared)
    func oneLog(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            try await a.append(events(1...1))
            try await b.append(events(2...2))
            let jobs = try await b.claim("a")
            try await b.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
            let seenByA = try await a.records(LogQuery())
            #expect(
                Set(seenByA.map { "\($0.kind.rawValue) \($0.messageId) \($0.node ?? "-")" }) == [
                    "received m-1 node-a", "received m-2 node-b",
                    "transformed m-1 node-b", "attempt m-1 node-b", "transformed m-2 node-b", "attempt m-2 node-b",
                ]
            )
        }
    }

    @Test("nodes pruning at once delete each row once between them and keep what is still to be delivered", arguments: shared)
    func pruneAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            try await a.append(events(1...40))
            let jobs = try await b.claim("a", limit: 30)
            try await b.finish(jobs.map { JobResult(job: $0, outcome: .succeeded, log: attemptLog($0, .succeeded)) })
            TestTime.advance(by: .milliseconds(5))
            var tight = RetentionConfig()
            tight.delivered = .milliseconds(0)
            tight.batch = 4
            async let byA = a.prune(tight)
            async let byB = b.prune(tight)
            let (first, second) = try await (byA, byB)
            // A node that finds the other pruning leaves it the rest; a later pass finishes.
            let last = try await a.prune(tight)
            #expect(first.jobs + second.jobs + last.jobs == 30)
            #expect(first.events + second.events + last.events == 30)
            #expect(try await a.claim("a", limit: 20).count == 10)
        }
    }

    @Test(
        "of nodes finding a destination quiet at once, one stores its heartbeat; a delivery or heartbeat on any node counts as activity",
        arguments: shared
    )
    func oneHeartbeatAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            async let byA = a.appendHeartbeat(heartbeat(1), quietSince: ago(60_000))
            async let byB = b.appendHeartbeat(heartbeat(2), quietSince: ago(60_000))
            let decisions = try await [byA, byB]
            // The other node finds it waiting, or (before its append commits) recorded as stored.
            #expect(decisions.filter { $0 == .stored }.count == 1, "\(decisions)")
            // Delivered by node b: node a, which delivered nothing, sees it as activity.
            try await b.settle(try await b.claim("hb"), .succeeded)
            guard case .active = try await a.appendHeartbeat(heartbeat(3), quietSince: ago(60_000)) else {
                Issue.record("node b's delivery should count as activity on node a")
                return
            }
            // Quiet since then: one more is stored, and dead-lettered it still counts as activity.
            TestTime.advance(by: .milliseconds(5))
            #expect(try await a.appendHeartbeat(heartbeat(4), quietSince: ago(1)) == .stored)
            try await b.settle(try await b.claim("hb"), .dead(reason: "destination gone"))
            guard case .active = try await b.appendHeartbeat(heartbeat(5), quietSince: ago(1_000)) else {
                Issue.record("node a's heartbeat should count as activity on node b, even dead-lettered")
                return
            }
        }
    }
}
