/// What one source or destination did in one minute (or second) on one node.
public struct StatsCounts: Sendable, Hashable {
    // A source's intake.
    /// Events stored.
    public var received = 0
    /// Events answered 200 but not stored: their message id was seen within the dedup window.
    public var duplicates = 0
    /// Events answered 200 but not stored: a regulation suppresses their user.
    public var suppressed = 0
    /// Tracking-plan violations found.
    public var violations = 0
    /// Events kept from the store by a tracking plan, or routed to a destination that got no job
    /// for lack of consent.
    public var filtered = 0
    /// Requests refused, by HTTP status.
    public var refused: [Int: Int] = [:]

    // A destination's delivery.
    public var delivered = 0
    /// Sends that failed and were scheduled again.
    public var retried = 0
    public var deadLettered = 0
    /// From the event's acceptance to the destination's answer, for delivered entries.
    public var latency = LatencyHistogram()
    /// Jobs waiting, the largest sample in the interval (a gauge: merged by maximum, so nodes
    /// sampling one shared queue count it once).
    public var queueDepth: Int?
    public var oldestWaitingMs: Int64?

    public init() {}

    public mutating func merge(_ o: StatsCounts) {
        received += o.received
        duplicates += o.duplicates
        suppressed += o.suppressed
        violations += o.violations
        filtered += o.filtered
        for (status, n) in o.refused { refused[status, default: 0] += n }
        delivered += o.delivered
        retried += o.retried
        deadLettered += o.deadLettered
        latency.merge(o.latency)
        if let d = o.queueDepth { queueDepth = max(queueDepth ?? 0, d) }
        if let a = o.oldestWaitingMs { oldestWaitingMs = max(oldestWaitingMs ?? 0, a) }
    }

    /// Compact: zeros and absent gauges are left out.
    public var json: JSONValue {
        var o = JSONObject()
        func put(_ key: String, _ n: Int) { if n != 0 { o[key] = .number(String(n)) } }
        put("received", received)
        put("duplicates", duplicates)
        put("suppressed", suppressed)
        put("violations", violations)
        put("filtered", filtered)
        if !refused.isEmpty { o["refused"] = Self.json(refused: refused) }
        put("delivered", delivered)
        put("retried", retried)
        put("deadLettered", deadLettered)
        if !latency.isEmpty { o["latency"] = latency.json }
        if let queueDepth { o["queueDepth"] = .number(String(queueDepth)) }
        if let oldestWaitingMs { o["oldestWaitingMs"] = .number(String(oldestWaitingMs)) }
        return .object(o)
    }

    /// Refusals by status as `{"401": 2}`, statuses in order: as rows keep them and `/v1/stats` answers them.
    static func json(refused: [Int: Int]) -> JSONValue {
        var o = JSONObject()
        for status in refused.keys.sorted() { o[String(status)] = .number(String(refused[status]!)) }
        return .object(o)
    }

    public init(json: JSONValue) {
        let json = json.objectValue ?? JSONObject()
        func int(_ key: String) -> Int { max(0, json[key]?.integerValue ?? 0) }
        received = int("received")
        duplicates = int("duplicates")
        suppressed = int("suppressed")
        violations = int("violations")
        filtered = int("filtered")
        if case .object(let r)? = json["refused"] {
            for (key, value) in r { if let s = Int(key), let n = value.integerValue { refused[s] = n } }
        }
        delivered = int("delivered")
        retried = int("retried")
        deadLettered = int("deadLettered")
        latency = LatencyHistogram(json: json["latency"])
        queueDepth = json["queueDepth"]?.integerValue
        oldestWaitingMs = json["oldestWaitingMs"]?.integerValue.map(Int64.init)
    }
}

/// A source or a destination, by name.
public struct StatsScope: Sendable, Hashable, Comparable {
    public enum Kind: String, Sendable, Hashable, Comparable {
        case source, destination
        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind
    public var name: String

    public init(_ kind: Kind, _ name: String) {
        self.kind = kind
        self.name = name
    }

    public static func source(_ name: String) -> StatsScope { StatsScope(.source, name) }
    public static func destination(_ name: String) -> StatsScope { StatsScope(.destination, name) }

    public static func < (a: StatsScope, b: StatsScope) -> Bool { (a.kind, a.name) < (b.kind, b.name) }

    /// Where a refused request whose source is unknown (a wrong write key) is counted.
    public static let unknownSource = "(unknown)"
}

/// One writer's counts for one scope and minute, as the store keeps them. A writer is one run of
/// one node: each start is a new writer, so a restarted node adds to the minute instead of
/// overwriting what it wrote before, and nodes never overwrite each other.
public struct StatsRow: Sendable, Hashable {
    /// The minute's start, in milliseconds since the epoch.
    public var minute: Int64
    public var writer: String
    public var scope: StatsScope
    public var counts: StatsCounts

    public init(minute: Int64, writer: String, scope: StatsScope, counts: StatsCounts) {
        self.minute = minute
        self.writer = writer
        self.scope = scope
        self.counts = counts
    }
}

/// Where nodes keep their per-minute rollups.
public protocol StatsStore: Sendable {
    /// Writes each row, replacing one with the same minute, writer and scope (a writer rewrites
    /// its current minute as it grows).
    func writeStats(_ rows: [StatsRow]) async throws
    /// Every writer's rows with `from <= minute < to`.
    func stats(from: Int64, to: Int64) async throws -> [StatsRow]
    /// Deletes rows of minutes before `before`; answers how many went.
    func pruneStats(before: Int64) async throws -> Int
}

extension StatsRow {
    /// A row as a database keeps it; nil when its scope or data is not one this version writes.
    public init?(stored minute: Int64, writer: String, scope: String, name: String, data: String) {
        guard let kind = StatsScope.Kind(rawValue: scope), let json = try? JSONParser.parse(data) else { return nil }
        self.init(minute: minute, writer: writer, scope: StatsScope(kind, name), counts: StatsCounts(json: json))
    }
}
