/// The ingestion routes, each a message type except `batch`.
public enum IngestRoute: String, Sendable, CaseIterable {
    case track, identify, page, screen, group, alias, batch

    public var messageType: MessageType? { MessageType(rawValue: rawValue) }

    /// The single-event route of a message type.
    public init(_ type: MessageType) {
        self = IngestRoute(rawValue: type.rawValue)!
    }
}

/// Why a request was refused. `status` and `body` are RudderStack's wire contract (rudder-server's
/// own tests assert these texts), so clients that parse them keep working.
public enum IngestError: Error, Sendable, Equatable {
    case emptyBody
    case invalidJSON(String)
    case notAnEvent
    case invalidType(String?)
    case noIdentity
    case emptyBatch
    case eventTooLarge(bytes: Int, limit: Int)
    case requestTooLarge
    case invalidGzip
    case missingWriteKey
    case missingWriteKeyInQuery
    case invalidWriteKey
    /// A single-event route given a `{"batch": [...]}` body.
    case batchOnSingleEventRoute(route: String)
    case queryTooLarge(bytes: Int, limit: Int)
    case tooManyQueryParameters(count: Int, limit: Int)
    case invalidQuery(String)
    case pixelNeedsAnonymousId
    case pixelTrackNeedsEvent
    case sourceDisabled
    case queueFull
    case storageUnavailable(String)

    public var status: Int {
        switch self {
        case .emptyBody, .invalidJSON, .notAnEvent, .invalidType, .noIdentity, .emptyBatch, .invalidGzip, .batchOnSingleEventRoute,
            .tooManyQueryParameters, .invalidQuery, .pixelNeedsAnonymousId, .pixelTrackNeedsEvent:
            return 400
        case .eventTooLarge, .requestTooLarge, .queryTooLarge: return 413
        case .missingWriteKey, .missingWriteKeyInQuery, .invalidWriteKey: return 401
        case .sourceDisabled: return 404
        case .queueFull, .storageUnavailable: return 503
        }
    }

    /// The response body, one line of text.
    public var body: String {
        switch self {
        case .emptyBody: return "request body is nil"
        case .invalidJSON: return "invalid json"
        case .notAnEvent: return "event is not a valid rudder event"
        case .invalidType(let t):
            let types = MessageType.allCases.map(\.rawValue).joined(separator: ", ")
            return t.map { "invalid event type \"\($0)\": expected one of \(types)" } ?? "event has no type: expected one of \(types)"
        case .noIdentity: return "request neither has anonymousId nor userId"
        case .emptyBatch: return "empty batch payload"
        case .eventTooLarge(let bytes, let limit): return "event size exceeds max limit (\(bytes) bytes, limit \(limit))"
        case .requestTooLarge: return "request size exceeds max limit"
        case .invalidGzip: return "invalid gzip body"
        case .missingWriteKey: return "failed to read writekey from header"
        case .missingWriteKeyInQuery: return "failed to read writekey from query params"
        case .batchOnSingleEventRoute(let route):
            return "a {\"batch\": [...]} body goes to /v1/batch (or /v1/b); this route takes one \(route) event"
        case .queryTooLarge(let bytes, let limit): return "query string exceeds max limit (\(bytes) bytes, limit \(limit))"
        case .tooManyQueryParameters(let count, let limit): return "too many query parameters (\(count), limit \(limit))"
        case .invalidQuery(let reason): return "invalid query string: \(reason)"
        case .pixelNeedsAnonymousId: return "a pixel needs anonymousId"
        case .pixelTrackNeedsEvent: return "track: mandatory field 'event' missing"
        case .invalidWriteKey: return "invalid write key"
        case .sourceDisabled: return "source is disabled"
        case .queueFull: return "queue is full, retry later"
        case .storageUnavailable(let reason): return "storage unavailable, retry later: \(reason)"
        }
    }
}

/// What the server knows about a request besides its body.
public struct IngestContext: Sendable {
    public let receivedAt: Timestamp
    /// Nil for events the pipeline makes itself (heartbeats): they get no `request_ip`.
    public var requestIP: String?
    public var maxEventBytes: Int
    /// `receivedAt` as RFC 3339, formatted once per request rather than up to four times per event.
    public let receivedAtText: String
    /// The source's `privacy.anonymizeIP`: `request_ip` and `context.ip` are cut to their
    /// network before the event is stored, so the whole address is never kept.
    public var anonymizeIP: Bool

    public init(receivedAt: Timestamp, requestIP: String?, maxEventBytes: Int, anonymizeIP: Bool = false) {
        self.receivedAt = receivedAt
        self.requestIP = requestIP
        self.maxEventBytes = maxEventBytes
        self.anonymizeIP = anonymizeIP
        receivedAtText = receivedAt.rfc3339
    }
}

/// The events of one request, and the write key found in its body (Segment's clients send it there).
public struct IngestBatch: Sendable {
    public var events: [Event]
    public var bodyWriteKey: String?
}

/// Turns a request body into enriched events, the way rudder-server's gateway and processor do:
/// the whole request is accepted or refused, never a part of it.
public enum Ingestion {
    public static func events(route: IngestRoute, body: some Collection<UInt8>, context: IngestContext) throws(IngestError) -> IngestBatch {
        let result =
            body.withContiguousStorageIfAvailable { buffer in
                Result { () throws(IngestError) in try events(route: route, body: UnsafeRawBufferPointer(buffer), context: context) }
            }
            ?? Array(body).withUnsafeBytes { raw in
                Result { () throws(IngestError) in try events(route: route, body: raw, context: context) }
            }
        return try result.get()
    }

    /// The same for a body in place: the server's path, without generic dispatch.
    public static func events(route: IngestRoute, body: UnsafeRawBufferPointer, context: IngestContext) throws(IngestError) -> IngestBatch {
        if body.isEmpty { throw .emptyBody }
        let document: JSONValue
        do {
            document = try JSONParser.parse(body)
        } catch {
            throw .invalidJSON(error.description)
        }
        return try events(route: route, document: document, context: context)
    }

    public static func events(route: IngestRoute, document: JSONValue, context: IngestContext) throws(IngestError) -> IngestBatch {
        guard case .object(var top) = document else {
            throw route == .batch ? .invalidJSON("the body is not a JSON object") : .notAnEvent
        }
        let writeKey = top["writeKey"]?.stringValue
        top["writeKey"] = nil

        let rawEvents: [JSONValue]
        let batchDefaults: BatchDefaults
        if let type = route.messageType {
            // An SDK pointed at the wrong route would otherwise store its whole batch as one event.
            if case .array? = top["batch"] { throw .batchOnSingleEventRoute(route: route.rawValue) }
            top["type"] = .string(type.rawValue)
            rawEvents = [.object(top)]
            batchDefaults = BatchDefaults()
        } else {
            guard case .array(let batch)? = top["batch"], !batch.isEmpty else { throw .emptyBatch }
            rawEvents = batch
            batchDefaults = BatchDefaults(
                sentAt: top["sentAt"],
                context: top["context"]?.objectValue,
                integrations: top["integrations"]?.objectValue
            )
        }

        var events: [Event] = []
        events.reserveCapacity(rawEvents.count)
        for raw in rawEvents {
            guard case .object(let object) = raw else { throw .notAnEvent }
            events.append(try enrich(object, defaults: batchDefaults, context: context))
        }
        return IngestBatch(events: events, bodyWriteKey: writeKey)
    }

    struct BatchDefaults {
        var sentAt: JSONValue?
        var context: JSONObject?
        var integrations: JSONObject?
    }

    /// An id as RudderStack reads one: a string trimmed (nil when empty) or a number's text.
    public static func identity(_ value: JSONValue?) -> String? {
        switch value {
        case .string(let s):
            let t = s.trimmingWhitespace()
            return t.isEmpty ? nil : t
        case .number(let n):
            return n
        default:
            return nil
        }
    }

    static func enrich(_ input: JSONObject, defaults: BatchDefaults, context: IngestContext) throws(IngestError) -> Event {
        var e = input
        e["writeKey"] = nil
        guard let typeName = e["type"]?.stringValue else { throw .invalidType(nil) }
        guard let type = MessageType(rawValue: typeName) else { throw .invalidType(typeName) }

        let userId = identity(e["userId"])
        let anonymousId = identity(e["anonymousId"])
        if userId == nil && anonymousId == nil { throw .noIdentity }

        // Segment merges the batch's context and integrations into each event; the event's own keys win.
        if let batchContext = defaults.context { e["context"] = .object(merge(batchContext, into: e["context"])) }
        if let batchIntegrations = defaults.integrations { e["integrations"] = .object(merge(batchIntegrations, into: e["integrations"])) }

        let messageId: String
        if let given = e["messageId"]?.stringValue?.trimmingWhitespace(), !given.isEmpty {
            messageId = given
        } else {
            messageId = UUIDv4.make()
        }
        e["messageId"] = .string(messageId)

        let receivedAt = context.receivedAt
        if e["request_ip"] == nil, let ip = context.requestIP { e["request_ip"] = .string(ip) }
        if context.anonymizeIP { PrivacyRules.anonymizeIPs(in: &e) }
        let receivedAtText = JSONValue.string(context.receivedAtText)
        if e["receivedAt"] == nil { e["receivedAt"] = receivedAtText }

        if e["sentAt"] == nil, let batchSentAt = defaults.sentAt { e["sentAt"] = batchSentAt }
        let clientOriginal = parsedTime(e["originalTimestamp"])
        let clientSentAt = parsedTime(e["sentAt"])
        if clientOriginal == nil { e["originalTimestamp"] = receivedAtText }
        if clientSentAt == nil { e["sentAt"] = receivedAtText }
        // Correct with the device's two clock readings only when both are the device's: with no
        // originalTimestamp, mixing the device's sentAt with our receivedAt would invent a skew.
        let originalTimestamp = clientOriginal ?? receivedAt
        let sentAt = clientOriginal == nil ? receivedAt : (clientSentAt ?? receivedAt)
        if parsedTime(e["timestamp"]) == nil {
            // Clock-skew correction: the device clock may be wrong, but the gap between when it
            // recorded the event and when it sent it is right.
            let corrected = receivedAt.millisecondsSinceEpoch - (sentAt.millisecondsSinceEpoch - originalTimestamp.millisecondsSinceEpoch)
            e["timestamp"] =
                corrected == receivedAt.millisecondsSinceEpoch
                ? receivedAtText : .string(Timestamp(millisecondsSinceEpoch: corrected).rfc3339)
        }

        let payload = JSONValue.object(e).serialized()
        if payload.count > context.maxEventBytes {
            throw .eventTooLarge(bytes: payload.count, limit: context.maxEventBytes)
        }
        let name: String?
        switch type {
        case .track: name = e["event"]?.stringValue
        case .page, .screen: name = e["name"]?.stringValue
        default: name = nil
        }
        var event = Event(
            messageId: messageId,
            type: type,
            name: name,
            userId: userId,
            anonymousId: anonymousId,
            receivedAt: receivedAt,
            payload: payload
        )
        event.document = e
        return event
    }

    static func parsedTime(_ value: JSONValue?) -> Timestamp? {
        guard case .string(let s)? = value else { return nil }
        return Timestamp(rfc3339: s)
    }

    static func merge(_ defaults: JSONObject, into existing: JSONValue?) -> JSONObject {
        guard case .object(var own)? = existing else { return defaults }
        for (key, value) in defaults where own[key] == nil { own[key] = value }
        return own
    }
}

extension String {
    /// The string without leading and trailing whitespace (no Foundation needed).
    public func trimmingWhitespace() -> String {
        // Visible ASCII at both ends (nearly every id) cannot be whitespace: skip the Character walk.
        if let first = utf8.first, let last = utf8.last, (0x21..<0x80).contains(first), (0x21..<0x80).contains(last) { return self }
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
