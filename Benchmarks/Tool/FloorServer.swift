import AWSClient
import AWSSigV4
import ArgumentParser
import AsyncHTTPClient
import Foundation
import GRDB
import Hummingbird
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore
import SwitchyardEventBridge
import SwitchyardSQLite

#if canImport(Glibc)
import Glibc
#endif

/// The cost figure's floor: the least a durable pipeline does per event on this stack, with none of
/// Switchyard's features. `POST /v1/track` is parsed and enriched by the real ingestion code,
/// appended to SQLite in a group commit and fsynced before the 200; delivery takes the stored
/// events from memory (never reading them back), builds PutEvents entries with the real
/// transform, signs and sends batches of up to 10 with AsyncHTTPClient, reads the answer and
/// deletes what was delivered. No dedup, jobs, claims, leases, routing, delivery log, stats or
/// recovery after a restart. What Switchyard costs above this is what its features cost; what
/// this costs over the bare route is what no design on this stack gets under.
struct Floor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "floor-server")
    @Option var port = 8093
    @Option(help: "A directory for the queue's SQLite file.") var queue: String
    @Option(help: "The EventBridge endpoint (the emulator).") var endpoint: String
    @Option var accessKeyID = "AKIDBENCH"
    @Option var secretAccessKey = "bench-secret"
    @Option(help: "Batches sent at once, as `delivery.concurrency`.") var concurrency = 4

    func run() async throws {
        try FileManager.default.createDirectory(atPath: queue, withIntermediateDirectories: true)
        let path = queue + "/floor.sqlite"
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        let pool = try DatabasePool(path: path, configuration: configuration)
        try await pool.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        }
        let walDescriptor = open(path + "-wal", O_RDONLY | O_CLOEXEC)
        guard walDescriptor >= 0 else { throw ValidationError("cannot open \(path)-wal") }

        let append = GroupCommit<[UInt8], Int64>(
            label: "floor.append",
            sync: { () throws(StoreError) in
                if fdatasync(walDescriptor) != 0 { throw .unavailable("fdatasync failed") }
            },
            commit: { (payloads: [[UInt8]]) throws(StoreError) -> [Int64] in
                do {
                    return try pool.write { db in
                        let insert = try db.cachedStatement(sql: "INSERT INTO events (payload) VALUES (?)")
                        return try payloads.map { payload in
                            try insert.execute(arguments: [Data(payload)])
                            return db.lastInsertedRowID
                        }
                    }
                } catch {
                    throw .unavailable("\(error)")
                }
            }
        )
        let remove = GroupCommit<Int64, Bool>(label: "floor.remove") { (ids: [Int64]) throws(StoreError) -> [Bool] in
            do {
                try pool.write { db in
                    let delete = try db.cachedStatement(sql: "DELETE FROM events WHERE id = ?")
                    for id in ids { try delete.execute(arguments: [id]) }
                }
                return ids.map { _ in true }
            } catch {
                throw .unavailable("\(error)")
            }
        }
        let pending = PendingEvents()

        let router = Router()
        router.post("/v1/track") { request, _ -> Response in
            var request = request
            let body = try await request.collectBody(upTo: 4 * 1024 * 1024)
            let context = IngestContext(receivedAt: .now(), requestIP: "127.0.0.1", maxEventBytes: 32768)
            let batch: IngestBatch
            do {
                batch = try body.withUnsafeReadableBytes { raw throws(IngestError) in
                    try Ingestion.events(route: .track, body: raw, context: context)
                }
            } catch {
                return Response(status: .badRequest, body: .init(byteBuffer: ByteBuffer(string: "\(error)\n")))
            }
            let payloads = batch.events.map(\.payload)
            let ids = try await append.write(payloads)
            pending.add(zip(ids, payloads).map { PendingEvents.Item(id: $0, payload: $1) })
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: "OK"))
            )
        }

        let settings = EventBridgeSettings(region: "us-east-1", detailType: "{{ event }}", eventBusName: "orders", endpoint: endpoint)
        let transform = try EventBridgeTransform(settings: settings)
        guard let awsEndpoint = AWSEndpoint(endpoint) else { throw ValidationError("not a URL: \(endpoint)") }
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        let client = AWSJSONClient(
            endpoint: awsEndpoint,
            signer: SigV4Signer(
                credentials: AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey),
                region: "us-east-1",
                service: "events"
            ),
            httpClient: httpClient,
            timeout: .seconds(10)
        )
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)))
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await app.runService() }
            for _ in 0..<concurrency {
                group.addTask {
                    while true {
                        let batch = await pending.take(upTo: 10)
                        var body: [UInt8] = Array(#"{"Entries":["#.utf8)
                        for (n, item) in batch.enumerated() {
                            if n > 0 { body.append(UInt8(ascii: ",")) }
                            body += try transform.entry(forEvent: item.payload).json.serialized()
                        }
                        body += Array("]}".utf8)
                        guard case .response(let answer) = await client.call("AWSEvents.PutEvents", body: body), answer.status == 200,
                            case .object(let o)? = try? JSONParser.parse(answer.body), case .array(let results)? = o["Entries"],
                            results.count == batch.count
                        else {
                            pending.add(batch)
                            continue
                        }
                        var delivered: [Int64] = []
                        var again: [PendingEvents.Item] = []
                        for (item, result) in zip(batch, results) {
                            if case .string? = result[path: "EventId"] { delivered.append(item.id) } else { again.append(item) }
                        }
                        if !again.isEmpty { pending.add(again) }
                        _ = try await remove.write(delivered)
                    }
                }
            }
        }
    }
}

/// Stored events waiting for a send, handed to the senders in arrival order.
final class PendingEvents: Sendable {
    struct Item: Sendable {
        var id: Int64
        var payload: [UInt8]
    }

    private struct State {
        var items = CircularBuffer<Item>()
        var waiting = CircularBuffer<(limit: Int, continuation: CheckedContinuation<[Item], Never>)>()
    }

    private let state = NIOLockedValueBox(State())

    func add(_ new: [Item]) {
        let handed = state.withLockedValue { state in
            state.items.append(contentsOf: new)
            var handed: [(CheckedContinuation<[Item], Never>, [Item])] = []
            while !state.items.isEmpty, let waiter = state.waiting.popFirst() {
                handed.append((waiter.continuation, Self.take(waiter.limit, from: &state.items)))
            }
            return handed
        }
        for (continuation, items) in handed { continuation.resume(returning: items) }
    }

    /// Up to `limit` items, waiting for the first.
    func take(upTo limit: Int) async -> [Item] {
        await withCheckedContinuation { continuation in
            let items = state.withLockedValue { state -> [Item]? in
                if state.items.isEmpty {
                    state.waiting.append((limit, continuation))
                    return nil
                }
                return Self.take(limit, from: &state.items)
            }
            if let items { continuation.resume(returning: items) }
        }
    }

    private static func take(_ limit: Int, from items: inout CircularBuffer<Item>) -> [Item] {
        var taken: [Item] = []
        taken.reserveCapacity(min(limit, items.count))
        while taken.count < limit, let item = items.popFirst() { taken.append(item) }
        return taken
    }
}
