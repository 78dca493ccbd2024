import NIOConcurrencyHelpers

/// Lets delivery workers sleep until there is something to do: new jobs committed, or a send
/// finished and freed a slot. A signal wakes every waiter; a waiter also wakes after its timeout.
/// Each signal also advances `generation`: a waiter that passes the generation it saw before it
/// last looked returns at once if a signal came in between, so none is missed.
public final class Wakeup: Sendable {
    private struct State {
        var generation = 0
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waits that were ended before their continuation was registered.
        var ended: Set<Int> = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public var generation: Int { state.withLockedValue { $0.generation } }

    public func signal() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// - Parameter since: a `generation` read earlier; if a signal has come since, returns at once.
    public func wait(since: Int? = nil, timeout: Duration) async {
        let registered = state.withLockedValue { state -> (id: Int, generation: Int)? in
            if let since, since != state.generation { return nil }
            state.nextID += 1
            return (state.nextID, state.generation)
        }
        guard let (id, generation) = registered else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.end(id)
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLockedValue { state -> Bool in
                            // Ended already, or signalled between the check above and now.
                            if state.ended.remove(id) != nil || state.generation != generation { return true }
                            state.waiters[id] = continuation
                            return false
                        }
                        if resumeNow { continuation.resume() }
                    }
                } onCancel: {
                    self.end(id)
                }
            }
            await group.next()
            group.cancelAll()
        }
        state.withLockedValue { _ = $0.ended.remove(id) }
    }

    /// Ends one wait: resumes it if it is registered, or marks it so it returns as soon as it registers.
    private func end(_ id: Int) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<Void, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            state.ended.insert(id)
            return nil
        }
        waiter?.resume()
    }
}
