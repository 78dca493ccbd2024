/// One entry of the delivery log: something that happened to an event, in order. Records are
/// stored in the queue database (so they survive a restart), streamed live, and queried.
public struct LogRecord: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        /// The event was accepted and stored.
        case received
        /// The event became this destination entry (kept with the first attempt).
        case transformed
        /// One delivery attempt and what came of it.
        case attempt
        /// Dead-lettered without an attempt (it can never be sent).
        case dead
        /// Put back in the queue from the dead letters.
        case replayed
        /// Not sent to this destination, and never will be: the event lacks the consent the
        /// destination asks for (`errorMessage` says which).
        case skipped
        /// What the destination's transformations (user code) made of the event: `transformed`
        /// with the events they returned, `dropped`, or `failed` with the error; with their `log()` lines.
        case transformation
        /// The event broke its source's tracking plan: `propagated` (stored with the violations in
        /// its context) or `dropped`; `detail` holds the plan and the violations.
        case violation
    }

    /// Position in the log; the SSE event id, so a client can resume after it.
    public var id: Int64 = 0
    /// The stored event's row, which the log is indexed by (an ever-growing integer, cheap to
    /// index, unlike random message ids). Not part of the JSON.
    public var eventID: Int64?
    public var at: Timestamp
    public var kind: Kind
    public var messageId: String
    public var source: String?
    /// The node that wrote the record, where several share one store.
    public var node: String?
    public var destination: String?
    /// The destination rule the record's entry is for.
    public var rule: String?
    public var type: String?
    public var event: String?
    public var userId: String?
    public var attempt: Int?
    /// `received`, `transformed`, `succeeded`, `failed` (will retry or, on a `transformation`
    /// record, the script failed), `dead`, `waiting` (replayed), `skipped` or `dropped`.
    public var status: String
    public var batchId: String?
    public var requestId: String?
    /// The destination's id for a delivered event (EventBridge's `EventId`).
    public var reference: String?
    public var errorCode: String?
    public var errorMessage: String?
    public var httpStatus: Int?
    public var nextRetryAt: Timestamp?
    public var size: Int?
    /// The transformed entry, on `transformed` records.
    public var detail: JSONValue?
    /// `detail` as the destination serialized it, on `transformed` records on their way to a
    /// store, which keeps it as is instead of encoding `detail` again. Nil on records read back.
    public var entryText: EntryText?

    public init(at: Timestamp, kind: Kind, messageId: String, status: String) {
        self.at = at
        self.kind = kind
        self.messageId = messageId
        self.status = status
    }

    /// The record as the API and the stream show it; keys in a stable, readable order, nulls left out.
    public var json: JSONValue {
        var o = JSONObject()
        o["id"] = .number(String(id))
        o["at"] = .string(at.rfc3339)
        o["kind"] = .string(kind.rawValue)
        o["status"] = .string(status)
        o["messageId"] = .string(messageId)
        func put(_ key: String, _ value: String?) { if let value { o[key] = .string(value) } }
        func put(_ key: String, _ value: Int?) { if let value { o[key] = .number(String(value)) } }
        put("source", source)
        put("node", node)
        put("destination", destination)
        put("rule", rule)
        put("type", type)
        put("event", event)
        put("userId", userId)
        put("attempt", attempt)
        put("batchId", batchId)
        put("requestId", requestId)
        put("reference", reference)
        put("errorCode", errorCode)
        put("errorMessage", errorMessage)
        put("httpStatus", httpStatus)
        put("nextRetryAt", nextRetryAt?.rfc3339)
        put("size", size)
        if let detail { o["detail"] = detail }
        return .object(o)
    }
}

/// Which records a reader wants; every field set must match.
public struct LogFilter: Sendable, Hashable {
    public var source: String?
    public var destination: String?
    public var status: String?
    public var event: String?
    public var userId: String?
    public var messageId: String?
    public var kind: LogRecord.Kind?
    public var rule: String?

    public init(
        source: String? = nil,
        destination: String? = nil,
        status: String? = nil,
        event: String? = nil,
        userId: String? = nil,
        messageId: String? = nil,
        kind: LogRecord.Kind? = nil,
        rule: String? = nil
    ) {
        self.rule = rule
        self.source = source
        self.destination = destination
        self.status = status
        self.event = event
        self.userId = userId
        self.messageId = messageId
        self.kind = kind
    }

    public func matches(_ r: LogRecord) -> Bool {
        if let source, r.source != source { return false }
        if let destination, r.destination != destination { return false }
        if let status, r.status != status { return false }
        if let event, r.event != event { return false }
        if let userId, r.userId != userId { return false }
        if let messageId, r.messageId != messageId { return false }
        if let kind, r.kind != kind { return false }
        if let rule, r.rule != rule { return false }
        return true
    }
}
