import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Delivers one destination's jobs: claims due jobs, prepares and batches them, keeps up to
/// `concurrency` sends in flight, and records each entry's outcome with backoff, attempt limits
/// and dead letters. One worker per destination, so a slow or failing destination holds up
/// nobody else, and ingestion never waits on delivery.
public struct DeliveryWorker: Service {
    public let name: String
    public let destination: any Destination
    public let store: any JobQueue
    public let policy: DeliveryPolicy
    public let logger: Logger
    /// The server's counters: each entry's outcome, and the destination's pauses.
    public let metrics: PipelineMetrics
    /// How long a claim lasts before the job is due again, should this process die mid-send.
    public var lease: Duration
    /// How many rounds of `concurrency` sends one claim takes while a backlog drains.
    static let claimRounds = 4
    /// Where the times of outcomes (a retry's due time, a pause's end) are read.
    public var clock: any WallClock = SystemWallClock()
    /// How often to look for retries that have become due when nothing wakes the worker sooner.
    public var pollInterval: Duration = .milliseconds(200)
    let backoff = NIOLockedValueBox(DestinationBackoff())
    /// Told of every send that delivered something, when the destination has a heartbeat.
    public var activity: DeliveryActivity?
    /// The destination's transformations (user code), run once per job before its first send.
    public var transformations: TransformationChain?

    public init(
        name: String,
        destination: any Destination,
        store: any JobQueue,
        policy: DeliveryPolicy,
        logger: Logger,
        metrics: PipelineMetrics,
        activity: DeliveryActivity? = nil
    ) {
        self.activity = activity
        self.metrics = metrics
        self.name = name
        self.destination = destination
        self.store = store
        self.policy = policy
        self.logger = logger
        // A claimed job may wait behind the claim's other rounds of sends, each bounded by the timeout.
        lease = .milliseconds(policy.timeout.milliseconds * Int64(Self.claimRounds + 2) + 30_000)
    }

    public func run() async throws {
        let inFlight = NIOLockedValueBox(0)
        let slotFreed = Wakeup()
        let limits = destination.batchLimits
        logger.info("delivery started", metadata: ["destination": "\(name)", "concurrency": "\(policy.concurrency)"])
        // Batches claimed and prepared but not yet sent. Claiming several rounds of sends at once
        // keeps claims (each a write transaction) rare while a backlog drains.
        var ready: [[PreparedEntry]] = []
        let prefetch = min(1000, policy.concurrency * limits.maxEntries * Self.claimRounds)
        // While a backlog drains, the next claim runs during the last round of sends, so the
        // sends never wait for a claim (a write transaction) and the preparing of its entries.
        let ahead = ClaimAhead()
        var backlogged = false
        // A discarding group: each finished send is released at once. (A plain task group keeps
        // every finished child until it is awaited, which grew memory by the drained backlog.)
        await withDiscardingTaskGroup { group in
            while !Task.isShuttingDownGracefully, !Task.isCancelled {
                if let until = backoff.withLockedValue({ $0.pause(at: .now) }) {
                    // What is claimed but unsent is due again when the pause ends.
                    await giveBackUnsent(&ready, ahead)
                    try? await cancelWhenGracefulShutdown { try await Task.sleep(until: until, clock: .continuous) }
                    continue
                }
                if ready.isEmpty {
                    let next: Claimed
                    if let claimed = await ahead.take() {
                        next = claimed
                    } else {
                        next = await claimAndPrepare(limit: prefetch, limits: limits)
                    }
                    backlogged = next.full
                    if next.batches.isEmpty {
                        if !backlogged { await store.waitForNewJobs(since: next.generation, timeout: pollInterval) }
                        continue
                    }
                    ready = next.batches.reversed()
                    continue
                }
                if backlogged, ready.count <= policy.concurrency, ahead.start() {
                    group.addTask { ahead.finish(await self.claimAndPrepare(limit: prefetch, limits: limits, linger: false)) }
                }
                let allowed = backoff.withLockedValue { $0.allowedInFlight(concurrency: policy.concurrency) }
                if allowed - inFlight.withLockedValue({ $0 }) <= 0 {
                    await slotFreed.wait(timeout: pollInterval)
                    continue
                }
                let batch = ready.removeLast()
                inFlight.withLockedValue { $0 += 1 }
                group.addTask {
                    // The slot frees when the send returns: recording its outcomes need not hold
                    // up the next send, and outcomes waiting together share a commit.
                    await self.deliver(batch) {
                        inFlight.withLockedValue { $0 -= 1 }
                        slotFreed.signal()
                    }
                }
            }
            // Graceful shutdown: claim nothing more; the sends in flight finish (each bounded by
            // the timeout) and record their outcomes before the task group returns.
        }
        // Claimed but never sent: the next run sends them at once.
        await giveBackUnsent(&ready, ahead)
        logger.info("delivery stopped", metadata: ["destination": "\(name)"])
    }

    /// Batches claimed and prepared, whether the claim took all it asked for, and the store's
    /// `newJobsGeneration` from before it: waiting on that misses nothing committed since.
    typealias Claimed = (batches: [[PreparedEntry]], full: Bool, generation: Int)

    /// Puts every job claimed but not sent (the prepared batches and the claim made ahead) back
    /// in the queue untried, and empties both.
    func giveBackUnsent(_ ready: inout [[PreparedEntry]], _ ahead: ClaimAhead) async {
        var jobs = ready.flatMap { $0.map(\.job) }
        if let claimed = await ahead.take() { jobs += claimed.batches.flatMap { $0.map(\.job) } }
        ready = []
        guard !jobs.isEmpty else { return }
        do {
            try await store.release(jobs)
        } catch {
            logger.error(
                "cannot release \(jobs.count) unsent jobs; they are due again when their lease runs out: \(error)",
                metadata: ["destination": "\(name)"]
            )
        }
    }

    /// Claims due jobs and prepares them into batches; `full` when the claim took all it asked for,
    /// which means a backlog is waiting. A claim short of one batch lingers once for more.
    func claimAndPrepare(limit: Int, limits: BatchLimits, linger: Bool = true) async -> Claimed {
        let generation = store.newJobsGeneration
        var jobs = await claim(limit: limit)
        let full = jobs.count == limit
        if linger, !jobs.isEmpty, jobs.count < limits.maxEntries, policy.linger.milliseconds > 0, !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: policy.linger.duration)
            jobs += await claim(limit: limits.maxEntries - jobs.count)
        }
        if transformations != nil { jobs = await transform(jobs) }
        return (await prepare(jobs, limits: limits), full, generation)
    }

    func claim(limit: Int) async -> [Job] {
        do {
            return try await store.claim(destination: name, limit: limit, leaseFor: lease)
        } catch {
            // Cancelled: the service group is stopping (e.g. the port was taken); not a storage error.
            if Task.isCancelled { return [] }
            logger.error("cannot claim jobs: \(error)", metadata: ["destination": "\(name)"])
            try? await Task.sleep(for: .seconds(1))
            return []
        }
    }

    func deliver(_ batch: [PreparedEntry], sent done: () -> Void) async {
        let batchId = UUIDv4.make()
        let sent = await send(batch)
        done()
        var outcomes = sent.outcomes
        if outcomes.count != batch.count {
            logger.error(
                "destination returned \(outcomes.count) outcomes for \(batch.count) entries; retrying the batch",
                metadata: ["destination": "\(name)"]
            )
            outcomes = Array(repeating: .retry(.init(code: "InternalError", message: "outcome count mismatch")), count: batch.count)
        }
        let now = clock.now()
        metrics.health.sent(name, outcomes, at: now)
        var latencies: [Int64] = []
        for (entry, outcome) in zip(batch, outcomes) {
            if case .delivered = outcome { latencies.append(now.millisecondsSinceEpoch - entry.job.receivedAt.millisecondsSinceEpoch) }
        }
        if let activity, !latencies.isEmpty { activity.delivered(at: now) }
        metrics.deliveryLatencies(destination: name, milliseconds: latencies)
        var results: [JobResult] = []
        results.reserveCapacity(batch.count)
        var i = 0
        while i < batch.count {
            let entry = batch[i]
            var end = i + 1
            while end < batch.count, batch[end].job.id == entry.job.id { end += 1 }
            if end - i > 1 {
                results.append(fannedOut(batch[i..<end], outcomes[i..<end], batchId: batchId, requestId: sent.requestId, now: now))
                i = end
                continue
            }
            i = end
            let outcome = outcomes[end - 1]
            let first = entry.job.attempt == 1
            let log = AttemptLog(
                job: entry.job,
                batchId: batchId,
                requestId: sent.requestId,
                result: outcome,
                entry: first ? entry.display : nil,
                entrySize: first ? entry.body.count : nil,
                // Cut here, off the store's writer: the event is stored already.
                entryText: first && entry.display != nil ? entryText(entry) : nil
            )
            results.append(JobResult(job: entry.job, outcome: jobOutcome(for: entry.job, outcome, now: now), log: log))
        }
        await record(results)
    }

    /// Backs the destination off after a send that failed as a whole, and lifts that when one gets through.
    func noteAvailability(_ sent: SendResult) {
        if let failure = sent.unavailable {
            guard let pause = backoff.withLockedValue({ $0.unavailable(at: .now, policy: policy) }) else { return }
            let now = clock.now()
            metrics.destinationPaused(name, until: now.plus(pause), reason: failure.description, at: now)
            logger.warning(
                "destination unavailable: pausing its sends, then trying one batch at a time",
                metadata: [
                    "destination": "\(name)", "pause": "\(ConfigDuration(milliseconds: pause.milliseconds))", "error": "\(failure)",
                ]
            )
        } else if backoff.withLockedValue({ $0.gotThrough() }) {
            metrics.destinationAnswering(name)
            logger.info("destination answering again: sending at full concurrency", metadata: ["destination": "\(name)"])
        }
    }

    /// Turns a send's outcome into the job's next state: a retry while attempts and the window
    /// last, a dead letter after.
    func jobOutcome(for job: Job, _ outcome: EntryOutcome, now: Timestamp) -> JobOutcome {
        switch outcome {
        case .delivered:
            return .succeeded
        case .reject(let failure):
            return .dead(reason: failure.description)
        case .retry(let failure):
            let age = now.millisecondsSinceEpoch - job.receivedAt.millisecondsSinceEpoch
            if job.attempt >= policy.maxAttempts {
                return .dead(reason: "\(failure) (gave up after \(job.attempt) attempts)")
            }
            let wait = policy.backoff(afterAttempt: job.attempt)
            if age + wait > policy.retryWindow.milliseconds {
                return .dead(reason: "\(failure) (gave up after \(job.attempt) attempts, retry window \(policy.retryWindow) passed)")
            }
            return .retry(at: Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch + wait), error: failure.description)
        }
    }

    func record(_ results: [JobResult]) async {
        guard !results.isEmpty else { return }
        var tally: [String: Int] = [:]
        for result in results {
            switch result.outcome {
            case .succeeded: tally["succeeded", default: 0] += 1
            case .retry: tally["failed", default: 0] += 1
            case .dead: tally["dead", default: 0] += 1
            case .dropped: tally["dropped", default: 0] += 1
            }
        }
        for (outcome, count) in tally { metrics.delivery(destination: name, outcome: outcome, count: count) }
        // Outcomes must not be lost to a passing storage error: the send already happened.
        for attempt in 1...5 {
            do {
                try await store.finish(results)
                return
            } catch {
                logger.error("cannot record delivery outcomes (try \(attempt)): \(error)", metadata: ["destination": "\(name)"])
                try? await Task.sleep(for: .milliseconds(200 * attempt))
            }
        }
        // The leases run out and the jobs are delivered again: at least once, never lost.
    }
}
