import SwitchyardCore

/// One PutEvents entry, built from a stored event the way RudderStack's transformer builds it:
/// `Detail` is the whole event as compact JSON (the client's key order kept), `DetailType` the
/// configured value, `Resources` the configured ARNs, `Source` `rudderstack` unless configured.
public struct PutEventsEntry: Sendable, Hashable {
    public var detailType: String
    public var detail: String
    public var eventBusName: String?
    public var resources: [String]
    public var source: String
    /// Epoch seconds, when `includeTime` is on and the event has a parsable `timestamp`.
    public var time: Int64?
    public var traceHeader: String?

    /// EventBridge's own measure: 14 bytes for `Time`, plus the UTF-8 bytes of Source, DetailType,
    /// Detail and every resource (not EventBusName, not TraceHeader).
    public var awsSize: Int {
        (time == nil ? 0 : 14) + source.utf8.count + detailType.utf8.count + detail.utf8.count + resources.reduce(0) { $0 + $1.utf8.count }
    }

    /// The entry's JSON, keys in the order the anchor's transformer writes them.
    public var json: JSONValue {
        var o = JSONObject()
        o["DetailType"] = .string(detailType)
        o["Detail"] = .string(detail)
        if let eventBusName { o["EventBusName"] = .string(eventBusName) }
        o["Resources"] = .array(resources.map { .string($0) })
        o["Source"] = .string(source)
        if let time { o["Time"] = .number(String(time)) }
        if let traceHeader { o["TraceHeader"] = .string(traceHeader) }
        return .object(o)
    }
}

/// The transform, separate from sending so `switchyard transform` and the tests run it alone.
public struct EventBridgeTransform: Sendable {
    public let settings: EventBridgeSettings
    public let detailType: Template
    public let traceHeader: Template?

    public static let maxDetailTypeLength = 128
    public static let maxTraceHeaderLength = 500

    public init(settings: EventBridgeSettings) throws(Template.ParseError) {
        self.settings = settings
        detailType = try Template(settings.detailType)
        traceHeader = try settings.traceHeader.map { text throws(Template.ParseError) in try Template(text) }
    }

    /// Why an event can never become a valid entry; such events are dead-lettered, not retried.
    public enum Drop: Error, Sendable, Hashable, CustomStringConvertible {
        case detailNotAnObject
        case invalidEventJSON
        case emptyDetailType
        case detailTypeTooLong(Int)
        case traceHeaderTooLong(Int)
        case entryTooLarge(size: Int, limit: Int)

        public var description: String {
            switch self {
            case .detailNotAnObject: return "MalformedDetail: Detail must be a JSON object"
            case .invalidEventJSON: return "MalformedDetail: the stored event is not valid JSON"
            case .emptyDetailType: return "InvalidArgument: DetailType rendered empty and the event has no type to fall back on (give the template a fallback, like {{ event | \"unknown\" }})"
            case .detailTypeTooLong(let n): return "InvalidArgument: DetailType is \(n) characters, EventBridge allows \(EventBridgeTransform.maxDetailTypeLength)"
            case .traceHeaderTooLong(let n): return "InvalidArgument: TraceHeader is \(n) characters, EventBridge allows \(EventBridgeTransform.maxTraceHeaderLength)"
            case .entryTooLarge(let size, let limit): return "InvalidArgument: entry is \(size) bytes as EventBridge counts it, over the \(limit)-byte limit"
            }
        }
    }

    public func entry(forEvent payload: [UInt8]) throws(Drop) -> PutEventsEntry {
        let event: JSONValue
        do {
            event = try JSONParser.parse(payload)
        } catch {
            throw .invalidEventJSON
        }
        return try entry(for: event, detail: String(decoding: payload, as: UTF8.self))
    }

    /// - Parameter detail: the event's compact JSON, when the caller already has it.
    public func entry(for event: JSONValue, detail: String? = nil) throws(Drop) -> PutEventsEntry {
        guard case .object = event else { throw .detailNotAnObject }
        var detailType = self.detailType.render(event)
        // A template that reads a field this type of message lacks (`{{ event }}` on an identify)
        // falls back to the message's type, so every type is delivered rather than dead-lettered.
        if detailType.isEmpty, let type = event[path: "type"]?.stringValue { detailType = type }
        if detailType.isEmpty { throw .emptyDetailType }
        if detailType.count > Self.maxDetailTypeLength { throw .detailTypeTooLong(detailType.count) }
        var trace: String?
        if let traceHeader {
            let rendered = traceHeader.render(event)
            if rendered.count > Self.maxTraceHeaderLength { throw .traceHeaderTooLong(rendered.count) }
            trace = rendered.isEmpty ? nil : rendered
        }
        var time: Int64?
        if settings.includeTime, case .string(let text)? = event[path: "timestamp"], let ts = Timestamp(rfc3339: text) {
            time = ts.millisecondsSinceEpoch >= 0 ? ts.millisecondsSinceEpoch / 1000 : (ts.millisecondsSinceEpoch - 999) / 1000
        }
        let entry = PutEventsEntry(
            detailType: detailType,
            detail: detail ?? event.jsonString,
            eventBusName: settings.eventBusName,
            resources: settings.resourceID.map(\.arn),
            source: settings.source,
            time: time,
            traceHeader: trace)
        if entry.awsSize > settings.maxRequestBytes {
            throw .entryTooLarge(size: entry.awsSize, limit: settings.maxRequestBytes)
        }
        return entry
    }
}
