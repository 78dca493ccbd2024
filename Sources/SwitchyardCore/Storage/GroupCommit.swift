import NIOConcurrencyHelpers

/// Shares one commit among many concurrent writers. While a commit is running, new writes wait;
/// when it ends, all of them go into the next transaction together. One fsync then serves every
/// request that arrived during the previous one, so throughput grows with load instead of
/// collapsing to one fsync per request.
public final class GroupCommit<Item: Sendable>: Sendable {
    public typealias Commit = @Sendable ([Item]) async throws(StoreError) -> Void

    private struct Waiter {
        var items: [Item]
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var waiting: [Waiter] = []
        var running = false
    }

    private let state = NIOLockedValueBox(State())
    private let commit: Commit
    private let maxItemsPerCommit: Int

    /// - Parameter maxItemsPerCommit: bounds one transaction's size (a group may still exceed it
    ///   by one writer's items, since a writer's items are never split).
    public init(maxItemsPerCommit: Int = 20_000, commit: @escaping Commit) {
        self.commit = commit
        self.maxItemsPerCommit = maxItemsPerCommit
    }

    public func write(_ items: [Item]) async throws(StoreError) {
        do {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let start = state.withLockedValue { state -> Bool in
                    state.waiting.append(Waiter(items: items, continuation: continuation))
                    if state.running { return false }
                    state.running = true
                    return true
                }
                if start {
                    Task.detached { await self.drain() }
                }
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    private func drain() async {
        while true {
            let group: [Waiter] = state.withLockedValue { state in
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
                try await commit(group.flatMap(\.items))
                for waiter in group { waiter.continuation.resume() }
            } catch {
                for waiter in group { waiter.continuation.resume(throwing: error) }
            }
        }
    }
}
