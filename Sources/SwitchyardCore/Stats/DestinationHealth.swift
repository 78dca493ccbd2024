import NIOConcurrencyHelpers

/// How a destination is doing, from its last sends: what the console's health badge and
/// `switchyard top` show. Each node knows its own sends.
public struct DestinationHealth: Sendable, Hashable {
    public enum State: String, Sendable, Hashable {
        /// Nothing sent yet.
        case idle
        /// The last send delivered something.
        case delivering
        /// The last send failed in a way that is retried (throttled, a 5xx, a timeout).
        case retrying
        /// Sends are paused after one failed as a whole; the next probe is due at `pausedUntil`.
        case paused
        /// Refused with an auth or configuration error every event will meet until someone fixes it.
        case refusing
    }

    public struct Failure: Sendable, Hashable {
        public var at: Timestamp
        public var code: String
        public var message: String
    }

    public var state: State = .idle
    /// When the state began.
    public var since: Timestamp?
    public var reason: String?
    public var pausedUntil: Timestamp?
    public var lastDeliveredAt: Timestamp?
    public var lastFailure: Failure?

    public init() {}

    mutating func enter(_ new: State, at now: Timestamp, reason: String?) {
        if new != state { since = now }
        state = new
        self.reason = reason
    }

    /// One send's outcomes.
    mutating func sent(_ outcomes: [EntryOutcome], at now: Timestamp) {
        var delivered = false
        var retry: EntryOutcome.Failure?
        var refusal: EntryOutcome.Failure?
        var failure: EntryOutcome.Failure?
        for outcome in outcomes {
            switch outcome {
            case .delivered: delivered = true
            case .retry(let f):
                retry = f
                failure = f
            case .reject(let f):
                failure = f
                if f.misconfigured { refusal = f }
            }
        }
        if let f = refusal ?? failure { lastFailure = Failure(at: now, code: f.code, message: f.message) }
        if delivered { lastDeliveredAt = now }
        if let refusal {
            enter(.refusing, at: now, reason: refusal.description)
        } else if delivered {
            enter(.delivering, at: now, reason: nil)
        } else if let retry {
            // A pause says more than a retry; it ends when a send gets an answer.
            if state != .paused || pausedUntil == nil { enter(.retrying, at: now, reason: retry.description) }
        } else if state == .idle || state == .refusing {
            // Only single events refused (an entry too large, a field the destination rejects):
            // the destination itself answers.
            enter(.delivering, at: now, reason: nil)
        }
    }
}

/// Every destination's health on this node, behind one lock.
public final class DestinationHealthBoard: Sendable {
    private let board = NIOLockedValueBox([String: DestinationHealth]())

    public init() {}

    public func sent(_ destination: String, _ outcomes: [EntryOutcome], at now: Timestamp) {
        board.withLockedValue { $0[destination, default: DestinationHealth()].sent(outcomes, at: now) }
    }

    public func paused(_ destination: String, until: Timestamp, reason: String, at now: Timestamp) {
        board.withLockedValue { b in
            b[destination, default: DestinationHealth()].enter(.paused, at: now, reason: reason)
            b[destination]!.pausedUntil = until
        }
    }

    public func answering(_ destination: String) {
        board.withLockedValue { $0[destination]?.pausedUntil = nil }
    }

    public func health(_ destination: String) -> DestinationHealth {
        board.withLockedValue { $0[destination] ?? DestinationHealth() }
    }
}
