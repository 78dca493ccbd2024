import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import SwitchyardCore

/// Copies every stored event into the archive, in the background: each round reads what was
/// committed since the cursor, writes it as gzip NDJSON files per source and hour with their
/// manifests, and only then moves the cursor. The batch's end is stored before its files are
/// written, so a round cut short (a crash, a lost lease) is written again under the same names:
/// the archive holds every event once. On PostgreSQL one node archives at a time, by lease.
public struct Archiver: Service {
    public let config: ArchiveConfig
    let store: any ArchiveStore
    let bucket: any ArchiveBucket
    public let status: ArchiveStatus
    let clock: any WallClock
    let metrics: PipelineMetrics
    let logger: Logger
    /// Events read from the store at a time.
    static let page = 2_000

    public init(
        config: ArchiveConfig,
        store: any ArchiveStore,
        bucket: any ArchiveBucket,
        status: ArchiveStatus? = nil,
        clock: any WallClock = SystemWallClock(),
        metrics: PipelineMetrics,
        logger: Logger
    ) {
        self.config = config
        self.store = store
        self.bucket = bucket
        self.status = status ?? ArchiveStatus(location: bucket.location)
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    /// Renewed before every batch, so it need only outlast one batch's writes; a node that dies
    /// holds the archive this long at most. A batch that outlasts it is written again by the
    /// node that takes over, under the same names.
    var leaseFor: Duration { max(.seconds(15), config.interval.duration * 3) }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // A shutdown may cut a round short: its batch is written again at the next start.
                _ = try await cancelWhenGracefulShutdown { try await round() }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                metrics.archiveFailed()
                status.failed("\(error)")
                logger.warning("archiving failed; trying again", metadata: ["error": "\(error)", "archive": "\(bucket.location)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: config.interval.duration) }
        }
    }

    /// Writes everything committed since the last round, batch by batch; returns the events
    /// written. Does nothing while another node holds the lease.
    @discardableResult
    public func round() async throws -> Int {
        var written = 0
        while !Task.isCancelled {
            guard var cursor = try await store.leaseArchive(leaseFor: leaseFor) else {
                status.standby()
                return written
            }
            guard let batch = try await readBatch(after: cursor) else {
                try await noteLag(position: cursor.position)
                break
            }
            if cursor.pendingThrough == nil {
                cursor.pendingThrough = batch.through
                try await store.saveArchiveCursor(cursor)
            }
            var files = batch.files
            let made = try files.finish(from: cursor.position + 1, through: batch.through)
            var bytes = 0
            for file in made {
                try await bucket.putFile(file.key, file.data, manifest: file.manifest)
                bytes += file.data.count
            }
            try await store.saveArchiveCursor(ArchiveCursor(position: batch.through))
            metrics.archived(events: batch.kept, files: made.count, bytes: bytes)
            status.wrote(position: batch.through, events: batch.kept, files: made.count, bytes: bytes, at: clock.now())
            written += batch.kept
            if !batch.full {
                try await noteLag(position: batch.through)
                break
            }
        }
        try await sweepIfDue()
        return written
    }

    struct Batch {
        var files: ArchiveFiles
        var through: Int64
        var kept: Int
        /// Whether more may be waiting (it stopped at `maxEventsPerFile`, or was a batch written again).
        var full: Bool
    }

    /// The next batch after the cursor (or the pending one again); nil when there is nothing.
    func readBatch(after cursor: ArchiveCursor) async throws -> Batch? {
        var files = ArchiveFiles()
        var last = cursor.position
        var read = 0
        var kept = 0
        let pending = cursor.pendingThrough
        while pending != nil || read < config.maxEventsPerFile {
            let limit = pending == nil ? min(Self.page, config.maxEventsPerFile - read) : Self.page
            let events = try await store.eventsToArchive(after: last, through: pending, limit: limit)
            for archived in events where admits(archived) {
                try files.add(archived)
                kept += 1
            }
            read += events.count
            last = events.last?.id ?? last
            if events.count < limit { break }
        }
        let through = pending ?? last
        guard through > cursor.position else { return nil }
        // A pending batch is one written again: what came after it may be waiting too.
        return Batch(files: files, through: through, kept: kept, full: pending != nil || read >= config.maxEventsPerFile)
    }

    /// Clients' events (`isTraffic`), as the pattern says.
    func admits(_ archived: ArchivedEvent) -> Bool {
        guard archived.isTraffic else { return false }
        guard let pattern = config.pattern else { return true }
        guard let message = archived.event.message else { return false }
        return pattern.matches(.object(message))
    }

    /// The lag's gauge and the alarm: an error in the log at most once a minute while the
    /// oldest unwritten event is older than `alarmAfter`.
    func noteLag(position: Int64) async throws {
        let now = clock.now()
        let oldest = try await store.oldestUnarchived(after: position)
        let lag = oldest.map { Double(max(0, now.millisecondsSinceEpoch - $0.millisecondsSinceEpoch)) / 1000 } ?? 0
        metrics.archiveLag(seconds: lag)
        if status.lagged(seconds: lag, alarmAfter: Double(config.alarmAfter.milliseconds) / 1000, at: now) {
            logger.error(
                "the archive is behind: its oldest unwritten event is \(Int(lag)) s old (alarmAfter \(config.alarmAfter))",
                metadata: ["archive": "\(bucket.location)"]
            )
        }
    }

    /// Deletes files whose hour ended more than `retention` ago, once an hour.
    func sweepIfDue() async throws {
        let retention = config.retention.milliseconds
        let now = clock.now()
        guard retention > 0, status.sweepDue(at: now, every: ArchiveLayout.windowMilliseconds) else { return }
        var deleted = 0
        for key in try await bucket.list(under: "") {
            guard let window = ArchiveLayout.window(ofKey: key), let start = ArchiveLayout.start(ofWindow: window) else { continue }
            if start.millisecondsSinceEpoch + ArchiveLayout.windowMilliseconds + retention < now.millisecondsSinceEpoch {
                try await bucket.delete(key)
                deleted += 1
            }
        }
        if deleted > 0 { logger.info("archive files past retention deleted", metadata: ["files": "\(deleted)"]) }
    }
}
