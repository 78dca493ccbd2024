import Foundation
import Logging
import NIOConcurrencyHelpers
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

/// An event of user `user`, the `n`th accepted.
func keyedEvent(_ n: Int, user: String) -> NewEvent {
    NewEvent(source: "web", event: makeEvent(n, user: user), targets: [JobTarget(destination: "d", orderingKey: user)])
}

/// A destination that fails some entries one by one and records, per key, what it accepted and
/// whether two entries of a key were ever in flight at once.
final class KeyCheckingDestination: Destination, Sendable {
    let batchLimits = BatchLimits(maxEntries: 50, maxBytes: 1_000_000)
    struct State {
        var inFlight: [String: Int] = [:]
        var overlaps = 0
        var accepted: [String: [Int]] = [:]
        var sends = 0
    }
    let state = NIOLockedValueBox(State())
    let failEvery: Int

    init(failEvery: Int) {
        self.failEvery = failEvery
    }

    func prepare(_ job: Job) -> Prepared {
        .entry(PreparedEntry(job: job, body: job.payload, size: job.payload.count))
    }

    func send(_ entries: [PreparedEntry]) async -> SendResult {
        let keys = entries.map { $0.job.userId ?? "" }
        let sendNumber = state.withLockedValue { s -> Int in
            for key in keys {
                s.inFlight[key, default: 0] += 1
                if s.inFlight[key]! > 1 { s.overlaps += 1 }
            }
            s.sends += 1
            return s.sends
        }
        try? await Task.sleep(for: .milliseconds(2))
        var outcomes: [EntryOutcome] = []
        state.withLockedValue { s in
            for (i, entry) in entries.enumerated() {
                let key = keys[i]
                s.inFlight[key]! -= 1
                // Deterministic per-entry failures, as PutRecords' ProvisionedThroughputExceededException.
                if (sendNumber + i) % failEvery == 0 {
                    outcomes.append(.retry(.init(code: "ProvisionedThroughputExceededException", message: "slow down")))
                } else {
                    s.accepted[key, default: []].append(Int(entry.job.messageId.dropFirst(2))!)
                    outcomes.append(.delivered(reference: nil))
                }
            }
        }
        return SendResult(outcomes: outcomes)
    }
}

@Suite("Per-key order in the delivery engine", .timeLimit(.minutes(2)))
struct OrderingDeliveryTests {
    @Test("with some entries failing, each key's events are accepted in order, never two at a time")
    func orderedUnderPartialFailure() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            let users = (0..<8).map { "user-\($0)" }
            try await store.append((0..<240).map { keyedEvent($0, user: users[$0 % users.count]) })
            let destination = KeyCheckingDestination(failEvery: 3)
            var p = policy(maxAttempts: 100)
            p.concurrency = 4
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: p,
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["succeeded": 240] }
            let state = destination.state.withLockedValue { $0 }
            #expect(state.overlaps == 0, "a key's next event is never sent while an earlier one is in flight")
            for (n, user) in users.enumerated() {
                #expect(
                    state.accepted[user] == Array(stride(from: n, to: 240, by: users.count)),
                    "\(user)'s events in acceptance order, each once"
                )
            }
            store.close()
        }
    }

    @Test("without ordering, a key's events go out together, in one batch")
    func unordered() async throws {
        try await withTemporaryDirectory { dir in
            let store = try MemoryJobStore(config: storage(dir))
            try await store.append(
                (0..<40).map { n in
                    var e = keyedEvent(n, user: "same")
                    e.targets = [JobTarget(destination: "d")]
                    return e
                }
            )
            let destination = KeyCheckingDestination(failEvery: 1_000_000)
            let worker = DeliveryWorker(
                name: "d",
                destination: destination,
                store: store,
                policy: policy(),
                logger: Logger(label: "test"),
                metrics: testMetrics()
            )
            try await runWorker(worker) { try await counts(store) == ["succeeded": 40] }
            #expect(destination.state.withLockedValue { $0.overlaps } > 0)
            store.close()
        }
    }

    @Test("ingestion stores each event's ordering key as the destination's plugin names it")
    func routingKeys() throws {
        var config = SwitchyardConfig()
        config.sources = [SourceConfig(name: "web", writeKeys: ["k"])]
        config.destinations = [DestinationConfig(name: "ordered", type: "x"), DestinationConfig(name: "plain", type: "x")]
        config.connections = [ConnectionConfig(from: "web", to: ["ordered", "plain"])]
        let routing = Routing(config, orderings: ["ordered": .perKey(.userOrAnonymousId)])
        let source = try #require(routing.source(writeKey: "k"))
        let anonymous = Event(
            messageId: "m",
            type: .track,
            name: "E",
            userId: nil,
            anonymousId: "anon-1",
            receivedAt: .now(),
            payload: Array("{}".utf8)
        )
        #expect(
            routing.targets(for: anonymous, from: source) == [
                JobTarget(destination: "ordered", orderingKey: "anon-1"), JobTarget(destination: "plain"),
            ]
        )
        let template = try Template("{{ properties.account }}")
        let event = Event(
            messageId: "m",
            type: .track,
            name: "E",
            userId: "u",
            anonymousId: nil,
            receivedAt: .now(),
            payload: Array(#"{"userId":"u","properties":{"account":"acme"}}"#.utf8)
        )
        #expect(EventKey.template(template).value(for: event) == "acme")
        #expect(EventKey.messageId.value(for: event) == "m")
    }
}
