import NIOConcurrencyHelpers
import SwitchyardCore

/// Group commit for a database that is written over the network: callers wait while one
/// transaction is in flight, then everything that arrived meanwhile goes into the next one.
/// One transaction (a few round trips and one WAL flush on the server) then carries many
/// requests, which is what keeps a remote database from bounding ingestion at one commit per
/// request.
///
/// The state is an enum behind a lock, driven by `run()` (the committing loop, which the store
/// runs in its service) and `submit` (callers); neither sleeps on a timer.
final class CommitBatcher<Item: Sendable, Output: Sendable>: Sendable {
    /// Commits the items and says what became of each (one output per item, in order, or none).
    typealias Commit = @Sendable ([Item]) async throws(StoreError) -> [Output]

    private struct Waiting {
        var items: [Item]
        var continuation: CheckedContinuation<[Output], any Error>
    }

    private enum State {
        /// The loop is committing or about to look for work; `queued` waits for the next round.
        case running(queued: [Waiting], idle: CheckedContinuation<Void, Never>?)
        /// The store is shutting down: new writes are refused.
        case stopped
    }

    private let state = NIOLockedValueBox(State.running(queued: [], idle: nil))
    private let maxItems: Int

    init(maxItems: Int) {
        self.maxItems = maxItems
    }

    /// Returns once `items` are committed, with the commit's outputs for them, or throws the
    /// commit's error.
    func submit(_ items: [Item]) async throws(StoreError) -> [Output] {
        do {
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Output], any Error>) in
                let wake: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
                    switch state {
                    case .stopped:
                        continuation.resume(throwing: StoreError.unavailable("the store is shutting down"))
                        return nil
                    case .running(var queued, let idle):
                        queued.append(Waiting(items: items, continuation: continuation))
                        state = .running(queued: queued, idle: nil)
                        return idle
                    }
                }
                wake?.resume()
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable("\(error)")
        }
    }

    /// The committing loop; returns when cancelled, refusing what is still queued. The commit is
    /// given here rather than at init, so the store that owns the batcher can pass its own method.
    func run(_ commit: Commit) async {
        while !Task.isCancelled {
            let batch = await nextBatch()
            guard !batch.isEmpty else { continue }
            do {
                let outputs = try await commit(batch.flatMap(\.items)).runs(ofSizes: batch.map(\.items.count))
                for (waiting, mine) in zip(batch, outputs) { waiting.continuation.resume(returning: mine) }
            } catch {
                for waiting in batch { waiting.continuation.resume(throwing: error) }
            }
        }
        let left: [Waiting] = state.withLockedValue { state in
            defer { state = .stopped }
            if case .running(let queued, let idle) = state {
                idle?.resume()
                return queued
            }
            return []
        }
        for waiting in left { waiting.continuation.resume(throwing: StoreError.unavailable("the store is shutting down")) }
    }

    /// Takes whole requests up to `maxItems` (at least one), or waits until one arrives.
    private func nextBatch() async -> [Waiting] {
        let taken: [Waiting]? = state.withLockedValue { state in take(&state) }
        if let taken { return taken }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (idle: CheckedContinuation<Void, Never>) in
                let ready: Bool = state.withLockedValue { state in
                    guard case .running(let queued, _) = state, queued.isEmpty, !Task.isCancelled else { return true }
                    state = .running(queued: [], idle: idle)
                    return false
                }
                if ready { idle.resume() }
            }
        } onCancel: {
            let idle: CheckedContinuation<Void, Never>? = state.withLockedValue { state in
                guard case .running(let queued, let idle) = state else { return nil }
                state = .running(queued: queued, idle: nil)
                return idle
            }
            idle?.resume()
        }
        return state.withLockedValue { state in take(&state) } ?? []
    }

    private func take(_ state: inout State) -> [Waiting]? {
        guard case .running(var queued, let idle) = state, !queued.isEmpty else { return nil }
        var count = 0
        var end = 0
        while end < queued.count, end == 0 || count + queued[end].items.count <= maxItems {
            count += queued[end].items.count
            end += 1
        }
        let batch = Array(queued[..<end])
        queued.removeFirst(end)
        state = .running(queued: queued, idle: idle)
        return batch
    }
}
