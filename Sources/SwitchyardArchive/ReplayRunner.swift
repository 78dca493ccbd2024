import Logging
import ServiceLifecycle
import SwitchyardCore

/// Runs replays, one at a time per node: the archive's files of the range first (up to where the
/// archive stood when the replay began), then the store's events after them. Each replayed event
/// is stored again under the replay's source, with its jobs for the replay's destinations through
/// the same routing as live events; its message id marks it for the replay, so a step sent again
/// after a restart is recognised by the store and not sent twice. Paced by the replay's rate.
public struct ReplayRunner: Service {
    let store: any JobStore
    let bucket: (any ArchiveBucket)?
    let routing: Routing
    let suppressions: Suppressions
    let clock: any WallClock
    let metrics: PipelineMetrics
    let logger: Logger
    public var pollEvery: Duration = .seconds(1)
    public var leaseFor: Duration = .seconds(60)
    /// How long the marks that keep a resumed step from sending twice last.
    public var markFor: Duration = .seconds(7 * 86_400)
    /// The largest archive file read back whole.
    static let maxFileBytes = 1 << 30

    public init(
        store: any JobStore,
        bucket: (any ArchiveBucket)?,
        routing: Routing,
        suppressions: Suppressions,
        clock: any WallClock = SystemWallClock(),
        metrics: PipelineMetrics,
        logger: Logger
    ) {
        self.store = store
        self.bucket = bucket
        self.routing = routing
        self.suppressions = suppressions
        self.clock = clock
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // Cut short by a shutdown, a replay resumes from its last saved step at the next start.
                try await cancelWhenGracefulShutdown { try await runPending() }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("replaying failed; trying again", metadata: ["error": "\(error)"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollEvery) }
        }
    }

    /// Runs every replay still to run that no other node runs, to its end.
    public func runPending() async throws {
        while let replay = try await store.claimReplay(leaseFor: leaseFor) {
            try await run(replay)
        }
    }

    /// One replay, from where it was to its end (completed, cancelled or failed).
    func run(_ claimed: Replay) async throws {
        var replay = claimed
        if replay.state == .starting {
            replay.progress.archivedThrough = bucket == nil ? 0 : try await store.archivePosition()
            replay.state = .running
            guard try await save(&replay) else { return }
            logger.info("replay started", metadata: ["replay": "\(replay.name)", "from": "\(replay.from)", "to": "\(replay.to)"])
        }
        do {
            if replay.state == .running, let bucket { try await replayFiles(&replay, from: bucket) }
            if replay.state == .running { try await replayStore(&replay) }
            if replay.state == .running { replay.state = .completed }
        } catch let error as ReplayFailure {
            replay.state = .failed
            replay.reason = error.message
        }
        if replay.state == .cancelling { replay.state = .cancelled }
        replay.finishedAt = clock.now()
        _ = try await save(&replay)
        metrics.replayFilesRemaining(replay: replay.name, files: max(0, replay.progress.filesTotal - replay.progress.filesDone))
        logger.info(
            "replay \(replay.state.rawValue.lowercased())",
            metadata: ["replay": "\(replay.name)", "sent": "\(replay.progress.eventsSent)", "reason": "\(replay.reason ?? "")"]
        )
    }

    /// Stores the replay; false when it is no longer running (cancelled meanwhile).
    func save(_ replay: inout Replay) async throws -> Bool {
        let state = try await store.saveReplay(replay, leaseFor: leaseFor)
        if state == .cancelling, !replay.state.isFinished { replay.state = .cancelling }
        return replay.state == .running || replay.state.isFinished
    }

    /// The archive files the range covers, written up to where the archive stood at the start,
    /// in window order then name, each with its place in that order.
    func files(for replay: Replay, in bucket: any ArchiveBucket) async throws -> [(order: String, key: String)] {
        let through = replay.progress.archivedThrough ?? 0
        let sources = replay.filter.sources.map { Set($0.map(ArchiveLayout.directory(source:))) }
        var out: [(String, String)] = []
        for key in try await bucket.list(under: "") {
            guard let window = ArchiveLayout.window(ofKey: key), let start = ArchiveLayout.start(ofWindow: window),
                let bounds = ArchiveLayout.bounds(ofKey: key), bounds.through <= through,
                start < replay.to, replay.from.millisecondsSinceEpoch < start.millisecondsSinceEpoch + ArchiveLayout.windowMilliseconds
            else { continue }
            if let sources, let directory = ArchiveLayout.sourceDirectory(ofKey: key), !sources.contains(directory) { continue }
            out.append((window + "|" + key, key))
        }
        return out.sorted { $0.0 < $1.0 }
    }

    func replayFiles(_ replay: inout Replay, from bucket: any ArchiveBucket) async throws {
        let all = try await files(for: replay, in: bucket)
        let done = replay.progress.lastFile
        replay.progress.filesTotal = all.count
        replay.progress.filesDone = done.map { last in all.filter { $0.order <= last }.count } ?? 0
        for file in all where done.map({ file.order > $0 }) ?? true {
            metrics.replayFilesRemaining(replay: replay.name, files: replay.progress.filesTotal - replay.progress.filesDone)
            guard let data = try await bucket.get(file.key) else { continue }  // deleted since: past retention
            let lines: [[UInt8]]
            do {
                lines = try ArchiveReading.lines(of: data, maxBytes: Self.maxFileBytes)
            } catch {
                throw ReplayFailure(message: "\(bucket.location)\(file.key) cannot be read: \(error)")
            }
            let source = ArchiveLayout.source(ofDirectory: ArchiveLayout.sourceDirectory(ofKey: file.key) ?? "")
            var start = 0
            while start < lines.count {
                let chunk = Array(lines[start..<min(lines.count, start + chunkSize(replay))])
                start += chunk.count
                guard try await send(chunk.map { ($0, source) }, replay: &replay) else { return }
            }
            replay.progress.lastFile = file.order
            replay.progress.filesDone += 1
            guard try await save(&replay) else { return }
        }
    }

    /// The store's events after where the archive stood, up to the range's end or, for a range
    /// that reaches into the future, the moment this phase began.
    func replayStore(_ replay: inout Replay) async throws {
        let until = min(replay.to, clock.now())
        var after = replay.progress.storeAfter ?? replay.progress.archivedThrough ?? 0
        while true {
            let page = try await store.eventsToArchive(after: after, through: nil, limit: chunkSize(replay))
            guard let last = page.last else {
                // Committed but not readable yet: on PostgreSQL a transaction still open elsewhere
                // holds the log's horizon back. Wait for it rather than end without those events.
                guard let next = try await store.oldestUnarchived(after: after), next < until else { return }
                guard try await save(&replay) else { return }
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            let live = page.filter(\.isTraffic)
            let reached = live.contains { $0.event.receivedAt >= until }
            let taken = live.filter { $0.event.receivedAt < until }
            guard try await send(taken.map { ($0.event.payload, $0.source) }, replay: &replay) else { return }
            after = last.id
            replay.progress.storeAfter = after
            guard try await save(&replay) else { return }
            if reached { return }
        }
    }

    /// Events per step: at most a second's worth at the replay's rate.
    func chunkSize(_ replay: Replay) -> Int { max(1, min(replay.rate, 500)) }

    /// Stores one step of events (each stored payload with its source's name) again and waits
    /// out the rest of its share of a second; false when the replay was cancelled meanwhile.
    func send(_ lines: [([UInt8], String)], replay: inout Replay) async throws -> Bool {
        let started = ContinuousClock.now
        // Read before the step, so the step is decided once (and counted once).
        if !suppressions.isLoaded { try await suppressions.refresh(from: store) }
        let now = clock.now()
        let routed = routing.source(replaying: replay)
        var candidates: [NewEvent] = []
        for (payload, source) in lines {
            replay.progress.eventsRead += 1
            guard let (event, receivedAt) = replay.replayed(payload, at: now), let receivedAt, replay.covers(receivedAt) else {
                replay.progress.eventsSkipped += 1
                continue
            }
            guard replay.filter.admits(source: source, event: event, message: { event.document }) else {
                replay.progress.eventsSkipped += 1
                continue
            }
            let route = routing.route(event, from: routed)
            guard !route.targets.isEmpty || !route.skipped.isEmpty else {
                replay.progress.eventsSkipped += 1
                continue
            }
            var item = routed.newEvent(event, targets: route.targets, skipped: route.skipped)
            item.dedupUntil = now.millisecondsSinceEpoch + markFor.milliseconds
            item.event.document = nil
            candidates.append(item)
            replay.progress.lastReplayedTime = receivedAt
        }
        // Never a suppressed or deleted user's events.
        let kept: [NewEvent]
        switch suppressions.verdict(candidates, userId: { $0.event.userId }, anonymousId: { $0.event.anonymousId }) {
        case .unknown: throw StoreError.unavailable("the suppression list cannot be read")
        case .keepAll: kept = candidates
        case .keep(let flags): kept = zip(candidates, flags).filter(\.1).map(\.0)
        }
        replay.progress.eventsSkipped += candidates.count - kept.count
        if !kept.isEmpty {
            let appended = try await store.append(kept)
            let sent = kept.count - appended.duplicates
            replay.progress.eventsSent += sent
            metrics.replayed(replay: replay.name, events: sent)
        }
        guard try await save(&replay), replay.state == .running else { return false }
        let share = Duration.milliseconds(Int64(lines.count) * 1000 / Int64(max(1, replay.rate)))
        let spent = ContinuousClock.now - started
        if spent < share { try await Task.sleep(for: share - spent) }
        return true
    }
}

/// Why a replay cannot go on (an archive file that cannot be read): it ends `FAILED` with this.
struct ReplayFailure: Error {
    var message: String
}
