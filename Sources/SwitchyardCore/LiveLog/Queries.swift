/// A page of the stored delivery log.
public struct LogQuery: Sendable, Hashable {
    public var filter: LogFilter
    public var since: Timestamp?
    public var until: Timestamp?
    /// Only records older than this id: the cursor of the previous page.
    public var before: Int64?
    public var limit: Int

    public init(filter: LogFilter = .init(), since: Timestamp? = nil, until: Timestamp? = nil, before: Int64? = nil, limit: Int = 100) {
        self.filter = filter
        self.since = since
        self.until = until
        self.before = before
        self.limit = limit
    }
}

/// Which dead letters to list or replay.
public struct DeadLetterQuery: Sendable, Hashable {
    public var destination: String?
    public var since: Timestamp?
    public var until: Timestamp?
    /// Matches the start of the recorded reason, e.g. `SignatureDoesNotMatch` or `InvalidArgument`.
    public var errorCode: String?
    public var messageIds: [String]?
    public var limit: Int

    public init(
        destination: String? = nil,
        since: Timestamp? = nil,
        until: Timestamp? = nil,
        errorCode: String? = nil,
        messageIds: [String]? = nil,
        limit: Int = 1000
    ) {
        self.destination = destination
        self.since = since
        self.until = until
        self.errorCode = errorCode
        self.messageIds = messageIds
        self.limit = limit
    }
}

public struct DeadLetter: Sendable, Hashable {
    public var jobId: Int64
    public var messageId: String
    public var source: String
    public var destination: String
    public var type: String
    public var event: String?
    public var attempts: Int
    public var reason: String
    public var receivedAt: Timestamp
    public var deadAt: Timestamp
    /// The destination rule the dead job was for.
    public var rule: String? = nil

    public init(
        jobId: Int64,
        messageId: String,
        source: String,
        destination: String,
        type: String,
        event: String?,
        attempts: Int,
        reason: String,
        receivedAt: Timestamp,
        deadAt: Timestamp,
        rule: String? = nil
    ) {
        self.jobId = jobId
        self.messageId = messageId
        self.source = source
        self.destination = destination
        self.type = type
        self.event = event
        self.attempts = attempts
        self.reason = reason
        self.receivedAt = receivedAt
        self.deadAt = deadAt
        self.rule = rule
    }

    public var json: JSONValue {
        var o = JSONObject()
        o["jobId"] = .number(String(jobId))
        o["messageId"] = .string(messageId)
        o["source"] = .string(source)
        o["destination"] = .string(destination)
        if let rule { o["rule"] = .string(rule) }
        o["type"] = .string(type)
        if let event { o["event"] = .string(event) }
        o["attempts"] = .number(String(attempts))
        o["reason"] = .string(reason)
        o["receivedAt"] = .string(receivedAt.rfc3339)
        o["deadAt"] = .string(deadAt.rfc3339)
        return .object(o)
    }
}

/// Everything known about one event.
public struct EventStory: Sendable, Hashable {
    public var messageId: String
    public var source: String
    public var receivedAt: Timestamp
    /// The stored, enriched event.
    public var event: JSONValue
    public var jobs: [JobSummary]
    public var records: [LogRecord]

    public struct JobSummary: Sendable, Hashable {
        public var destination: String
        public var rule: String?
        public var state: String
        public var attempts: Int
        public var lastError: String?
        public var nextAttemptAt: Timestamp?

        public init(destination: String, rule: String?, state: String, attempts: Int, lastError: String?, nextAttemptAt: Timestamp?) {
            self.destination = destination
            self.rule = rule
            self.state = state
            self.attempts = attempts
            self.lastError = lastError
            self.nextAttemptAt = nextAttemptAt
        }
    }

    public init(messageId: String, source: String, receivedAt: Timestamp, event: JSONValue, jobs: [JobSummary], records: [LogRecord]) {
        self.messageId = messageId
        self.source = source
        self.receivedAt = receivedAt
        self.event = event
        self.jobs = jobs
        self.records = records
    }

    public var json: JSONValue {
        var o = JSONObject()
        o["messageId"] = .string(messageId)
        o["source"] = .string(source)
        o["receivedAt"] = .string(receivedAt.rfc3339)
        o["event"] = event
        o["jobs"] = .array(
            jobs.map { job in
                var j = JSONObject()
                j["destination"] = .string(job.destination)
                if let rule = job.rule { j["rule"] = .string(rule) }
                j["state"] = .string(job.state)
                j["attempts"] = .number(String(job.attempts))
                if let e = job.lastError { j["lastError"] = .string(e) }
                if let n = job.nextAttemptAt { j["nextAttemptAt"] = .string(n.rfc3339) }
                return .object(j)
            }
        )
        o["records"] = .array(records.map(\.json))
        return .object(o)
    }
}

/// How long the queue keeps what it no longer needs for delivery (`storage.retention`).
public struct RetentionConfig: Codable, Sendable, Hashable {
    /// Delivery-log records older than this are deleted.
    public var log: ConfigDuration = .seconds(7 * 86400)
    /// And the log never holds more than this many records.
    public var maxLogRecords: Int = 1_000_000
    /// Delivered jobs (and events with nothing left to deliver) are kept this long, for the event view.
    public var delivered: ConfigDuration = .seconds(86400)
    /// Dead letters are kept this long for inspection and replay.
    public var deadLetters: ConfigDuration = .seconds(30 * 86400)
    /// How often pruning runs.
    public var interval: ConfigDuration = .seconds(60)
    /// Pruning deletes at most this many rows per transaction, so writers never wait long on it.
    public var batch: Int = 2_000
    /// Set by the server when `archive:` is on, not read from the YAML: events the archive has
    /// not written yet are kept, however old.
    public var keepUnarchived = false

    public init() {}

    enum CodingKeys: String, CodingKey { case log, maxLogRecords, delivered, deadLetters, interval, batch }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        log = try c.decodeIfPresent(ConfigDuration.self, forKey: .log) ?? log
        maxLogRecords = try c.decodeIfPresent(Int.self, forKey: .maxLogRecords) ?? maxLogRecords
        delivered = try c.decodeIfPresent(ConfigDuration.self, forKey: .delivered) ?? delivered
        deadLetters = try c.decodeIfPresent(ConfigDuration.self, forKey: .deadLetters) ?? deadLetters
        interval = try c.decodeIfPresent(ConfigDuration.self, forKey: .interval) ?? interval
        batch = try c.decodeIfPresent(Int.self, forKey: .batch) ?? batch
        guard batch >= 1 else {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: .batch).configNode?.location,
                message: "storage.retention.batch must be at least 1"
            )
        }
    }
}

public struct PruneReport: Sendable, Hashable {
    public var records: Int
    public var jobs: Int
    public var events: Int
    /// Dedup marks past their window.
    public var dedupMarks: Int

    public init(records: Int, jobs: Int, events: Int, dedupMarks: Int = 0) {
        self.records = records
        self.jobs = jobs
        self.events = events
        self.dedupMarks = dedupMarks
    }
}
