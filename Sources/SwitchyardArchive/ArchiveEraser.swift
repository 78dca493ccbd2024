import AWSSigV4
import Logging
import SwitchyardCore

/// Takes deleted users' events out of the archive: every file is read, and one holding any of
/// them is written again without them (with a new manifest), or deleted when nothing is left.
/// A file is replaced whole, so a reader sees the old file or the new one, never half of each.
public struct ArchiveEraser: ArchiveEraseTarget {
    let bucket: any ArchiveBucket
    let logger: Logger

    public init(bucket: any ArchiveBucket, logger: Logger) {
        self.bucket = bucket
        self.logger = logger
    }

    public func erase(_ subjects: Subjects) async throws -> Int {
        guard !subjects.isEmpty else { return 0 }
        var removed = 0
        var rewritten = 0
        for key in try await bucket.list(under: "") where key.hasSuffix(ArchiveLayout.dataSuffix) {
            guard let data = try await bucket.get(key) else { continue }
            let lines = try ArchiveReading.lines(of: data, maxBytes: ReplayRunner.maxFileBytes)
            // Each line parsed once: whether it stays, and its time for the new manifest.
            var kept: [[UInt8]] = []
            var times: [Timestamp] = []
            for line in lines {
                guard let o = (try? JSONParser.parse(line))?.objectValue else {
                    kept.append(line)
                    continue
                }
                if subjects.matches(userId: Ingestion.identity(o["userId"]), anonymousId: Ingestion.identity(o["anonymousId"])) { continue }
                kept.append(line)
                if let at = o["receivedAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:)) { times.append(at) }
            }
            guard kept.count < lines.count else { continue }
            removed += lines.count - kept.count
            rewritten += 1
            let manifestKey = ArchiveLayout.manifestKey(forData: key)
            if kept.isEmpty {
                try await bucket.delete(key)
                try await bucket.delete(manifestKey)
                continue
            }
            let old = try await bucket.get(manifestKey).flatMap { try? JSONParser.parse($0) }.flatMap(ArchiveManifest.init(json:))
            let gzip = try ArchiveFiles.gzip(kept)
            times.sort()
            let bounds = ArchiveLayout.bounds(ofKey: key)
            let manifest = ArchiveManifest(
                source: old?.source ?? ArchiveLayout.source(ofDirectory: ArchiveLayout.sourceDirectory(ofKey: key) ?? ""),
                window: old?.window ?? ArchiveLayout.window(ofKey: key) ?? "",
                file: key,
                count: kept.count,
                firstID: old?.firstID ?? bounds?.from ?? 0,
                lastID: old?.lastID ?? bounds?.through ?? 0,
                firstReceivedAt: times.first ?? old?.firstReceivedAt ?? Timestamp(millisecondsSinceEpoch: 0),
                lastReceivedAt: times.last ?? old?.lastReceivedAt ?? Timestamp(millisecondsSinceEpoch: 0),
                sha256: SigV4Signer.hexSHA256(gzip),
                bytes: gzip.count
            )
            try await bucket.putFile(key, gzip, manifest: manifest)
        }
        if removed > 0 {
            logger.info("deleted users' events taken out of the archive", metadata: ["events": "\(removed)", "files": "\(rewritten)"])
        }
        return removed
    }
}
