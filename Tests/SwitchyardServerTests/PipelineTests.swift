import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import SwitchyardCore
import SwitchyardSQLite
import SwitchyardServer
import SwitchyardTestSupport
import Testing

/// A destination stand-in: records the message ids it is sent, says each was delivered, and
/// signals every send, so a test waits on deliveries instead of sleeping.
final class Recorder: Destination, Sendable {
    let batchLimits = BatchLimits(maxEntries: 10, maxBytes: 1 << 20)
    private let received = NIOLockedValueBox<[String]>([])
    private let (sends, sent) = AsyncStream.makeStream(of: Void.self)

    var messageIds: [String] { received.withLockedValue { $0 } }

    func prepare(_ job: Job) -> Prepared {
        .entry(PreparedEntry(job: job, body: job.payload, size: job.payload.count))
    }

    func send(_ entries: [PreparedEntry]) async -> SendResult {
        received.withLockedValue { $0 += entries.map(\.job.messageId) }
        sent.yield()
        return SendResult(outcomes: entries.map { _ in .delivered(reference: nil) })
    }

    /// Returns once `count` entries were sent (one test waits at a time).
    func waitForEntries(_ count: Int) async {
        guard messageIds.count < count else { return }
        for await _ in sends where messageIds.count >= count { return }
    }
}

/// `type: recorder`: its settings make the recorder when the configuration is decoded, so a
/// test finds its server's own stand-in in the loaded configuration, with no table shared by tests.
struct RecorderPlugin: DestinationPlugin {
    struct Settings: Codable, Sendable {
        let recorder = Recorder()
        init(from decoder: any Decoder) throws {}
        func encode(to encoder: any Encoder) throws {}
    }

    static let typeName = "recorder"
    static func validate(_ settings: Settings, environment: [String: String]) -> [SettingsProblem] { [] }
    static func preview(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> Preview { .drop(reason: "a test stand-in") }
    static func makeDestination(
        _ settings: Settings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination {
        settings.recorder
    }
}

/// `type: broken`: a destination that can never be built, as one without credentials.
struct BrokenPlugin: DestinationPlugin {
    struct Settings: Codable, Sendable {}
    static let typeName = "broken"
    static func validate(_ settings: Settings, environment: [String: String]) -> [SettingsProblem] { [] }
    static func preview(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> Preview { .drop(reason: "broken") }
    static func makeDestination(
        _ settings: Settings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination {
        throw DestinationSetupError(destination: context.name, message: "no credentials")
    }
}

/// A whole server in process: the configuration below on an ephemeral port, a SQLite store in a
/// temporary folder, its delivery worker sending to a `Recorder`.
struct Pipeline {
    let port: Int
    let recorder: Recorder
    let server: SwitchyardService
    let store: SQLiteJobStore

    static let adminToken = "admin-token"

    static func config(storage: String, destinations: [String] = ["{ name: recorded, type: recorder, config: {} }"]) throws -> LoadedConfig
    {
        let yaml = """
            server:
              adminToken: \(adminToken)
              shutdownGrace: 5s
            storage:
              path: \(storage)
              minFreeBytes: 0
            sources:
              - { name: web, writeKeys: [web-key] }
            destinations:
              \(destinations.map { "- " + $0 }.joined(separator: "\n  "))
            connections:
              - { from: web, to: [recorded] }
            """
        let registry = DestinationRegistry([RecorderPlugin.self, BrokenPlugin.self])
        var loaded = try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: "pipeline.yaml")
        loaded.config.server.host = "127.0.0.1"
        loaded.config.server.port = 0
        return loaded
    }

    /// Runs `body` against a running server, then shuts it down gracefully and expects the run
    /// to end without an error.
    static func run(_ body: (Pipeline) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            let loaded = try config(storage: dir)
            let recorder = try #require((loaded.destinations.first?.settings as? RecorderPlugin.Settings)?.recorder)
            let store = try SQLiteJobStore(config: loaded.config.storage, owner: true)
            let logger = Logger(label: "pipeline-test")
            let (ports, listening) = AsyncStream.makeStream(of: Int.self)
            let server = try await buildSwitchyard(
                config: loaded,
                store: ServerStore(store: store, services: [MessageIndexer(store: store, logger: logger)]),
                httpClient: HTTPClient.shared,
                environment: [:],
                logger: logger,
                onServerRunning: { channel in listening.yield(channel.localAddress?.port ?? 0) }
            )
            let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask {
                    // However the run ends, nobody waits for a port any more.
                    defer { listening.finish() }
                    try await group.run()
                }
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next() else {
                    try await tasks.waitForAll()
                    Issue.record("the server stopped before it listened")
                    return
                }
                try await body(Pipeline(port: port, recorder: recorder, server: server, store: store))
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            try store.close()
        }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    /// POSTs a track to `/v1/track` with the source's write key; requires a 200 and returns its body.
    @discardableResult
    func track(messageId: String) async throws -> String {
        var request = HTTPClientRequest(url: url("/v1/track"))
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Basic " + Data("web-key:".utf8).base64EncodedString())
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(string: #"{"type":"track","event":"Order Completed","userId":"u1","messageId":"\#(messageId)"}"#))
        let (status, body) = try await send(request)
        try #require(status == 200, "POST /v1/track: \(status) \(body)")
        return body
    }

    /// The server's `/metrics` text, read as an operator would.
    func metricsText() async throws -> String {
        var request = HTTPClientRequest(url: url("/metrics"))
        request.headers.add(name: "Authorization", value: "Bearer \(Self.adminToken)")
        let (status, text) = try await send(request)
        try #require(status == 200, "GET /metrics: \(status) \(text)")
        return text
    }

    func send(_ request: HTTPClientRequest) async throws -> (Int, String) {
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 1 << 20)
        return (Int(response.status.code), String(buffer: body))
    }

    /// Waits until the worker has recorded `count` successful deliveries (they are counted just
    /// after the stand-in answers), polling the server's totals for at most 10 s.
    func waitForDelivered(_ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while server.metrics.snapshot().deliveriesByDestination["recorded"]?["succeeded", default: 0] ?? 0 < count {
            try #require(ContinuousClock.now < deadline, "\(count) deliveries were not recorded within 10 s")
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}

@Suite("The whole pipeline in process", .timeLimit(.minutes(1)))
struct PipelineTests {
    @Test("a track POSTed with the write key reaches the destination once, and /metrics counts it")
    func trackReachesDestination() async throws {
        var recorder: Recorder?
        try await Pipeline.run { pipeline in
            recorder = pipeline.recorder
            #expect(try await pipeline.track(messageId: "m-pipeline-1") == "ok\n")
            await pipeline.recorder.waitForEntries(1)
            try await pipeline.waitForDelivered(1)
            #expect(pipeline.recorder.messageIds == ["m-pipeline-1"])
            let metrics = try await pipeline.metricsText()
            #expect(metrics.contains(#"switchyard_events_received_total{source="web"} 1"#))
            #expect(metrics.contains(#"switchyard_deliveries_total{destination="recorded",outcome="succeeded"} 1"#))
            let stats = try await pipeline.store.stats()
            #expect(stats.destinations["recorded"]?.counts == [.succeeded: 1])
        }
        // Still once after the server stopped: nothing was sent again on the way out.
        #expect(recorder?.messageIds == ["m-pipeline-1"])
    }

    @Test("two servers in one process keep their own counters")
    func serversCountApart() async throws {
        try await Pipeline.run { first in
            try await Pipeline.run { second in
                #expect(first.port != second.port)
                try await first.track(messageId: "first-1")
                for n in 1...2 { try await second.track(messageId: "second-\(n)") }
                await first.recorder.waitForEntries(1)
                await second.recorder.waitForEntries(2)
                try await first.waitForDelivered(1)
                try await second.waitForDelivered(2)
                #expect(first.recorder.messageIds == ["first-1"])
                #expect(Set(second.recorder.messageIds) == ["second-1", "second-2"])
                #expect(first.server.metrics.snapshot().receivedBySource == ["web": 1])
                #expect(second.server.metrics.snapshot().receivedBySource == ["web": 2])
                let firstMetrics = try await first.metricsText()
                let secondMetrics = try await second.metricsText()
                #expect(firstMetrics.contains(#"switchyard_events_received_total{source="web"} 1"#))
                #expect(firstMetrics.contains(#"switchyard_deliveries_total{destination="recorded",outcome="succeeded"} 1"#))
                #expect(secondMetrics.contains(#"switchyard_events_received_total{source="web"} 2"#))
                #expect(secondMetrics.contains(#"switchyard_deliveries_total{destination="recorded",outcome="succeeded"} 2"#))
            }
        }
    }

    @Test("graceful shutdown ends the run well within the grace period")
    func gracefulShutdownEndsRun() async throws {
        let started = ContinuousClock.now
        var stoppedAt: ContinuousClock.Instant?
        try await Pipeline.run { pipeline in
            // Something in flight through the whole server before it stops.
            try await pipeline.track(messageId: "m-before-stop")
            await pipeline.recorder.waitForEntries(1)
            stoppedAt = ContinuousClock.now
        }
        // `run` returns only after the group did; it must not wait out the 5 s grace.
        let stopping = ContinuousClock.now - (stoppedAt ?? started)
        #expect(stopping < .seconds(4), "stopping took \(stopping)")
    }

    @Test("a server whose destinations cannot work is not built, and every one of them is named")
    func setupErrorsNameEveryDestination() async throws {
        try await withTemporaryDirectory { dir in
            let loaded = try Pipeline.config(
                storage: dir,
                destinations: ["{ name: recorded, type: broken, config: {} }", "{ name: other, type: broken, config: {} }"]
            )
            let store = try SQLiteJobStore(config: loaded.config.storage)
            defer { try? store.close() }
            let error = await #expect(throws: SwitchyardSetupError.self) {
                try await buildSwitchyard(
                    config: loaded,
                    store: ServerStore(store: store),
                    httpClient: HTTPClient.shared,
                    environment: [:],
                    logger: Logger(label: "pipeline-test")
                )
            }
            #expect(error?.destinations.map(\.destination) == ["recorded", "other"])
            #expect(error?.description.contains(#"destination "other": no credentials"#) == true)
        }
    }
}
