import SwitchyardCore

/// The backlog, the delivery log, dead letters and retention, over the same rows.
extension MemoryJobStore {
    public func backlog() async throws -> [String: QueueStats.Destination] {
        try checkOpen()
        let now = clock.now().millisecondsSinceEpoch
        return storage.rows.withLockedValue { rows in
            var destinations: [String: QueueStats.Destination] = [:]
            var oldest: [String: Int64] = [:]
            for job in rows.jobs.values where job.isWaiting || job.state == .dead {
                destinations[job.destination, default: .init()].counts[job.state, default: 0] += 1
                if job.isWaiting { oldest[job.destination] = min(oldest[job.destination] ?? .max, job.eventID) }
            }
            for (destination, eventID) in oldest {
                let received = rows.events[eventID]?.event.receivedAt.millisecondsSinceEpoch
                destinations[destination]?.oldestWaitingAgeMs = received.map { now - $0 }
            }
            return destinations
        }
    }

    public func stats() async throws -> QueueStats {
        var destinations = try await backlog()
        let (events, succeeded) = storage.rows.withLockedValue { rows in
            (rows.events.count, rows.jobs.values.filter { $0.state == .succeeded }.map(\.destination))
        }
        for destination in succeeded { destinations[destination, default: .init()].counts[.succeeded, default: 0] += 1 }
        return QueueStats(events: events, destinations: destinations)
    }

    /// Every record, the stored ones and each event as its `received` record.
    private func allRecords(_ rows: MemoryStorage.Rows) -> [LogRecord] {
        Array(rows.records.values)
            + rows.events.values.map { .received(NewEvent(source: $0.source, event: $0.event, targets: []), id: $0.id) }
    }

    public func records(_ query: LogQuery) async throws -> [LogRecord] {
        try checkOpen()
        let all = storage.rows.withLockedValue { allRecords($0) }
        return Array(
            all.filter { record in
                query.filter.matches(record) && query.since.map { record.at >= $0 } ?? true
                    && query.until.map { record.at <= $0 } ?? true && query.before.map { record.id < $0 } ?? true
            }
            .sorted { $0.id > $1.id }
            .prefix(max(1, min(query.limit, 1000)))
        )
    }

    public func records(after id: Int64, filter: LogFilter, limit: Int) async throws -> [LogRecord] {
        try checkOpen()
        let all = storage.rows.withLockedValue { allRecords($0) }
        return Array(all.filter { $0.id > id && filter.matches($0) }.sorted { $0.id < $1.id }.prefix(limit))
    }

    public func story(messageId: String) async throws -> EventStory? {
        try checkOpen()
        return storage.rows.withLockedValue { rows -> EventStory? in
            guard let stored = rows.events.values.filter({ $0.event.messageId == messageId }).max(by: { $0.id < $1.id }) else {
                return nil
            }
            let jobs = rows.jobs.values.filter { $0.eventID == stored.id }.sorted { $0.id < $1.id }.map { job in
                EventStory.JobSummary(
                    destination: job.destination,
                    rule: job.rule,
                    state: job.state.rawValue,
                    attempts: job.attempts,
                    lastError: job.lastError,
                    nextAttemptAt: job.state == .failed || job.state == .pending ? Timestamp(millisecondsSinceEpoch: job.availableAt) : nil
                )
            }
            let received = LogRecord.received(NewEvent(source: stored.source, event: stored.event, targets: []), id: stored.id)
            let records = [received] + rows.records.values.filter { $0.eventID == stored.id }.sorted { $0.id < $1.id }
            return EventStory(
                messageId: messageId,
                source: stored.source,
                receivedAt: stored.event.receivedAt,
                event: (try? JSONParser.parse(stored.event.payload)) ?? .null,
                jobs: jobs,
                records: records
            )
        }
    }

    /// The dead jobs a query names, with their events.
    private func deadJobs(_ q: DeadLetterQuery, _ rows: MemoryStorage.Rows) -> [(job: MemoryStorage.Job, event: MemoryStorage.Event)] {
        rows.jobs.values.compactMap { job in
            guard job.state == .dead, let event = rows.events[job.eventID] else { return nil }
            if let d = q.destination, job.destination != d { return nil }
            if let since = q.since, job.updatedAt < since.millisecondsSinceEpoch { return nil }
            if let until = q.until, job.updatedAt > until.millisecondsSinceEpoch { return nil }
            if let code = q.errorCode, !(job.lastError ?? "").hasPrefix(code) { return nil }
            if let ids = q.messageIds, !ids.contains(event.event.messageId) { return nil }
            return (job, event)
        }
    }

    public func deadLetters(_ query: DeadLetterQuery) async throws -> [DeadLetter] {
        try checkOpen()
        let found = storage.rows.withLockedValue { deadJobs(query, $0) }
        return found.sorted { ($0.job.updatedAt, $0.job.id) > ($1.job.updatedAt, $1.job.id) }
            .prefix(max(1, min(query.limit, 10_000)))
            .map { job, stored in
                DeadLetter(
                    jobId: job.id,
                    messageId: stored.event.messageId,
                    source: stored.source,
                    destination: job.destination,
                    type: stored.event.type.rawValue,
                    event: stored.event.name,
                    attempts: job.attempts,
                    reason: job.lastError ?? "",
                    receivedAt: stored.event.receivedAt,
                    deadAt: Timestamp(millisecondsSinceEpoch: job.updatedAt),
                    rule: job.rule
                )
            }
    }

    public func replay(_ query: DeadLetterQuery) async throws -> Int {
        try checkOpen()
        let now = clock.now()
        let ms = now.millisecondsSinceEpoch
        let count = try write { rows -> (Int, [LogRecord]) in
            let found = deadJobs(query, rows).sorted { $0.job.id < $1.job.id }.prefix(max(1, min(query.limit, 1_000_000)))
            var records: [LogRecord] = []
            for (dead, stored) in found {
                let letter = ReplayedJob(
                    jobID: dead.id,
                    eventID: dead.eventID,
                    messageId: stored.event.messageId,
                    source: stored.source,
                    destination: dead.destination,
                    type: stored.event.type.rawValue,
                    event: stored.event.name,
                    userId: stored.event.userId ?? stored.event.anonymousId,
                    lastError: dead.lastError,
                    orderingKey: dead.orderingKey,
                    rule: dead.rule
                )
                // A replayed job of a key waits behind the key's job still to be delivered, if any.
                let busy = letter.orderingKey.map { rows.keyIsBusy(letter.destination, $0) } ?? false
                let start = KeyedOrder.start(keyBusy: busy, due: ms)
                var job = dead
                job.state = start.state
                job.availableAt = start.availableAt
                job.attempts = 0
                job.lease = nil
                job.updatedAt = ms
                rows.jobs[job.id] = job
                var record = LogRecord.replayed(letter, at: now)
                record.id = rows.takeID()
                rows.records[record.id] = record
                records.append(record)
            }
            return (records.count, records)
        }
        gate.replayed(count)
        return count
    }

    /// The same rules as the SQL stores, without their steps: records past `log` or beyond the
    /// newest `maxLogRecords`; delivered jobs of events older than `delivered`; dead letters past
    /// `deadLetters`; then events with no job left, older than `delivered`.
    public func prune(_ retention: RetentionConfig) async throws -> PruneReport {
        try checkOpen()
        let at = clock.now()
        let now = at.millisecondsSinceEpoch
        let cutoffs = retention.cutoffs(at: at)
        let (delivered, dead, logCutoff) = (cutoffs.delivered, cutoffs.deadLetters, cutoffs.log)
        return storage.rows.withLockedValue { rows in
            var report = PruneReport(records: 0, jobs: 0, events: 0)
            let kept = Set(rows.records.keys.sorted(by: >).prefix(max(0, retention.maxLogRecords)))
            for record in rows.records.values where record.at.millisecondsSinceEpoch < logCutoff || !kept.contains(record.id) {
                rows.records[record.id] = nil
                report.records += 1
            }
            for job in rows.jobs.values {
                let received = rows.events[job.eventID]?.event.receivedAt.millisecondsSinceEpoch ?? .min
                let old =
                    (job.state == .succeeded && job.updatedAt < delivered && received < delivered)
                    || (job.state == .dead && job.updatedAt < dead)
                if old {
                    rows.jobs[job.id] = nil
                    report.jobs += 1
                }
            }
            let withJobs = Set(rows.jobs.values.map(\.eventID))
            let archived = retention.keepUnarchived ? rows.archive.position : Int64.max
            for event in rows.events.values
            where !withJobs.contains(event.id) && event.event.receivedAt.millisecondsSinceEpoch < delivered && event.id <= archived {
                rows.events[event.id] = nil
                report.events += 1
            }
            let before = rows.dedup.count
            rows.dedup = rows.dedup.filter { $0.value > now }
            report.dedupMarks = before - rows.dedup.count
            return report
        }
    }
}

extension MemoryJobStore {
    /// One job as it stands, for tests that look into the queue.
    public struct JobRow: Sendable, Hashable {
        public var messageId: String
        public var destination: String
        public var state: JobState
        public var attempts: Int
        public var lastError: String?
    }

    /// Every job, in the order of their events, then their own.
    public func jobs() -> [JobRow] {
        storage.rows.withLockedValue { rows in
            rows.jobs.values.sorted { ($0.eventID, $0.id) < ($1.eventID, $1.id) }.map { job in
                JobRow(
                    messageId: rows.events[job.eventID]?.event.messageId ?? "",
                    destination: job.destination,
                    state: job.state,
                    attempts: job.attempts,
                    lastError: job.lastError
                )
            }
        }
    }
}

extension MemoryJobStore {
    public func deadLetterHeads(destination: String?, limit: Int) async throws -> [DeadLetterHead] {
        try checkOpen()
        let dead = storage.rows.withLockedValue { rows in
            rows.jobs.values.filter { $0.state == .dead && (destination == nil || $0.destination == destination) }
        }
        var heads: [String: DeadLetterHead] = [:]
        for job in dead {
            let reason = job.lastError ?? ""
            let head = DeadLetterHead.head(of: reason)
            let at = Timestamp(millisecondsSinceEpoch: job.updatedAt)
            let key = job.destination + "\u{0}" + head
            if var h = heads[key] {
                h.count += 1
                h.oldest = min(h.oldest, at)
                h.newest = max(h.newest, at)
                h.example = max(h.example, reason)
                heads[key] = h
            } else {
                heads[key] = DeadLetterHead(destination: job.destination, head: head, count: 1, oldest: at, newest: at, example: reason)
            }
        }
        return Array(heads.values.sorted { ($0.count, $0.destination, $0.head) > ($1.count, $1.destination, $1.head) }.prefix(limit))
    }
}
