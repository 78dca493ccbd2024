import Logging
import ServiceLifecycle

/// Records regulations, keeps this node's suppression list current, and runs deletions: in
/// steps of `stepRows` rows, each its own short transaction, so ingestion never waits on more
/// than one step.
public struct RegulationService: Service {
    public let store: any RegulationStore
    public let suppressions: Suppressions
    public let clock: any WallClock
    public let logger: Logger
    /// How often the store's list is checked for changes another node made.
    public var refreshEvery: Duration = .seconds(1)
    /// A request that passed the suppression check just before the list changed (here, or on a
    /// node that had not read it yet) may commit after the deletion's first pass: a second pass
    /// runs once this long has gone by since the regulation was recorded, and takes those too.
    public var settle: Duration = .seconds(15)
    public var stepRows = 2_000
    public var leaseFor: Duration = .seconds(60)
    /// Where else events are kept (the archive's files): each pass takes the subjects' events
    /// from there too.
    public var archive: (any ArchiveEraseTarget)?

    public init(store: any RegulationStore, suppressions: Suppressions, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.store = store
        self.suppressions = suppressions
        self.clock = clock
        self.logger = logger
    }

    /// Records a regulation; once this returns, this node drops the subjects' new events.
    public func record(_ request: RegulationRequest) async throws -> Regulation {
        let regulation = Regulation(
            id: Self.newID(),
            kind: request.kind,
            subjectType: request.subjectType,
            subjectCount: request.subjectIds.count,
            status: request.kind.deletes ? .initialized : .finished,
            createdAt: clock.now(),
            finishedAt: request.kind.deletes ? nil : clock.now()
        )
        try await store.record(regulation, subjects: request.subjectIds)
        try await suppressions.refresh(from: store)
        logger.info(
            "regulation recorded",
            metadata: ["id": "\(regulation.id)", "type": "\(regulation.kind.rawValue)", "subjects": "\(regulation.subjectCount)"]
        )
        return regulation
    }

    /// Random, so ids say nothing of how many regulations there were.
    static func newID() -> String {
        let alphabet = Array("0123456789abcdefghijklmnopqrstuvwxyz")
        var generator = SystemRandomNumberGenerator()
        return "reg_" + String((0..<20).map { _ in alphabet.randomElement(using: &generator)! })
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await self.every(self.refreshEvery, "reading the suppression list") {
                    try await self.suppressions.refresh(from: self.store)
                }
            }
            group.addTask { await self.every(self.refreshEvery, "deleting") { try await self.runPendingErasures() } }
        }
    }

    /// Runs `work` until shutdown, pausing `interval` between runs; a failure is logged when
    /// it starts and when it ends, not every time.
    private func every(_ interval: Duration, _ what: String, _ work: @escaping @Sendable () async throws -> Void) async {
        var failing = false
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await work() }
                if failing { logger.info("\(what) works again") }
                failing = false
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                if !failing { logger.warning("\(what) failed: \(error)") }
                failing = true
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// Runs every deletion no other node is running, to the end.
    public func runPendingErasures() async throws {
        while let erasure = try await store.claimErasure(leaseFor: leaseFor) {
            try await run(erasure)
        }
    }

    func run(_ erasure: Erasure) async throws {
        let settled = erasure.createdAt.millisecondsSinceEpoch + settle.milliseconds
        var removed = ErasureCounts()
        var passStartedAt = clock.now().millisecondsSinceEpoch
        removed += try await pass(erasure, number: 1)
        while passStartedAt < settled {
            let wait = settled - clock.now().millisecondsSinceEpoch
            if wait > 0 { try await Task.sleep(for: .milliseconds(min(wait, 1000))) }
            guard clock.now().millisecondsSinceEpoch >= settled else { continue }
            passStartedAt = clock.now().millisecondsSinceEpoch
            removed += try await pass(erasure, number: 2)
        }
        try await store.finishErasure(erasure)
        logger.info(
            "deletion finished",
            metadata: Logger.Metadata(
                uniqueKeysWithValues: [("id", "\(erasure.id)")] + zip(ErasureCounts.keys, removed.values).map { ($0, "\($1)") }
            )
        )
    }

    /// One scan of every table, in steps; how long it took is logged (what an operator, and the
    /// benchmark, read as the time a deletion takes).
    func pass(_ erasure: Erasure, number: Int) async throws -> ErasureCounts {
        let started = ContinuousClock.now
        var removed = ErasureCounts()
        var steps = 0
        var cursor: ErasureCursor? = .start
        while let from = cursor {
            try Task.checkCancellation()
            let step = try await store.erase(erasure, from: from, limit: stepRows)
            removed += step.removed
            cursor = step.next
            steps += 1
        }
        let archived = try await archive?.erase(erasure.subjects) ?? 0
        logger.info(
            "deletion pass",
            metadata: [
                "id": "\(erasure.id)", "pass": "\(number)", "steps": "\(steps)", "rows": "\(removed.total)",
                "archivedEvents": "\(archived)",
                "milliseconds": "\((ContinuousClock.now - started).milliseconds)",
            ]
        )
        return removed
    }
}
