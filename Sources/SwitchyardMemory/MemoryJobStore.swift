import Logging
import NIOConcurrencyHelpers
import SwitchyardCore

/// A store that keeps everything in memory: the conformance suite's readable specification of
/// the queue (leases, per-key order, retention), the delivery engine's tests' store, and a
/// server that needs nothing to survive a restart. Every rule is written out plainly over
/// dictionaries; what the SQL stores do with indexes, this does with a scan.
public final class MemoryJobStore: JobStore, GatedJobQueue {
    public let liveLog = LiveLogHub()
    public let gate: QueueGate
    let storage: MemoryStorage
    let clock: any WallClock
    let metrics: PipelineMetrics
    let owner: Bool
    private let open = NIOLockedValueBox(true)

    /// - Parameter owner: as for the embedded store: the server's store owns its storage (one
    ///   at a time), and `recoverInterrupted` takes back every lease as its own.
    public init(
        storage: MemoryStorage = MemoryStorage(),
        config: StorageConfig = StorageConfig(),
        owner: Bool = false,
        clock: any WallClock = SystemWallClock(),
        metrics: PipelineMetrics = .discarding()
    ) throws(StoreError) {
        self.storage = storage
        self.clock = clock
        self.metrics = metrics
        self.owner = owner
        let waiting = storage.rows.withLockedValue { rows -> Int? in
            if owner {
                guard !rows.owned else { return nil }
                rows.owned = true
            }
            return rows.jobs.values.filter(\.isWaiting).count
        }
        guard let waiting else { throw .unavailable("the memory storage is served by another store already") }
        gate = QueueGate(limit: config.maxQueuedJobs, waiting: waiting, clock: clock)
    }

    /// Gives the storage up; another store may serve it then.
    public func close() {
        open.withLockedValue { $0 = false }
        if owner { storage.rows.withLockedValue { $0.owned = false } }
    }

    func checkOpen() throws(StoreError) {
        guard open.withLockedValue({ $0 }) else { throw .unavailable("the store is closed") }
    }

    /// Runs `body` on the rows and publishes the records it returns, in the order of its turn.
    func write<T>(_ body: (inout MemoryStorage.Rows) throws -> (T, [LogRecord])) throws -> T {
        var ticket: LiveLogHub.Ticket?
        let (value, records) = try storage.rows.withLockedValue { rows in
            defer { ticket = liveLog.ticket() }
            return try body(&rows)
        }
        liveLog.publish(records, in: ticket!)
        return value
    }

    // MARK: The queue

    public func append(_ events: [NewEvent]) async throws(StoreError) -> Appended {
        try checkOpen()
        let jobs = events.reduce(0) { $0 + $1.targets.count }
        return try await gate.append(jobs: jobs) { () throws(StoreError) -> Appended in
            do {
                return try write { rows in Self.insert(events, into: &rows) }
            } catch {
                throw .unavailable("\(error)")
            }
        }
    }

    static func insert(_ events: [NewEvent], into rows: inout MemoryStorage.Rows) -> (Appended, [LogRecord]) {
        var records: [LogRecord] = []
        var appended = Appended()
        var skipped: [LogRecord] = []
        for item in events {
            if let until = item.dedupUntil {
                let key = DedupKey(item)
                if DedupRule.isDuplicate(item, markedUntil: rows.dedup[key]) {
                    appended.add(item)
                    continue
                }
                rows.dedup[key] = until
            }
            let id = rows.takeID()
            let received = item.event.receivedAt.millisecondsSinceEpoch
            var event = item.event
            event.document = nil  // the request's tree, not what a database would keep
            rows.events[id] = .init(id: id, source: item.source, event: event)
            for target in item.targets {
                let busy = target.orderingKey.map { rows.keyIsBusy(target.destination, $0) } ?? false
                let start = KeyedOrder.start(keyBusy: busy, due: received)
                let jobID = rows.nextJobID
                rows.nextJobID += 1
                rows.jobs[jobID] = .init(
                    id: jobID,
                    eventID: id,
                    destination: target.destination,
                    state: start.state,
                    availableAt: start.availableAt,
                    updatedAt: received,
                    orderingKey: target.orderingKey,
                    rule: target.rule
                )
            }
            records.append(.received(item, id: id))
            skipped += LogRecord.withEvent(item, eventID: id)
        }
        // After the events, as the other stores number them.
        for var record in skipped {
            record.id = rows.takeID()
            rows.records[record.id] = record
            records.append(record)
        }
        return (appended, records)
    }

    public func claim(destination: String, limit: Int, leaseFor: Duration) async throws -> [Job] {
        try checkOpen()
        let now = clock.now().millisecondsSinceEpoch
        let lease = Int64.random(in: 1...Int64.max)
        let (jobs, expired) = storage.rows.withLockedValue { rows -> ([Job], Int) in
            // Due: waiting, its time come (a lease that ran out is due again); oldest first.
            let due = rows.jobs.values
                .filter { $0.destination == destination && $0.isWaiting && $0.availableAt <= now }
                .sorted { ($0.availableAt, $0.eventID) < ($1.availableAt, $1.eventID) }
                .prefix(limit)
            var claimed: [Job] = []
            var expired = 0
            for var job in due {
                if job.state == .inFlight { expired += 1 }
                job.state = .inFlight
                job.lease = lease
                job.attempts += 1
                job.availableAt = now + leaseFor.milliseconds
                job.updatedAt = now
                rows.jobs[job.id] = job
                guard let stored = rows.events[job.eventID] else { continue }
                let e = stored.event
                claimed.append(
                    Job(
                        id: job.id,
                        eventID: job.eventID,
                        lease: lease,
                        destination: destination,
                        attempt: job.attempts,
                        source: stored.source,
                        messageId: e.messageId,
                        type: e.type,
                        name: e.name,
                        userId: e.userId ?? e.anonymousId,
                        receivedAt: e.receivedAt,
                        payload: e.payload,
                        orderingKey: job.orderingKey,
                        rule: job.rule,
                        output: job.output
                    )
                )
            }
            return (claimed, expired)
        }
        metrics.leaseExpired(destination: destination, count: expired)
        return jobs
    }

    public func finish(_ results: [JobResult]) async throws {
        try checkOpen()
        let now = clock.now()
        let ms = now.millisecondsSinceEpoch
        let (settled, released) = try write { rows -> ((Int, Int), [LogRecord]) in
            var settled = 0
            var released = 0
            var records: [LogRecord] = []
            for result in results {
                // A stale lease changes nothing, and its outcome is not logged either.
                guard var job = rows.jobs[result.jobID], job.lease == result.lease, job.state == .inFlight else { continue }
                job.state = result.outcome.state
                job.availableAt = result.outcome.availableAt(now: now).millisecondsSinceEpoch
                job.lastError = result.outcome.error ?? job.lastError
                job.output = result.output ?? job.output
                job.lease = nil
                job.updatedAt = ms
                rows.jobs[job.id] = job
                if result.outcome.isFinal { settled += 1 }
                if let (destination, key) = result.releasedKey,
                    var next = rows.jobs.values.filter({ $0.destination == destination && $0.orderingKey == key && $0.state == .blocked })
                        .min(by: { $0.id < $1.id })
                {
                    next.state = .pending
                    next.availableAt = ms
                    next.updatedAt = ms
                    rows.jobs[next.id] = next
                    released += 1
                }
                if let log = result.log {
                    for var record in LogRecord.records(for: log, outcome: result.outcome, at: now) {
                        record.id = rows.takeID()
                        if let text = record.entryText {
                            record.detail = try? JSONParser.parse(text.restored(event: rows.events[job.eventID]?.event.payload))
                            record.entryText = nil
                        }
                        rows.records[record.id] = record
                        records.append(record)
                    }
                }
            }
            return ((settled, released), records)
        }
        gate.settled(settled, released: released)
    }

    public func saveOutputs(_ outputs: [JobOutput]) async throws {
        try checkOpen()
        let now = clock.now()
        try write { rows -> (Void, [LogRecord]) in
            var records: [LogRecord] = []
            for saved in outputs {
                // A lease that ran out: the job is someone else's now, and so is its record.
                guard var job = rows.jobs[saved.job.id], job.lease == saved.job.lease, job.state == .inFlight else { continue }
                job.output = saved.output
                job.updatedAt = now.millisecondsSinceEpoch
                rows.jobs[job.id] = job
                var record = LogRecord.transformation(saved.log, job: saved.job, at: now)
                record.id = rows.takeID()
                rows.records[record.id] = record
                records.append(record)
            }
            return ((), records)
        }
    }

    public func appendRecords(_ records: [LogRecord]) async throws {
        try checkOpen()
        guard !records.isEmpty else { return }
        try write { rows -> (Void, [LogRecord]) in
            let written = records.map { record in
                var record = record
                record.id = rows.takeID()
                rows.records[record.id] = record
                return record
            }
            return ((), written)
        }
    }

    public func release(_ jobs: [Job]) async throws {
        try checkOpen()
        let now = clock.now().millisecondsSinceEpoch
        storage.rows.withLockedValue { rows in
            for given in jobs {
                guard var job = rows.jobs[given.id], job.lease == given.lease, job.state == .inFlight else { continue }
                job.state = job.attempts > 1 ? .failed : .pending
                job.attempts -= 1
                job.availableAt = now
                job.lease = nil
                job.updatedAt = now
                rows.jobs[job.id] = job
            }
        }
        gate.newJobs.signal()
    }

    public func recoverInterrupted() async throws -> Int {
        try checkOpen()
        guard owner else { return 0 }
        let now = clock.now().millisecondsSinceEpoch
        let recovered = storage.rows.withLockedValue { rows in
            var recovered = 0
            for var job in rows.jobs.values where job.state == .inFlight {
                job.state = .failed
                job.availableAt = now
                job.lease = nil
                job.updatedAt = now
                job.lastError = job.lastError ?? "interrupted: the server stopped during delivery"
                rows.jobs[job.id] = job
                recovered += 1
            }
            return recovered
        }
        if recovered > 0 { gate.newJobs.signal() }
        return recovered
    }

    public func appendHeartbeat(_ heartbeat: NewEvent, quietSince: Timestamp) async throws -> HeartbeatDecision {
        let destinations = Set(heartbeat.destinations)
        let waiting = try await backlog().filter { destinations.contains($0.key) }.values.reduce(0) { $0 + $1.waiting }
        guard waiting == 0 else { return .backlog(waiting) }
        try await append([heartbeat])
        return .stored
    }

    public func checkWritable() async throws {
        try checkOpen()
        try gate.checkLastCommit()
    }
}
