import ArgumentParser
import Foundation
import Hummingbird
import SwitchyardCore
import SwitchyardEventBridge

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "switchyard-bench",
        abstract: "Benchmark helpers (see Benchmarks/run).",
        subcommands: [Baseline.self, Floor.self, TransformLoop.self, IngestLoop.self]
    )
}

/// The baseline for ingestion benchmarks: a bare Hummingbird route that reads the body and answers 200.
struct Baseline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "baseline-server")
    @Option var port = 8092

    func run() async throws {
        let router = Router()
        router.post("/v1/{route}") { request, _ -> Response in
            var request = request
            _ = try await request.collectBody(upTo: 4 * 1024 * 1024)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "ok\n"))
            )
        }
        // The pixel's baseline: a GET answered with 43 bytes, as a 1x1 GIF is.
        router.get("/pixel/v1/{route}") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "image/gif"], body: .init(byteBuffer: ByteBuffer(repeating: 0x47, count: 43)))
        }
        try await Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port))).runService()
    }
}

/// parse → enrich → EventBridge entry → JSON, in a loop on one core.
struct TransformLoop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "transform")
    @Option var events = 200_000

    func run() async throws {
        let body = Array(
            #"{"userId":"user-123","event":"Order Completed","messageId":"m-1","properties":{"order_id":"50314b8e","total":27.50,"currency":"USD","products":[{"sku":"45790-32","price":19.0}]},"context":{"library":{"name":"bench"}},"timestamp":"2024-05-01T10:00:00.000Z"}"#
                .utf8
        )
        var settings = EventBridgeSettings(region: "us-east-1", detailType: "{{ event }}", eventBusName: "orders")
        settings.resourceID = [.init(arn: "arn:aws:events:us-east-1:123456789012:event-bus/orders")]
        let transform = try EventBridgeTransform(settings: settings)
        let context = IngestContext(receivedAt: .now(), requestIP: "127.0.0.1", maxEventBytes: 32768)
        var bytes = 0
        let clock = ContinuousClock()
        let elapsed = try clock.measure {
            for _ in 0..<events {
                let batch = try Ingestion.events(route: .track, body: body, context: context)
                let entry = try transform.entry(forEvent: batch.events[0].payload)
                bytes &+= entry.json.serialized().count
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(
            #"{"events":\#(events),"seconds":\#(String(format: "%.3f", seconds)),"eventsPerSecond":\#(Int(Double(events) / seconds)),"bytes":\#(bytes)}"#
        )
    }
}

/// What ingestion does to a batch before it is stored (parse → check → enrich → JSON), in a loop
/// on one core: the CPU per event that the SQLite writer's cost adds to.
struct IngestLoop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "ingest")
    @Option var events = 500_000
    @Option(help: "Events per /v1/batch body.") var batch = 100

    func run() async throws {
        let event =
            #"{"userId":"user-123","event":"Order Completed","properties":{"order_id":"50314b8e","total":27.5,"currency":"USD","products":[{"sku":"45790-32","price":19.0}]},"context":{"library":{"name":"bench","version":"1.0"}},"type":"track"}"#
        let body = Array(#"{"batch":["#.utf8) + Array(Array(repeating: event, count: batch).joined(separator: ",").utf8) + Array("]}".utf8)
        let context = IngestContext(receivedAt: .now(), requestIP: "127.0.0.1", maxEventBytes: 32768)
        var bytes = 0
        let rounds = max(1, events / batch)
        let elapsed = try ContinuousClock().measure {
            for _ in 0..<rounds {
                for e in try Ingestion.events(route: .batch, body: body, context: context).events { bytes &+= e.payload.count }
            }
        }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let n = rounds * batch
        print(
            #"{"events":\#(n),"seconds":\#(String(format: "%.3f", seconds)),"eventsPerSecond":\#(Int(Double(n) / seconds)),"bytes":\#(bytes)}"#
        )
    }
}
