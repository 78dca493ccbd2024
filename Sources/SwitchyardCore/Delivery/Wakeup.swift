import NIOConcurrencyHelpers

/// Lets delivery workers sleep until there is something to do: new jobs committed, or a send
/// finished and freed a slot. A signal wakes every waiter; a waiter also wakes after its timeout,
/// so a missed signal costs at most one poll interval.
public final class Wakeup: Sendable {
    private struct State {
        var nextID = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        /// Waits that were ended before their continuation was registered.
        var ended: Set<Int> = []
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func signal() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    public func wait(timeout: Duration) async {
        let id = state.withLockedValue { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.end(id)
            }
            group.addTask {
                await withTaskCancellationHandler {
                    await withCheckedContinuation { continuation in
                        let resumeNow = self.state.withLockedValue { state -> Bool in
                            if state.ended.remove(id) != nil { return true }
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
