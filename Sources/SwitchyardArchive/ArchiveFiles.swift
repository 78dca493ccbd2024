import AWSSigV4
import CompressNIO
import NIOCore
import SwitchyardCore

/// One batch of events made into archive files: gzip NDJSON, one file per source and hour, each
/// line an event exactly as the store holds it. Compressed as events are added, so a batch of a
/// hundred thousand events holds their compressed bytes, not their text.
struct ArchiveFiles {
    struct File {
        var source: String
        var window: String
        var compressor: any NIOCompressor
        var compressed: [UInt8] = []
        var pending = ByteBuffer()
        var count = 0
        var firstID: Int64 = 0
        var lastID: Int64 = 0
        var firstReceivedAt = Timestamp(millisecondsSinceEpoch: 0)
        var lastReceivedAt = Timestamp(millisecondsSinceEpoch: 0)
    }

    /// Text is handed to zlib in pieces of about this size.
    static let chunk = 256 * 1024

    /// zlib's fastest level: on stored events it takes half the CPU of the default level for
    /// files about 12% larger (1.6 against 3.6 µs per 535-byte event, 28 against 25 bytes).
    static let algorithm = CompressionAlgorithm.gzip(configuration: .init(compressionLevel: .fastestCompression))

    private var files: [String: File] = [:]
    private var order: [String] = []

    var isEmpty: Bool { files.isEmpty }

    mutating func add(_ archived: ArchivedEvent) throws {
        let window = ArchiveLayout.window(of: archived.event.receivedAt)
        let group = archived.source + "\u{0}" + window
        if files[group] == nil {
            let compressor = Self.algorithm.compressor
            compressor.window = ByteBufferAllocator().buffer(capacity: 64 * 1024)
            try compressor.startStream()
            files[group] = File(source: archived.source, window: window, compressor: compressor)
            order.append(group)
        }
        try files[group]!.append(archived)
    }

    /// The finished files of the batch `from...through` (the cursor's bounds), with manifests.
    mutating func finish(from: Int64, through: Int64) throws -> [(key: String, data: [UInt8], manifest: ArchiveManifest)] {
        var out: [(String, [UInt8], ArchiveManifest)] = []
        for group in order {
            var file = files[group]!
            try file.flush(.finish)
            try file.compressor.finishStream()
            let key = ArchiveLayout.dataKey(source: file.source, window: file.window, from: from, through: through)
            let manifest = ArchiveManifest(
                source: file.source,
                window: file.window,
                file: key,
                count: file.count,
                firstID: file.firstID,
                lastID: file.lastID,
                firstReceivedAt: file.firstReceivedAt,
                lastReceivedAt: file.lastReceivedAt,
                sha256: SigV4Signer.hexSHA256(file.compressed),
                bytes: file.compressed.count
            )
            out.append((key, file.compressed, manifest))
        }
        files = [:]
        order = []
        return out
    }
}

extension ArchiveFiles.File {
    mutating func append(_ archived: ArchivedEvent) throws {
        if count == 0 {
            firstID = archived.id
            firstReceivedAt = archived.event.receivedAt
        }
        count += 1
        lastID = archived.id
        lastReceivedAt = archived.event.receivedAt
        pending.writeBytes(archived.event.payload)
        pending.writeInteger(UInt8(ascii: "\n"))
        if pending.readableBytes >= ArchiveFiles.chunk { try flush(.no) }
    }

    mutating func flush(_ mode: CompressNIOFlush) throws {
        var output: [UInt8] = []
        try pending.compressStream(with: compressor, flush: mode) { window in
            output.append(contentsOf: window.readableBytesView)
        }
        compressed += output
        pending.clear()
    }
}

extension ArchiveFiles {
    /// Lines (without their newlines) as one gzip NDJSON file.
    static func gzip(_ lines: [[UInt8]]) throws -> [UInt8] {
        var text = ByteBuffer()
        for line in lines {
            text.writeBytes(line)
            text.writeInteger(UInt8(ascii: "\n"))
        }
        return Array(try text.compress(with: algorithm).readableBytesView)
    }
}

/// Reads an archive file back: its lines, each an event's JSON.
enum ArchiveReading {
    /// The lines of a gzip NDJSON file, refusing one that inflates past `maxBytes`.
    static func lines(of gzip: [UInt8], maxBytes: Int) throws -> [[UInt8]] {
        var buffer = ByteBuffer(bytes: gzip)
        let text = try buffer.decompress(with: .gzip(), maxSize: maxBytes)
        return text.readableBytesView.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true).map(Array.init)
    }
}

extension ArchiveBucket {
    /// A data file and then its manifest: a reader that finds the manifest finds the whole file.
    func putFile(_ key: String, _ data: [UInt8], manifest: ArchiveManifest) async throws {
        try await put(key, data, contentType: "application/gzip")
        try await put(ArchiveLayout.manifestKey(forData: key), manifest.json.serialized(), contentType: "application/json")
    }
}
