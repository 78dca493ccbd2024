/// One accepted event and the destinations that get a job for it; stored together, atomically.
public struct NewEvent: Sendable {
    public var source: String
    public var event: Event
    public var targets: [JobTarget]
    /// Until when (milliseconds since the epoch) this event's message id makes a later event
    /// with the same id from the same source a duplicate, which is not stored. Nil: the event
    /// is stored whatever came before, and leaves no mark (heartbeats, sources with dedup off).
    public var dedupUntil: Int64?
    /// Destinations the event was routed to but may not get (it lacks their consent): each is
    /// a `skipped` log record, written with the event so the log says why no job exists.
    public var skipped: [SkippedTarget]
    /// Other records about the event, written with it and linked to it (a tracking plan's
    /// violations); their ids are assigned by the store.
    public var records: [LogRecord] = []

    public var destinations: [String] { targets.map(\.destination) }

    public init(source: String, event: Event, targets: [JobTarget], skipped: [SkippedTarget] = []) {
        self.source = source
        self.event = event
        self.targets = targets
        self.skipped = skipped
    }

    /// Jobs with no ordering key.
    public init(source: String, event: Event, destinations: [String]) {
        self.init(source: source, event: event, targets: destinations.map { JobTarget(destination: $0) })
    }
}

/// A destination an event gets no job for, and why (which consent it lacks; never its data).
public struct SkippedTarget: Sendable, Hashable {
    public var destination: String
    public var reason: String

    public init(destination: String, reason: String) {
        self.destination = destination
        self.reason = reason
    }
}

/// One job to create: the destination, and the key its events are ordered by when the
/// destination asks for per-key order (`DeliveryOrdering.perKey`).
public struct JobTarget: Sendable, Hashable {
    public var destination: String
    /// While a job of this destination with the same key is not yet delivered or dead, this one
    /// waits `blocked` behind it.
    public var orderingKey: String?
    /// The destination rule this job is for; one event gets a job per rule it matches.
    public var rule: String?

    public init(destination: String, orderingKey: String? = nil, rule: String? = nil) {
        self.destination = destination
        self.orderingKey = orderingKey
        self.rule = rule
    }
}

/// A job's life, as in rudder-server's router: pending → inFlight (leased) → succeeded | failed
/// (retried at a time) | dead (given up, with a reason). A job ordered by key starts `blocked`
/// when an earlier job of its key is still to be delivered, and becomes pending when that one is
/// delivered or dead.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case pending
    case inFlight = "in_flight"
    case succeeded
    case failed
    case dead
    case blocked

    /// The states of a job still to be delivered.
    public static let waiting: [JobState] = [.pending, .failed, .inFlight, .blocked]
}

/// Encoded as JSON object keys by name (`"in_flight": 3`), not as an array of pairs.
extension JobState: CodingKeyRepresentable {}

/// A job claimed for delivery. `lease` proves the claim: a worker whose lease expired and was
/// claimed again by another cannot overwrite the newer result.
public struct Job: Sendable, Hashable {
    public var id: Int64
    /// The stored event's row.
    public var eventID: Int64 = 0
    public var lease: Int64
    public var destination: String
    /// Attempts including this one.
    public var attempt: Int
    public var source: String
    public var messageId: String
    public var type: MessageType
    public var name: String?
    public var userId: String?
    public var receivedAt: Timestamp
    public var payload: [UInt8]
    /// Set when the destination orders its jobs by key.
    public var orderingKey: String?
    /// The destination rule the job is for, when the destination has rules.
    public var rule: String?
    /// What the destination's transformations made of the event (a JSON array of events),
    /// stored before the first send so every attempt sends the same. Nil: not transformed yet.
    public var output: [UInt8]?

    public init(
        id: Int64,
        eventID: Int64 = 0,
        lease: Int64,
        destination: String,
        attempt: Int,
        source: String,
        messageId: String,
        type: MessageType,
        name: String?,
        userId: String?,
        receivedAt: Timestamp,
        payload: [UInt8],
        orderingKey: String? = nil,
        rule: String? = nil,
        output: [UInt8]? = nil
    ) {
        self.rule = rule
        self.output = output
        self.id = id
        self.eventID = eventID
        self.lease = lease
        self.destination = destination
        self.attempt = attempt
        self.source = source
        self.messageId = messageId
        self.type = type
        self.name = name
        self.userId = userId
        self.receivedAt = receivedAt
        self.payload = payload
        self.orderingKey = orderingKey
    }
}

/// What became of a delivery attempt.
public enum JobOutcome: Sendable, Hashable {
    case succeeded
    /// Try again no earlier than `at`.
    case retry(at: Timestamp, error: String)
    /// Never try again; `reason` says why, for the dead-letter list.
    case dead(reason: String)
    /// Not sent, on purpose: a transformation returned nothing for it. Final, and not a dead
    /// letter; `reason` names the transformation.
    case dropped(reason: String)
}

public struct JobResult: Sendable, Hashable {
    public var jobID: Int64
    public var lease: Int64
    public var outcome: JobOutcome
    /// What the delivery log records about this attempt, written with the outcome.
    public var log: AttemptLog?
    /// The job's destination and ordering key, when it has one: its delivery or dead letter lets
    /// the next job of the key go.
    public var ordering: JobTarget?
    /// Replaces the job's stored `output` (with a retry: the events of a fan-out not yet
    /// delivered, so a retry does not send the delivered ones again). Nil keeps it.
    public var output: [UInt8]?

    public init(jobID: Int64, lease: Int64, outcome: JobOutcome, log: AttemptLog? = nil, ordering: JobTarget? = nil) {
        self.jobID = jobID
        self.lease = lease
        self.outcome = outcome
        self.log = log
        self.ordering = ordering
    }

    public init(job: Job, outcome: JobOutcome, log: AttemptLog?) {
        self.init(
            jobID: job.id,
            lease: job.lease,
            outcome: outcome,
            log: log,
            ordering: job.orderingKey.map { JobTarget(destination: job.destination, orderingKey: $0) }
        )
    }
}

/// The facts of one attempt for the delivery log.
public struct AttemptLog: Sendable, Hashable {
    public var job: Job
    /// Nil when the job was dead-lettered before any send.
    public var batchId: String?
    public var requestId: String?
    public var result: EntryOutcome?
    /// The entry as sent, recorded with the first attempt.
    public var entry: JSONValue?
    /// Its size on the wire, which the sender already knows.
    public var entrySize: Int?
    /// The entry's JSON exactly as sent, without the event it embeds: stores keep it as is
    /// instead of encoding `entry` again.
    public var entryText: EntryText?
    /// What the destination's transformations did, when this result is theirs (a drop, a failure).
    public var transformation: TransformationLog?

    public init(
        job: Job,
        batchId: String?,
        requestId: String?,
        result: EntryOutcome?,
        entry: JSONValue?,
        entrySize: Int? = nil,
        entryText: EntryText? = nil
    ) {
        self.job = job
        self.batchId = batchId
        self.requestId = requestId
        self.result = result
        self.entry = entry
        self.entrySize = entrySize
        self.entryText = entryText
    }
}

/// Counts for operators and the readiness check.
public struct QueueStats: Sendable, Hashable, Codable {
    public struct Destination: Sendable, Hashable, Codable {
        /// Jobs per state; a state with none is left out.
        public var counts: [JobState: Int]
        /// Age of the oldest job still waiting to be delivered, in milliseconds.
        public var oldestWaitingAgeMs: Int64?

        public init(counts: [JobState: Int] = [:], oldestWaitingAgeMs: Int64? = nil) {
            self.counts = counts
            self.oldestWaitingAgeMs = oldestWaitingAgeMs
        }

        /// Jobs still to be delivered: pending, failed (due again later), in flight, or blocked
        /// behind an earlier job of their key.
        public var waiting: Int {
            JobState.waiting.reduce(0) { $0 + (counts[$1] ?? 0) }
        }
    }

    public var events: Int
    public var destinations: [String: Destination]

    public init(events: Int, destinations: [String: Destination]) {
        self.events = events
        self.destinations = destinations
    }
}

/// Why a write was refused. Either way the client gets a 503 and retries; nothing is half-stored.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// `storage.maxQueuedJobs` is reached: destinations are behind.
    case full(queued: Int, limit: Int)
    /// The disk is full or failing, or the database cannot be written.
    case unavailable(String)

    public var description: String {
        switch self {
        case .full(let queued, let limit): return "queue is full (\(queued) jobs waiting, limit \(limit))"
        case .unavailable(let reason): return "storage unavailable: \(reason)"
        }
    }
}

extension Array {
    /// The elements cut into consecutive runs of the given sizes; empty runs when the array is
    /// empty. A group commit hands each writer the outputs for its own items this way.
    public func runs(ofSizes sizes: [Int]) -> [[Element]] {
        var start = 0
        return sizes.map { size in
            defer { start += size }
            return isEmpty ? [] : Array(self[start..<start + size])
        }
    }
}

/// What an append stored. Events whose message id the source sent within its dedup window
/// (earlier, or earlier in the same write) are left out, with their jobs.
public struct Appended: Sendable, Hashable {
    /// Events not stored because they are duplicates.
    public var duplicates: Int
    /// The jobs those duplicates would have had.
    public var duplicateJobs: Int

    public init(duplicates: Int = 0, duplicateJobs: Int = 0) {
        self.duplicates = duplicates
        self.duplicateJobs = duplicateJobs
    }

    /// Counts one duplicate event.
    public mutating func add(_ item: NewEvent) {
        duplicates += 1
        duplicateJobs += item.targets.count
    }

    /// The result of a write that said of each event whether it was a duplicate.
    public init(_ events: [NewEvent], duplicates flags: [Bool]) {
        self.init()
        for (item, duplicate) in zip(events, flags) where duplicate { add(item) }
    }
}
