/// A regulation: Segment's Deletion and Suppression API, for the subjects (user ids or anonymous
/// ids) of one request. Its stored record keeps what it did and how many subjects it named, never
/// the subjects themselves: those live only in the suppression list (while suppressed) and with a
/// deletion still running.
public struct Regulation: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// New events of the subjects are answered 200 and dropped before they are stored.
        case suppressOnly = "SUPPRESS_ONLY"
        /// The subjects' new events are accepted again.
        case unsuppress = "UNSUPPRESS"
        /// Suppress, then delete every stored copy of the subjects' events.
        case suppressWithDelete = "SUPPRESS_WITH_DELETE"
        /// Delete every stored copy, without suppressing what comes next.
        case deleteInternal = "DELETE_INTERNAL"

        public var suppresses: Bool { self == .suppressOnly || self == .suppressWithDelete }
        public var deletes: Bool { self == .suppressWithDelete || self == .deleteInternal }
    }

    public enum SubjectType: String, Sendable, Hashable, CaseIterable {
        case userId = "USER_ID"
        case anonymousId = "ANONYMOUS_ID"
    }

    /// Segment's statuses: recorded (a deletion not started yet), deleting, done.
    public enum Status: String, Sendable, Hashable {
        case initialized = "INITIALIZED"
        case running = "RUNNING"
        case finished = "FINISHED"
    }

    public var id: String
    public var kind: Kind
    public var subjectType: SubjectType
    public var subjectCount: Int
    public var status: Status
    public var createdAt: Timestamp
    public var finishedAt: Timestamp?
    /// What the deletion removed so far, per kind of row.
    public var removed: ErasureCounts

    public init(
        id: String,
        kind: Kind,
        subjectType: SubjectType,
        subjectCount: Int,
        status: Status,
        createdAt: Timestamp,
        finishedAt: Timestamp? = nil,
        removed: ErasureCounts = ErasureCounts()
    ) {
        self.id = id
        self.kind = kind
        self.subjectType = subjectType
        self.subjectCount = subjectCount
        self.status = status
        self.createdAt = createdAt
        self.finishedAt = finishedAt
        self.removed = removed
    }

    /// The regulation as the API shows it, in Segment's field names where Segment has one.
    public var json: JSONValue {
        var o = JSONObject()
        o["id"] = .string(id)
        o["regulationType"] = .string(kind.rawValue)
        o["subjectType"] = .string(subjectType.rawValue)
        o["subjectCount"] = .number(String(subjectCount))
        o["overallStatus"] = .string(status.rawValue)
        o["createdAt"] = .string(createdAt.rfc3339)
        if let finishedAt { o["finishedAt"] = .string(finishedAt.rfc3339) }
        if kind.deletes { o["removed"] = removed.json }
        return .object(o)
    }
}

/// Rows a deletion removed, per kind: what it reports, and all it keeps of what it deleted.
public struct ErasureCounts: Sendable, Hashable {
    public var events = 0
    /// Jobs still to be delivered: they never will be.
    public var waitingJobs = 0
    public var deliveredJobs = 0
    public var deadLetters = 0
    public var logRecords = 0
    public var messageIndexEntries = 0
    public var dedupMarks = 0

    public init() {}

    public static let keys = [
        "events", "waitingJobs", "deliveredJobs", "deadLetters", "logRecords", "messageIndexEntries", "dedupMarks",
    ]

    public var values: [Int] {
        [events, waitingJobs, deliveredJobs, deadLetters, logRecords, messageIndexEntries, dedupMarks]
    }

    public init(values: [Int]) {
        func at(_ n: Int) -> Int { n < values.count ? values[n] : 0 }
        events = at(0)
        waitingJobs = at(1)
        deliveredJobs = at(2)
        deadLetters = at(3)
        logRecords = at(4)
        messageIndexEntries = at(5)
        dedupMarks = at(6)
    }

    public var total: Int { values.reduce(0, +) }

    public static func + (a: ErasureCounts, b: ErasureCounts) -> ErasureCounts {
        ErasureCounts(values: zip(a.values, b.values).map { $0 + $1 })
    }

    public static func += (a: inout ErasureCounts, b: ErasureCounts) { a = a + b }

    /// Counts a deleted job by the state it was in.
    public mutating func countJob(_ state: JobState) {
        switch state {
        case .succeeded: deliveredJobs += 1
        case .dead: deadLetters += 1
        case .pending, .inFlight, .failed, .blocked: waitingJobs += 1
        }
    }

    public var json: JSONValue {
        var o = JSONObject()
        for (key, value) in zip(Self.keys, values) { o[key] = .number(String(value)) }
        return .object(o)
    }

    /// Stored as the same object the API shows.
    public init(json: JSONValue?) {
        guard case .object(let o)? = json else {
            self.init()
            return
        }
        self.init(
            values: Self.keys.map { key in o[key]?.integerValue ?? 0 }
        )
    }
}
