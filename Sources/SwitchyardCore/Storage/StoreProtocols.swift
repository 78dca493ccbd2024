/// The seams between the pipeline and where it keeps its state. Each is small enough to read in
/// one go and says nothing of SQL: the embedded SQLite store (`SwitchyardSQLite`) implements them
/// for one node, a PostgreSQL store for several sharing one database. Ingestion and delivery
/// only ever see these, and one conformance suite (`Tests/StoreConformanceTests`) holds every
/// store to the same behaviour.

/// The durable queue: accepted events and their delivery jobs, leased to workers.
public protocol JobQueue: Sendable {
    /// Stores the events and their jobs. Returns only once they are committed (as far as the
    /// configured sync mode promises), which is when the client may be told 200. Refuses with
    /// `StoreError.full` rather than exceed `storage.maxQueuedJobs` jobs still to be delivered.
    ///
    /// An event with `dedupUntil` whose source and message id an earlier event marked, until a
    /// time still to come (its receipt time is what counts), is a duplicate: it is left out,
    /// with its jobs, and counted in the result. The check and the mark are part of the same
    /// transaction, so of two copies committed at once (by two nodes, too) exactly one is kept.
    @discardableResult
    func append(_ events: [NewEvent]) async throws(StoreError) -> Appended

    /// Leases up to `limit` due jobs of a destination, oldest first. A job whose lease ran out
    /// (its worker died) is due again. A blocked job is never due: of the jobs of one ordering
    /// key, only the oldest still to be delivered can be claimed.
    func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job]

    /// Records outcomes; a result whose lease is no longer current is ignored.
    func finish(_ results: [JobResult]) async throws

    /// Keeps what a destination's transformations made of claimed jobs (`Job.output`, sent by
    /// every later attempt) with their `transformation` log records. A job whose lease is no
    /// longer current is left alone.
    func saveOutputs(_ outputs: [JobOutput]) async throws

    /// Gives leased jobs back untried (graceful shutdown), without counting the attempt.
    func release(_ jobs: [Job]) async throws

    /// Makes due at once the jobs this node had leased when it stopped without finishing them
    /// (a crash), and returns how many. Never touches a lease another live node may hold: those
    /// run out on their own and are claimed then.
    func recoverInterrupted() async throws -> Int

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

    /// Stores a destination's heartbeat event (its one job for that destination) if the
    /// destination is quiet: none of its jobs waits, and no node delivered to it or stored its
    /// heartbeat since `quietSince`. A store shared by several nodes decides for all of them at
    /// once, so one heartbeat goes out however many nodes find the destination quiet.
    func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision

    /// Throws unless a write can be committed now; `/ready` uses it.
    func checkWritable() async throws
}

/// The delivery log: what arrived, what it became, what the destination answered.
///
/// Record ids are the log's order and a live reader's resume point (the SSE event id). A store
/// hands a record to `records(after:)` and to `liveLog` only once no record with a smaller id
/// can still be committed, so a reader that resumes after the last id it saw misses nothing,
/// even where several writers commit out of id order.
public protocol DeliveryLogStore: Sendable {
    /// Committed records, as they become readable in id order.
    var liveLog: LiveLogHub { get }

    /// Stored records matching a filter, newest first, before a record id (for paging).
    func records(_ query: LogQuery) async throws -> [LogRecord]

    /// Records after a record id, oldest first: what a resuming live reader missed.
    func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord]

    /// One event's whole story: the stored event, its jobs, and every record about it.
    func story(messageId: String) async throws -> EventStory?

    /// Stores records about events that get no job from them (a tracking plan's violations,
    /// including those of events it dropped); they are numbered and streamed as any other.
    func appendRecords(_ records: [LogRecord]) async throws
}

/// Jobs given up on, kept for inspection and replay.
public protocol DeadLetterStore: Sendable {
    /// Dead-lettered jobs, newest first.
    func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter]
    /// Dead letters counted by destination and reason head (`DeadLetterHead.head(of:)`), the
    /// `limit` largest.
    func deadLetterHeads(destination: String?, limit: Int) async throws -> [DeadLetterHead]

    /// Puts matching dead letters back in the queue, their attempts starting over; returns how many.
    func replay(_ query: DeadLetterQuery) async throws -> Int
}

/// Keeps what the store holds bounded however long the server runs.
public protocol RetentionStore: Sendable {
    /// Deletes log records, finished jobs and their events past the retention limits, and
    /// dedup marks whose window has passed.
    func prune(_ retention: RetentionConfig) async throws -> PruneReport
}

/// Everything the server needs from a store. Components take the narrowest protocol they use.
public typealias JobStore = JobQueue & DeliveryLogStore & DeadLetterStore & RetentionStore & RegulationStore
    & SchemaRegistryStore & ArchiveStore & ReplayStore & StatsStore
