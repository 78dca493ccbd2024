import Dispatch
import Foundation
import NIOConcurrencyHelpers
import SwitchyardCore

/// Shares one commit among many concurrent writers. While a commit is running, new writes wait;
/// when it ends, all of them go into the next transaction together. One fsync then serves every
/// request that arrived during the previous one, so throughput grows with load instead of
/// collapsing to one fsync per request.
///
/// Commits and flushes run on their own dispatch queues, not in Swift's cooperative pool: with
/// every pool thread busy parsing requests, the next commit used to wait for a free thread while
/// the single SQLite writer sat idle.
public final class GroupCommit<Item: Sendable, Output: Sendable>: Sendable {
    /// Writes one group in one transaction and says what became of each item (one output per
    /// item, in order, or none at all); runs on the commit queue and may block it.
    public typealias Commit = @Sendable ([Item]) throws(StoreError) -> [Output]
    /// Makes every commit before it durable; runs on the flush queue and may block it.
    public typealias Sync = @Sendable () throws(StoreError) -> Void

    private struct Waiter {
        var items: [Item]
        var continuation: CheckedContinuation<[Output], any Error>
        /// What the commit said of these items, handed over once they are durable.
        var outputs: [Output] = []
    }

    private struct State {
        var waiting: [Waiter] = []
        var running = false
        /// Committed, waiting for the next flush.
        var committed: [Waiter] = []
        var flushing = false
    }

    private let state = NIOLockedValueBox(State())
    private let commit: Commit
    private let sync: Sync?
    private let maxItemsPerCommit: Int
    private let commitQueue: DispatchQueue
    private let flushQueue: DispatchQueue
    /// Signalled when a flush takes the committed groups; the commit loop waits on it so it runs
    /// at most one group ahead of the flushes. Without that bound a fast writer commits tiny groups
    /// back to back, and every commit rewrites the same half-filled pages into the log.
    private let flushTook = NSCondition()

    /// - Parameters:
    ///   - maxItemsPerCommit: bounds one transaction's size (a group may still exceed it by one
    ///     writer's items, since a writer's items are never split).
    ///   - sync: when given, a committed group is answered only after a `sync` that started after
    ///     its commit. Flushes run beside the commits, not between them: while one group is
    ///     flushed to disk the next one is already being written.
    public init(label: String = "switchyard.group-commit", maxItemsPerCommit: Int = 20_000, sync: Sync? = nil, commit: @escaping Commit) {
        self.commit = commit
        self.sync = sync
        self.maxItemsPerCommit = maxItemsPerCommit
        commitQueue = DispatchQueue(label: label)
        flushQueue = DispatchQueue(label: label + ".flush")
    }

    /// Returns once `items` are committed (and synced), with the commit's outputs for them.
    public func write(_ items: [Item]) async throws(StoreError) -> [Output] {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Output], any Error>) in
                let start = state.withLockedValue { state -> Bool in
                    state.waiting.append(Waiter(items: items, continuation: continuation))
                    if state.running { return false }
                    state.running = true
                    return true
                }
                if start {
                    commitQueue.async { self.drain() }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    private func drain() {
        while true {
            if sync != nil {
                flushTook.lock()
                while state.withLockedValue({ $0.flushing && !$0.committed.isEmpty }) { flushTook.wait() }
                flushTook.unlock()
            }
            var group: [Waiter] = state.withLockedValue { state in
                guard !state.waiting.isEmpty else {
                    state.running = false
                    return []
                }
                var taken = 0
                var count = 0
                while taken < state.waiting.count, count == 0 || count + state.waiting[taken].items.count <= maxItemsPerCommit {
                    count += state.waiting[taken].items.count
                    taken += 1
                }
                let group = Array(state.waiting.prefix(taken))
                state.waiting.removeFirst(taken)
                return group
            }
            if group.isEmpty { return }
            do {
                // Closures, not key paths: a key path into this generic type is instantiated
                // by the runtime at every use, which cost about 1% of the server's CPU.
                let outputs = try commit(group.flatMap { $0.items }).runs(ofSizes: group.map { $0.items.count })
                for n in group.indices { group[n].outputs = outputs[n] }
            } catch {
                for waiter in group { waiter.continuation.resume(throwing: error) }
                continue
            }
            guard sync != nil else {
                for waiter in group { waiter.continuation.resume(returning: waiter.outputs) }
                continue
            }
            let start = state.withLockedValue { state -> Bool in
                state.committed += group
                if state.flushing { return false }
                state.flushing = true
                return true
            }
            if start {
                flushQueue.async { self.flush() }
            }
        }
    }

    private func flush() {
        guard let sync else { return }
        while true {
            let group: [Waiter] = state.withLockedValue { state in
                defer { state.committed = [] }
                if state.committed.isEmpty { state.flushing = false }
                return state.committed
            }
            flushTook.lock()
            flushTook.broadcast()
            flushTook.unlock()
            if group.isEmpty { return }
            do {
                try sync()
                for waiter in group { waiter.continuation.resume(returning: waiter.outputs) }
            } catch {
                for waiter in group { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
