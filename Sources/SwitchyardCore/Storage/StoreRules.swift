/// The rules of the queue that do not depend on a database, written once: every store applies
/// them to its own rows (in SQL, in memory), and the conformance suite checks that they did.

extension JobOutcome {
    /// Delivered or dead-lettered: the job leaves the waiting jobs, and the next job of its
    /// ordering key may go. A retry keeps its place and its key.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .dead, .dropped: return true
        case .retry: return false
        }
    }

    /// The state the job is left in.
    public var state: JobState {
        switch self {
        case .succeeded, .dropped: return .succeeded
        case .retry: return .failed
        case .dead: return .dead
        }
    }

    /// When the job is next due (a retry), or when it ended.
    public func availableAt(now: Timestamp) -> Timestamp {
        if case .retry(let at, _) = self { return at }
        return now
    }

    /// What the job's `last_error` becomes; nil keeps the previous one (a success after retries
    /// still shows why it was retried).
    public var error: String? {
        switch self {
        case .succeeded: return nil
        case .retry(_, let error): return error
        case .dead(let reason): return reason
        case .dropped(let reason): return reason
        }
    }
}

extension JobResult {
    /// The destination and key whose oldest blocked job this outcome lets go, if any.
    public var releasedKey: (destination: String, key: String)? {
        guard outcome.isFinal, let ordering, let key = ordering.orderingKey else { return nil }
        return (ordering.destination, key)
    }
}

/// Per-key order (`DeliveryOrdering.perKey`): of a key's jobs still to be delivered only the
/// oldest can be claimed; the others wait `blocked`, never due, and are let go one at a time,
/// oldest first, as the one ahead is delivered or dead-lettered.
public enum KeyedOrder {
    /// A blocked job's due time: later than any claim looks.
    public static let never = Int64.max

    /// How a new or replayed job of a key starts: blocked when an earlier job of its key is
    /// still to be delivered (in the store, or earlier in the same write), else due at `due`.
    public static func start(keyBusy: Bool, due: Int64) -> (state: JobState, availableAt: Int64) {
        keyBusy ? (.blocked, never) : (.pending, due)
    }
}

extension LogRecord {
    /// An event's `received` record. Stores that keep the log and the events in one sequence
    /// read it back from the event's own row (same id) instead of storing it.
    public static func received(_ item: NewEvent, id: Int64) -> LogRecord {
        let e = item.event
        var record = LogRecord(at: e.receivedAt, kind: .received, messageId: e.messageId, status: "received")
        record.id = id
        record.eventID = id
        record.source = item.source
        record.type = e.type.rawValue
        record.event = e.name
        record.userId = e.userId ?? e.anonymousId
        record.size = e.payload.count
        return record
    }

    /// The records of the destinations an event was not sent to for lack of consent, written
    /// with the event (`eventID`), at its receipt; ids are the store's to give.
    /// Every record written with a new event: its `skipped` destinations, then its own records.
    public static func withEvent(_ item: NewEvent, eventID: Int64) -> [LogRecord] {
        guard !item.records.isEmpty else { return skipped(item, eventID: eventID) }
        return skipped(item, eventID: eventID)
            + item.records.map { record in
                var record = record
                record.eventID = eventID
                return record
            }
    }

    public static func skipped(_ item: NewEvent, eventID: Int64) -> [LogRecord] {
        let e = item.event
        return item.skipped.map { target in
            var record = LogRecord(at: e.receivedAt, kind: .skipped, messageId: e.messageId, status: "skipped")
            record.eventID = eventID
            record.source = item.source
            record.destination = target.destination
            record.type = e.type.rawValue
            record.event = e.name
            record.userId = e.userId ?? e.anonymousId
            record.errorMessage = target.reason
            return record
        }
    }

    /// The record of a dead letter put back in the queue; it keeps the reason it had died.
    public static func replayed(_ letter: ReplayedJob, at now: Timestamp) -> LogRecord {
        var record = LogRecord(at: now, kind: .replayed, messageId: letter.messageId, status: "waiting")
        record.eventID = letter.eventID
        record.source = letter.source
        record.destination = letter.destination
        record.type = letter.type
        record.event = letter.event
        record.userId = letter.userId
        record.errorMessage = letter.lastError
        record.rule = letter.rule
        return record
    }
}

/// A dead letter as a replay reads it, whatever store it came from.
public struct ReplayedJob: Sendable, Hashable {
    public var jobID: Int64
    public var eventID: Int64
    public var messageId: String
    public var source: String
    public var destination: String
    public var type: String
    public var event: String?
    public var userId: String?
    public var lastError: String?
    public var orderingKey: String?
    public var rule: String?

    public init(
        jobID: Int64,
        eventID: Int64,
        messageId: String,
        source: String,
        destination: String,
        type: String,
        event: String?,
        userId: String?,
        lastError: String?,
        orderingKey: String?,
        rule: String?
    ) {
        self.jobID = jobID
        self.eventID = eventID
        self.messageId = messageId
        self.source = source
        self.destination = destination
        self.type = type
        self.event = event
        self.userId = userId
        self.lastError = lastError
        self.orderingKey = orderingKey
        self.rule = rule
    }
}

extension RetentionConfig {
    /// What is old enough to go, as of `now`: delivered jobs (and events with no job left)
    /// received and settled before `delivered`, dead letters given up before `deadLetters`,
    /// log records written before `log`.
    public struct Cutoffs: Sendable, Hashable {
        public var delivered: Int64
        public var deadLetters: Int64
        public var log: Int64
    }

    public func cutoffs(at now: Timestamp) -> Cutoffs {
        let ms = now.millisecondsSinceEpoch
        return Cutoffs(delivered: ms - delivered.milliseconds, deadLetters: ms - deadLetters.milliseconds, log: ms - log.milliseconds)
    }
}

/// Deduplication by message id, as every store decides it. A stored event with `dedupUntil`
/// leaves a mark for its source and message id until then; a later event with a mark still
/// standing at its receipt time is a duplicate.
public enum DedupRule {
    /// Whether `item` is a duplicate, given the mark its source and message id have (if any).
    public static func isDuplicate(_ item: NewEvent, markedUntil: Int64?) -> Bool {
        guard item.dedupUntil != nil, let markedUntil else { return false }
        return markedUntil > item.event.receivedAt.millisecondsSinceEpoch
    }

    /// For each event, whether it is the first of its source and message id in this write;
    /// later copies are duplicates of it whatever the store holds. (Stores that check and mark
    /// a whole write in one statement need this; one that goes event by event sees its own
    /// marks.)
    public static func firstInWrite(_ events: [NewEvent]) -> [Bool] {
        var seen = Set<DedupKey>()
        return events.map { item in
            guard item.dedupUntil != nil else { return true }
            return seen.insert(DedupKey(item)).inserted
        }
    }
}

/// A source and a message id: what a dedup mark is kept under.
public struct DedupKey: Hashable, Sendable {
    public var source: String
    public var messageId: String

    public init(_ item: NewEvent) {
        source = item.source
        messageId = item.event.messageId
    }

    public init(source: String, messageId: String) {
        self.source = source
        self.messageId = messageId
    }
}
