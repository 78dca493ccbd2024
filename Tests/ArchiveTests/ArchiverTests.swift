import AWSSigV4
import CompressNIO
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardArchive

@Suite("The archiver", .timeLimit(.minutes(1)))
struct ArchiverTests {
    /// A memory store on a manual clock, the archiver over it writing to a temporary directory.
    static func withArchive(
        _ settings: ArchiveConfig = ArchiveConfig(),
        failing: NIOLockedValueBox<Bool>? = nil,
        _ body: (MemoryJobStore, Archiver, LocalArchiveBucket, ManualWallClock) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory { dir in
            let clock = ManualWallClock()
            try await TestTime.$clock.withValue(clock) {
                let store = try MemoryJobStore(storage: MemoryStorage(), config: StorageConfig(), owner: true, clock: clock)
                let local = LocalArchiveBucket(path: dir + "/archive")
                var config = settings
                config.path = local.location
                let archiver = Archiver(
                    config: config,
                    store: store,
                    bucket: failing.map { FailingSecondPut(base: local, failing: $0) } ?? local,
                    clock: clock,
                    metrics: PipelineMetrics.discarding(),
                    logger: .init(label: "test")
                )
                try await body(store, archiver, local, clock)
                store.close()
            }
        }
    }

    /// Every line of every data file, by file.
    static func contents(_ bucket: LocalArchiveBucket) async throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        for key in try await bucket.list(under: "") where key.hasSuffix(ArchiveLayout.dataSuffix) {
            var gzip = ByteBuffer(bytes: try #require(try await bucket.get(key)))
            let text = try gzip.decompress(with: .gzip())
            out[key] = String(buffer: text).split(separator: "\n").map(String.init)
        }
        return out
    }

    static func ids(_ contents: [String: [String]]) -> [String] {
        contents.values.flatMap { $0 }.map { line in
            (try? JSONParser.parse(Array(line.utf8)))?.objectValue?["messageId"]?.stringValue ?? "?"
        }
    }

    @Test("a round writes one gzip NDJSON file per source and hour, each with its manifest, and moves the cursor")
    func filesPerSourceAndHour() async throws {
        try await Self.withArchive { store, archiver, bucket, clock in
            _ = try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: ["a"]) })
            _ = try await store.append([NewEvent(source: "ios app/../x", event: makeEvent(4), destinations: [])])
            clock.advance(by: .seconds(3600))
            _ = try await store.append([NewEvent(source: "web", event: makeEvent(5), destinations: ["a"])])
            #expect(try await archiver.round() == 5)
            let files = try await Self.contents(bucket)
            #expect(
                files.keys.sorted() == [
                    "ios%20app%2F..%2Fx/2026-01-01/00/0000000000000000001-0000000000000000005.ndjson.gz",
                    "web/2026-01-01/00/0000000000000000001-0000000000000000005.ndjson.gz",
                    "web/2026-01-01/01/0000000000000000001-0000000000000000005.ndjson.gz",
                ]
            )
            #expect(
                files["web/2026-01-01/00/0000000000000000001-0000000000000000005.ndjson.gz"]
                    == (1...3).map {
                        String(decoding: makeEvent($0).payload, as: UTF8.self)
                    }
            )
            let manifestKey = "web/2026-01-01/00/0000000000000000001-0000000000000000005.manifest.json"
            let manifestBytes = try #require(try await bucket.get(manifestKey))
            let manifest = try #require(ArchiveManifest(json: try JSONParser.parse(manifestBytes)))
            let data = try #require(try await bucket.get("web/2026-01-01/00/0000000000000000001-0000000000000000005.ndjson.gz"))
            #expect(manifest.count == 3 && manifest.source == "web" && manifest.window == "2026-01-01/00")
            #expect(manifest.bytes == data.count && manifest.firstID == 1 && manifest.lastID == 3)
            #expect(manifest.sha256 == SigV4Signer.hexSHA256(data))
            #expect(try await store.leaseArchive(leaseFor: .seconds(1)) == ArchiveCursor(position: 5))
            #expect(try await archiver.round() == 0)
            #expect(archiver.status.snapshot.events == 5 && archiver.status.snapshot.files == 3)
        }
    }

    @Test("a round cut short after its batch was chosen is written again under the same names: every event once")
    func crashMidBatch() async throws {
        let failing = NIOLockedValueBox(true)
        var settings = ArchiveConfig()
        settings.maxEventsPerFile = 4
        try await Self.withArchive(settings, failing: failing) { store, archiver, bucket, _ in
            _ = try await store.append((1...6).map { NewEvent(source: "web", event: makeEvent($0), destinations: []) })
            await #expect(throws: (any Error).self) { try await archiver.round() }
            #expect(try await store.leaseArchive(leaseFor: .seconds(1)) == ArchiveCursor(position: 0, pendingThrough: 4))
            // More arrives before the restart; the batch it was writing stays the same.
            _ = try await store.append((7...9).map { NewEvent(source: "web", event: makeEvent($0), destinations: []) })
            failing.withLockedValue { $0 = false }
            #expect(try await archiver.round() == 9)
            let files = try await Self.contents(bucket)
            #expect(Self.ids(files).sorted() == (1...9).map { "m-\($0)" }.sorted())
            #expect(files.count == 3)
        }
    }

    @Test("a pattern keeps only the events it matches; the cursor passes the others")
    func pattern() async throws {
        var settings = ArchiveConfig()
        settings.pattern = try EventPattern(json: #"{"userId":["u2"]}"#)
        try await Self.withArchive(settings) { store, archiver, bucket, _ in
            _ = try await store.append((1...3).map { NewEvent(source: "web", event: makeEvent($0), destinations: []) })
            #expect(try await archiver.round() == 1)
            #expect(Self.ids(try await Self.contents(bucket)) == ["m-2"])
            #expect(try await store.leaseArchive(leaseFor: .seconds(1)) == ArchiveCursor(position: 3))
        }
    }

    @Test("files whose hour ended longer ago than the retention are deleted")
    func retention() async throws {
        var settings = ArchiveConfig()
        settings.retention = .seconds(86_400)
        try await Self.withArchive(settings) { store, archiver, bucket, clock in
            _ = try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: [])])
            try await archiver.round()
            #expect(try await bucket.list(under: "").count == 2)
            clock.advance(by: .seconds(86_400))
            _ = try await store.append([NewEvent(source: "web", event: makeEvent(2), destinations: [])])
            try await archiver.round()
            #expect(try await bucket.list(under: "").count == 4)
            // The first file's hour ended a day and a second ago.
            clock.advance(by: .seconds(3_601))
            try await archiver.round()
            #expect(Self.ids(try await Self.contents(bucket)) == ["m-2"])
        }
    }

    @Test("the lag is the age of the oldest event not yet archived, and past alarmAfter the archive is behind")
    func lag() async throws {
        var settings = ArchiveConfig()
        settings.alarmAfter = .seconds(60)
        try await Self.withArchive(settings) { store, archiver, _, clock in
            _ = try await store.append([NewEvent(source: "web", event: makeEvent(1), destinations: [])])
            clock.advance(by: .seconds(30))
            try await archiver.noteLag(position: 0)
            #expect(archiver.status.snapshot.lagSeconds == 30 && !archiver.status.snapshot.behind)
            clock.advance(by: .seconds(60))
            try await archiver.noteLag(position: 0)
            #expect(archiver.status.snapshot.behind)
            try await archiver.round()
            #expect(archiver.status.snapshot.lagSeconds == 0 && !archiver.status.snapshot.behind)
        }
    }
}

/// A directory whose second write fails while `failing` is set: a crash between two files.
struct FailingSecondPut: ArchiveBucket {
    let base: LocalArchiveBucket
    let failing: NIOLockedValueBox<Bool>
    let puts = NIOLockedValueBox(0)

    var location: String { base.location }

    func put(_ key: String, _ bytes: [UInt8], contentType: String) async throws {
        let n = puts.withLockedValue {
            $0 += 1
            return $0
        }
        if n == 2, failing.withLockedValue({ $0 }) { throw ArchiveBucketError.io("injected failure") }
        try await base.put(key, bytes, contentType: contentType)
    }

    func get(_ key: String) async throws -> [UInt8]? { try await base.get(key) }
    func list(under prefix: String) async throws -> [String] { try await base.list(under: prefix) }
    func delete(_ key: String) async throws { try await base.delete(key) }
}
