import Logging
import ServiceLifecycle

/// Writes this node's rollups to the store every `flushInterval` (with the queue's depth sampled
/// first), prunes rows past `retention` once an hour, and answers `/v1/stats` from the store
/// and memory together.
public struct StatsService: Service {
    public let recorder: StatsRecorder
    public let store: any StatsStore & JobQueue
    public let config: StatsConfig
    public let logger: Logger
    /// The destinations whose queue is sampled: an empty queue is a sample too (0).
    public let destinations: [String]
    let clock: any WallClock

    public init(
        recorder: StatsRecorder,
        store: any StatsStore & JobQueue,
        config: StatsConfig,
        destinations: [String],
        logger: Logger,
        clock: any WallClock = SystemWallClock()
    ) {
        self.recorder = recorder
        self.destinations = destinations
        self.store = store
        self.config = config
        self.logger = logger
        self.clock = clock
    }

    public func run() async throws {
        var lastPrune: Int64?
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            await sampleQueue()
            await flush()
            let now = clock.now().millisecondsSinceEpoch
            if lastPrune.map({ now - $0 >= 3_600_000 }) ?? true {
                lastPrune = now
                await prune()
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: config.flushInterval.duration) }
        }
        // What the last interval counted, so a restart loses none of it (a cancelled group is
        // past writing anything).
        if !Task.isCancelled { await flush() }
    }

    /// Each destination's waiting jobs and oldest waiting age, as gauges of the current minute.
    public func sampleQueue() async {
        guard let backlog = try? await store.backlog() else { return }
        for name in Set(destinations).union(backlog.keys) {
            let d = backlog[name]
            recorder.add(.destination(name)) { c in
                c.queueDepth = max(c.queueDepth ?? 0, d?.waiting ?? 0)
                c.oldestWaitingMs = max(c.oldestWaitingMs ?? 0, d?.oldestWaitingAgeMs ?? 0)
            }
        }
    }

    /// Writes the minutes changed since the last flush.
    public func flush() async {
        let rows = recorder.takeChangedRows()
        guard !rows.isEmpty else { return }
        do {
            try await store.writeStats(rows)
            recorder.written()
        } catch {
            recorder.notWritten(rows)
            // Cancelled: the group is stopping (the port was taken); not a storage error.
            if Task.isCancelled { return }
            logger.warning("cannot write stats rollups; trying again at the next flush: \(error)")
        }
    }

    public func prune() async {
        let before = clock.now().millisecondsSinceEpoch - config.retention.milliseconds
        do {
            let n = try await store.pruneStats(before: before)
            if n > 0 { logger.debug("pruned stats rollups", metadata: ["rows": "\(n)"]) }
        } catch {
            if Task.isCancelled { return }
            logger.warning("cannot prune stats rollups: \(error)")
        }
    }

    /// The rows a query covers: every node's from the store, this writer's from memory where
    /// memory has them (the store may be up to one flush behind), and for steps under a minute
    /// this node's one-second ring.
    public func rows(_ query: StatsQuery) async throws -> [StatsRow] {
        if query.bySecond { return recorder.seconds(from: query.start, to: query.end) }
        let mine = recorder.memoryRows()
        let inMemory = Set(mine.map(\.minute))
        let stored = try await store.stats(from: query.start, to: query.end)
        return stored.filter { $0.writer != recorder.writer || !inMemory.contains($0.minute) } + mine
    }

    public func series(from: Int64, to: Int64, step: Int64?) async throws -> StatsSeries {
        let query = try StatsQuery(from: from, to: to, step: step, recentStart: recorder.recentStart)
        return StatsSeries(query: query, rows: try await rows(query))
    }
}
