/// One accepted event and the destinations that get a job for it; stored together, atomically.
public struct NewEvent: Sendable {
    public var source: String
    public var event: Event
    public var targets: [JobTarget]

    public var destinations: [String] { targets.map(\.destination) }

    public init(source: String, event: Event, targets: [JobTarget]) {
        self.source = source
        self.event = event
        self.targets = targets
    }

    /// Jobs with no ordering key.
    public init(source: String, event: Event, destinations: [String]) {
        self.init(source: source, event: event, targets: destinations.map { JobTarget(destination: $0) })
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

/// A job's life, as in the anchor's router: pending → inFlight (leased) → succeeded | failed
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
}

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

    public init(id: Int64, eventID: Int64 = 0, lease: Int64, destination: String, attempt: Int, source: String, messageId: String, type: MessageType,
                name: String?, userId: String?, receivedAt: Timestamp, payload: [UInt8], orderingKey: String? = nil, rule: String? = nil) {
        self.rule = rule
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

    public init(jobID: Int64, lease: Int64, outcome: JobOutcome, log: AttemptLog? = nil, ordering: JobTarget? = nil) {
        self.jobID = jobID
        self.lease = lease
        self.outcome = outcome
        self.log = log
        self.ordering = ordering
    }

    public init(job: Job, outcome: JobOutcome, log: AttemptLog?) {
        self.init(jobID: job.id, lease: job.lease, outcome: outcome, log: log,
                  ordering: job.orderingKey.map { JobTarget(destination: job.destination, orderingKey: $0) })
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
    /// The entry's JSON exactly as sent, stored without encoding `entry` again.
    public var entryText: [UInt8]?
    /// Where `entryText` had the event's own JSON cut out (`EmbeddedEvent`), if it did.
    public var entryEventOffset: Int?

    public init(job: Job, batchId: String?, requestId: String?, result: EntryOutcome?, entry: JSONValue?, entrySize: Int? = nil, entryText: [UInt8]? = nil) {
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
        public var counts: [String: Int]
        /// Age of the oldest job still waiting to be delivered, in milliseconds.
        public var oldestWaitingAgeMs: Int64?

        /// Jobs still to be delivered: pending, failed (due again later), in flight, or blocked
        /// behind an earlier job of their key.
        public var waiting: Int {
            (counts["pending"] ?? 0) + (counts["failed"] ?? 0) + (counts["in_flight"] ?? 0) + (counts["blocked"] ?? 0)
        }
    }

    public var events: Int
    public var destinations: [String: Destination]
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

/// The durable queue behind ingestion and delivery. The SQLite store is the embedded default; a
/// PostgreSQL one for several nodes implements the same protocol, so neither ingestion nor
/// delivery code changes.
public protocol JobStore: Sendable {
    /// Stores the events and their jobs. Returns only once they are committed to disk (as far as
    /// the configured sync mode promises), which is when the client may be told 200.
    func append(_ events: [NewEvent]) async throws(StoreError)

    /// Leases up to `limit` due jobs of a destination, oldest first. Leases that ran out (a worker
    /// that crashed) make their jobs due again. A blocked job is never due: of the jobs of one
    /// ordering key, only the oldest still to be delivered can be claimed.
    func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job]

    /// Records outcomes; a result whose lease is no longer current is ignored.
    func finish(_ results: [JobResult]) async throws

    /// Gives leased jobs back untried (graceful shutdown), without counting the attempt.
    func release(_ jobs: [Job]) async throws

    /// Jobs waiting and dead-lettered per destination, and the age of the oldest waiting event:
    /// what the summary and metrics read on every poll, so it costs only the backlog's size.
    func backlog() async throws -> [String: QueueStats.Destination]

    /// The backlog plus stored events and delivered jobs: a full count, for `switchyard queue stats`.
    func stats() async throws -> QueueStats

    /// Grows whenever jobs may have become claimable: new ones committed, blocked ones let go,
    /// dead letters replayed. A worker reads it before it claims and passes it to
    /// `waitForNewJobs`, so nothing that happens in between is missed.
    var newJobsGeneration: Int { get }

    /// Returns at once when `newJobsGeneration` has moved past `generation`, else when it does,
    /// or after `timeout`; delivery workers sleep on it.
    func waitForNewJobs(since generation: Int, timeout: Duration) async

    /// Throws unless a write can be committed now; `/ready` uses it.
    func checkWritable() async throws

    /// Committed delivery-log records, as they are committed.
    var liveLog: LiveLogHub { get }

    /// Stored records matching a filter, newest first, before a record id (for paging).
    func records(_ query: LogQuery) async throws -> [LogRecord]

    /// Records after a record id, oldest first: what a resuming live reader missed.
    func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord]

    /// One event's whole story: the stored event, its jobs, and every record about it.
    func story(messageId: String) async throws -> EventStory?

    /// Dead-lettered jobs, newest first.
    func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter]

    /// Puts matching dead letters back in the queue, their attempts starting over; returns how many.
    func replay(_ query: DeadLetterQuery) async throws -> Int

    /// Deletes log records, finished jobs and their events past the retention limits.
    func prune(_ retention: RetentionConfig) async throws -> PruneReport
}
