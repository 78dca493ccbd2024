import NIOConcurrencyHelpers

/// What every store does the same way around its writes, whatever holds its rows: refuse jobs
/// past `storage.maxQueuedJobs`, remember a failed commit so `/ready` can tell it, and wake the
/// delivery workers when jobs may have become claimable. A store keeps one and calls it; the
/// rows themselves are the store's business.
public final class QueueGate: Sendable {
    /// How long `/ready` reports a failed commit. A probe write can still fit on a disk that
    /// refuses real batches, so a failure is remembered for a while (or until a commit succeeds).
    public static let failureWindow: Duration = .seconds(10)

    private struct State {
        /// Jobs still to be delivered, as this node last knew.
        var waiting: Int
        var lastFailure: (at: Timestamp, reason: String)?
        /// When a shared store's count of every node's jobs was last read.
        var sharedReadAt: Int64 = .min
    }

    private let state: NIOLockedValueBox<State>
    public let limit: Int
    public let clock: any WallClock
    /// Signalled when jobs may have become claimable: committed, let go from behind their key,
    /// replayed, or recovered after a crash.
    public let newJobs = Wakeup()

    public init(limit: Int, waiting: Int = 0, clock: any WallClock) {
        self.limit = limit
        self.clock = clock
        state = NIOLockedValueBox(State(waiting: waiting))
    }

    /// Jobs still to be delivered, as of the last commit or `setWaiting`.
    public var waiting: Int { state.withLockedValue { $0.waiting } }

    /// Runs `commit` for events carrying `jobs` jobs, unless they would take the queue past its
    /// limit (counting the jobs of duplicates, which are only known once committed). A commit
    /// that fails is remembered for `/ready`; one that succeeds clears that.
    public func append(jobs: Int, _ commit: () async throws(StoreError) -> Appended) async throws(StoreError) -> Appended {
        let current = waiting
        if jobs > 0, current + jobs > limit { throw .full(queued: current, limit: limit) }
        let appended: Appended
        do {
            appended = try await commit()
        } catch {
            if case .unavailable(let reason) = error {
                let now = clock.now()
                state.withLockedValue { $0.lastFailure = (now, reason) }
            }
            throw error
        }
        let added = jobs - appended.duplicateJobs
        state.withLockedValue {
            $0.lastFailure = nil
            $0.waiting += added
        }
        if added > 0 { newJobs.signal() }
        return appended
    }

    /// Jobs delivered or dead-lettered (`settled`), and jobs let go from behind their key
    /// (`released`), which are due now: their worker need not wait for a poll.
    public func settled(_ settled: Int, released: Int = 0) {
        if settled != 0 { state.withLockedValue { $0.waiting -= settled } }
        if released > 0 { newJobs.signal() }
    }

    /// Dead letters put back in the queue.
    public func replayed(_ jobs: Int) {
        guard jobs > 0 else { return }
        state.withLockedValue { $0.waiting += jobs }
        newJobs.signal()
    }

    /// The count of every node's waiting jobs, read from a shared store.
    public func setWaiting(_ jobs: Int) {
        state.withLockedValue { $0.waiting = jobs }
    }

    /// For a store shared by several nodes, whose count moves with the other nodes' commits:
    /// true when the count was last read `interval` ago or more (by the clock), and then marks
    /// it read, so that of the writers arriving together one reads it again.
    public func claimSharedRead(every interval: Duration) -> Bool {
        let now = clock.now().millisecondsSinceEpoch
        return state.withLockedValue { state in
            guard state.sharedReadAt == .min || now - state.sharedReadAt >= interval.milliseconds else { return false }
            state.sharedReadAt = now
            return true
        }
    }

    /// Throws while a commit failed less than `failureWindow` ago.
    public func checkLastCommit() throws(StoreError) {
        guard let failure = state.withLockedValue({ $0.lastFailure }) else { return }
        let age = clock.now().millisecondsSinceEpoch - failure.at.millisecondsSinceEpoch
        if age < Self.failureWindow.milliseconds {
            throw .unavailable("the last write failed \(age) ms ago: \(failure.reason)")
        }
    }
}

/// A store with a gate gets the workers' wake-ups from it.
public protocol GatedJobQueue: JobQueue {
    var gate: QueueGate { get }
}

extension GatedJobQueue {
    public var newJobsGeneration: Int { gate.newJobs.generation }

    public func waitForNewJobs(since generation: Int, timeout: Duration) async {
        await gate.newJobs.wait(since: generation, timeout: timeout)
    }
}
