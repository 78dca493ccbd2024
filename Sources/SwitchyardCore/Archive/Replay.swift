/// A replay: the archived (and still stored) events of a time range sent again to chosen
/// destinations, as EventBridge replays an archive. Each replayed event is stored anew under the
/// source `replay:<name>` with `context.replay.name` set, and goes through the destinations'
/// filters, rules, consent, privacy and transformations as a live event does.
public struct Replay: Sendable, Hashable {
    /// EventBridge's states.
    public enum State: String, Sendable, Hashable, CaseIterable {
        case starting = "STARTING"
        case running = "RUNNING"
        case cancelling = "CANCELLING"
        case completed = "COMPLETED"
        case cancelled = "CANCELLED"
        case failed = "FAILED"

        public var isFinished: Bool { self == .completed || self == .cancelled || self == .failed }
    }

    /// Which of the range's events are sent again.
    public struct Filter: Sendable, Hashable {
        public var sources: [String]?
        public var types: [MessageType]?
        public var events: [String]?
        public var pattern: EventPattern?

        public init(sources: [String]? = nil, types: [MessageType]? = nil, events: [String]? = nil, pattern: EventPattern? = nil) {
            self.sources = sources
            self.types = types
            self.events = events
            self.pattern = pattern
        }

        public func admits(source: String, event: Event, message: () -> JSONObject?) -> Bool {
            if let sources, !sources.contains(source) { return false }
            if let types, !types.contains(event.type) { return false }
            if let events, !events.contains(event.name ?? "") { return false }
            if let pattern {
                guard let message = message() else { return false }
                return pattern.matches(.object(message))
            }
            return true
        }
    }

    /// How far it got: what a restart resumes from, and what the API shows.
    public struct Progress: Sendable, Hashable {
        /// The archive's position when the replay first ran: files up to it are read, then the
        /// store's events after it.
        public var archivedThrough: Int64?
        /// Archive files in the range, and how many are done.
        public var filesTotal = 0
        public var filesDone = 0
        /// The last file done (`window|key`, in the order files are read).
        public var lastFile: String?
        /// In the store phase: the last event id read.
        public var storeAfter: Int64?
        public var eventsRead = 0
        /// Events stored again, each with its jobs.
        public var eventsSent = 0
        /// Left out: suppressed users, and events the filter or no destination took.
        public var eventsSkipped = 0
        /// The receipt time of the last event sent (EventBridge's `EventLastReplayedTime`).
        public var lastReplayedTime: Timestamp?

        public init() {}
    }

    public var name: String
    public var from: Timestamp
    public var to: Timestamp
    public var destinations: [String]
    public var filter: Filter
    /// Events per second at most, so live traffic keeps its throughput.
    public var rate: Int
    public var state: State
    public var createdAt: Timestamp
    public var finishedAt: Timestamp?
    public var reason: String?
    public var progress: Progress

    public init(
        name: String,
        from: Timestamp,
        to: Timestamp,
        destinations: [String],
        filter: Filter = .init(),
        rate: Int = Replay.defaultRate,
        state: State = .starting,
        createdAt: Timestamp
    ) {
        self.name = name
        self.from = from
        self.to = to
        self.destinations = destinations
        self.filter = filter
        self.rate = rate
        self.state = state
        self.createdAt = createdAt
        progress = Progress()
    }

    public static let defaultRate = 1_000
    /// The source replayed events are stored under.
    public static let sourcePrefix = "replay:"

    public var source: String { Self.sourcePrefix + name }

    /// Whether two replays would send some of the same events to the same destination.
    public func overlaps(_ other: Replay) -> Bool {
        from < other.to && other.from < to && !Set(destinations).isDisjoint(with: other.destinations)
    }

    /// EventBridge's rules for a name: 1 to 64 of letters, digits, `.`, `-` and `_`.
    public static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count)
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || ".-_".unicodeScalars.contains($0))
            }
    }
}

/// Where replays are kept, so one survives a restart and resumes where it was; on PostgreSQL
/// every node sees them and one runs each, by lease.
public protocol ReplayStore: Sendable {
    /// Records a new replay; throws `ReplayConflict.exists` when the name is taken.
    func createReplay(_ replay: Replay) async throws
    /// Every replay, oldest first.
    func replays() async throws -> [Replay]
    func replay(named name: String) async throws -> Replay?
    /// A starting or running replay becomes cancelling (its runner stops it); returns it as it
    /// now stands, nil when there is none by that name.
    func cancelReplay(named name: String) async throws -> Replay?
    /// The oldest replay still to run that no live node holds, leased to this node.
    func claimReplay(leaseFor: Duration) async throws -> Replay?
    /// Stores the runner's progress and state, renewing its lease; returns the state as stored,
    /// which a cancel may have made `cancelling` meanwhile. Throws `ReplayConflict.leaseLost`
    /// when another node took the replay over.
    func saveReplay(_ replay: Replay, leaseFor: Duration) async throws -> Replay.State
}

public enum ReplayConflict: Error, Equatable, CustomStringConvertible {
    case exists(String)
    case leaseLost(String)

    public var description: String {
        switch self {
        case .exists(let name): return "a replay named \"\(name)\" exists already"
        case .leaseLost(let name): return "another node runs replay \"\(name)\" now"
        }
    }
}
