import NIOConcurrencyHelpers

/// The next claim of a worker, made while its last round of sends goes out so the sends never
/// wait for a claim: a child task of the worker's task group makes it and leaves the result
/// here, where the worker takes it when it runs out of batches (or gives it back at shutdown).
final class ClaimAhead: Sendable {
    typealias Claimed = DeliveryWorker.Claimed

    private enum State {
        case idle
        case claiming
        case claimed(Claimed)
    }

    private let state = NIOLockedValueBox(State.idle)
    private let done = Wakeup()

    /// Marks a claim as started; false when one is already under way or waiting.
    func start() -> Bool {
        state.withLockedValue { state in
            guard case .idle = state else { return false }
            state = .claiming
            return true
        }
    }

    /// Leaves the claim's result for `take`.
    func finish(_ claimed: Claimed) {
        state.withLockedValue { $0 = .claimed(claimed) }
        done.signal()
    }

    /// The claim made ahead, waiting for it if it is still under way; nil when none was started.
    func take() async -> Claimed? {
        while true {
            let generation = done.generation
            let taken = state.withLockedValue { state -> (Claimed?, Bool) in
                switch state {
                case .idle: return (nil, true)
                case .claiming: return (nil, false)
                case .claimed(let claimed):
                    state = .idle
                    return (claimed, true)
                }
            }
            if taken.1 { return taken.0 }
            await done.wait(since: generation, timeout: .seconds(60))
        }
    }
}
