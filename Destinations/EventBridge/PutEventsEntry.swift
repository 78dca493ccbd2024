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

    /// The entry's JSON, keys in the order rudder-transformer writes them.
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
/// Without a `detail:` mapping the Detail is the stored event's JSON as is (never re-encoded);
/// an entry made for a destination rule carries `ruleName` and `actionName` first in its Detail.
public struct EventBridgeTransform: Sendable {
    public let settings: EventBridgeSettings
    public let detailType: Template
    public let traceHeader: Template?
    /// Nil when `source` is plain text, which is then used as it is.
    let sourceTemplate: Template?
    /// Each resource ARN as a template; nil when none is one.
    let resourceTemplates: [Template]?
    let detail: JSONTemplate?
    /// The destination's rules by name, each with its own detail type, if it has one.
    let rules: [String: (rule: DestinationRule, detailType: Template?)]

    public static let maxDetailTypeLength = 128
    public static let maxTraceHeaderLength = 500
    public static let maxSourceLength = 256
    public static let maxResourceLength = 2048

    public init(settings: EventBridgeSettings, rules: [DestinationRule] = []) throws(Template.ParseError) {
        self.settings = settings
        detailType = try Template(settings.detailType)
        traceHeader = try settings.traceHeader.map { text throws(Template.ParseError) in try Template(text) }
        let source = try Template(settings.source)
        sourceTemplate = source.isLiteral ? nil : source
        var resources: [Template] = []
        for resource in settings.resourceID { resources.append(try Template(resource.arn)) }
        resourceTemplates = resources.allSatisfy(\.isLiteral) ? nil : resources
        detail = try settings.detail.map { mapping throws(Template.ParseError) in try JSONTemplate(mapping.value) }
        var byName: [String: (rule: DestinationRule, detailType: Template?)] = [:]
        for rule in rules {
            byName[rule.name] = (rule, try rule.detailType.map { text throws(Template.ParseError) in try Template(text) })
        }
        self.rules = byName
    }

    /// Why an event can never become a valid entry; such events are dead-lettered, not retried.
    public enum Drop: Error, Sendable, Hashable, CustomStringConvertible {
        case detailNotAnObject
        case invalidEventJSON
        case emptyDetailType
        case detailTypeTooLong(Int)
        case traceHeaderTooLong(Int)
        case entryTooLarge(size: Int, limit: Int)
        case invalidSource(String)
        case resourceTooLong(Int)
        case ruleRemoved(String)

        public var description: String {
            switch self {
            case .detailNotAnObject: return "MalformedDetail: Detail must be a JSON object"
            case .invalidEventJSON: return "MalformedDetail: the stored event is not valid JSON"
            case .emptyDetailType:
                return
                    "InvalidArgument: DetailType rendered empty and the event has no type to fall back on (give the template a fallback, like {{ event | \"unknown\" }})"
            case .detailTypeTooLong(let n):
                return "InvalidArgument: DetailType is \(n) characters, EventBridge allows \(EventBridgeTransform.maxDetailTypeLength)"
            case .traceHeaderTooLong(let n):
                return "InvalidArgument: TraceHeader is \(n) characters, EventBridge allows \(EventBridgeTransform.maxTraceHeaderLength)"
            case .entryTooLarge(let size, let limit):
                return "InvalidArgument: entry is \(size) bytes as EventBridge counts it, over the \(limit)-byte limit"
            case .invalidSource(let why): return "InvalidArgument: Source \(why)"
            case .resourceTooLong(let n):
                return "InvalidArgument: a resource is \(n) characters, EventBridge allows \(EventBridgeTransform.maxResourceLength)"
            case .ruleRemoved(let name):
                return
                    "RuleRemoved: the event was accepted for rule \"\(name)\", which this destination no longer has (restore the rule and replay the dead letters to send it)"
            }
        }
    }

    /// The rule a job was accepted for; nil for a job without one.
    public func rule(named name: String?) throws(Drop) -> DestinationRule? {
        guard let name else { return nil }
        guard let found = rules[name] else { throw .ruleRemoved(name) }
        return found.rule
    }

    public func entry(forEvent payload: [UInt8], rule: DestinationRule? = nil) throws(Drop) -> PutEventsEntry {
        let event: JSONValue
        do {
            event = try JSONParser.parse(payload)
        } catch {
            throw .invalidEventJSON
        }
        return try entry(for: event, payload: payload, rule: rule)
    }

    /// - Parameter payload: the event's compact JSON, when the caller already has it.
    public func entry(for event: JSONValue, payload: [UInt8]? = nil, rule: DestinationRule? = nil) throws(Drop) -> PutEventsEntry {
        guard case .object(let object) = event else { throw .detailNotAnObject }
        let scope = TemplateScope(event: event, rule: rule?.tag)
        let typeTemplate = rule.flatMap { rules[$0.name]?.detailType } ?? self.detailType
        var detailType = typeTemplate.render(scope)
        // A template that reads a field this type of message lacks (`{{ event }}` on an identify)
        // falls back to the message's type, so every type is delivered rather than dead-lettered.
        if detailType.isEmpty, let type = event[path: "type"]?.stringValue { detailType = type }
        if detailType.isEmpty { throw .emptyDetailType }
        if detailType.count > Self.maxDetailTypeLength { throw .detailTypeTooLong(detailType.count) }
        var trace: String?
        if let traceHeader {
            let rendered = traceHeader.render(scope)
            if rendered.count > Self.maxTraceHeaderLength { throw .traceHeaderTooLong(rendered.count) }
            trace = rendered.isEmpty ? nil : rendered
        }
        var time: Int64?
        if settings.includeTime, case .string(let text)? = event[path: "timestamp"], let ts = Timestamp(rfc3339: text) {
            time = ts.millisecondsSinceEpoch >= 0 ? ts.millisecondsSinceEpoch / 1000 : (ts.millisecondsSinceEpoch - 999) / 1000
        }
        var source = settings.source
        if let sourceTemplate {
            source = sourceTemplate.render(scope)
            if source.isEmpty {
                throw .invalidSource("rendered empty (give the template a fallback, like {{ context.app.name | \"my-app\" }})")
            }
            if source.count > Self.maxSourceLength {
                throw .invalidSource("is \(source.count) characters, EventBridge allows \(Self.maxSourceLength)")
            }
            if source.hasPrefix("aws.") { throw .invalidSource("\"\(source)\" starts with \"aws.\", which is reserved for AWS services") }
        }
        var resources = settings.resourceID.map(\.arn)
        if let resourceTemplates {
            // An ARN that renders empty is left out: the event has nothing to name there.
            resources = resourceTemplates.map { $0.render(scope) }.filter { !$0.isEmpty }
            if let long = resources.first(where: { $0.count > Self.maxResourceLength }) { throw .resourceTooLong(long.count) }
        }
        let entry = PutEventsEntry(
            detailType: detailType,
            detail: detailText(object, payload: payload, scope: scope),
            eventBusName: settings.eventBusName,
            resources: resources,
            source: source,
            time: time,
            traceHeader: trace
        )
        if entry.awsSize > settings.maxRequestBytes {
            throw .entryTooLarge(size: entry.awsSize, limit: settings.maxRequestBytes)
        }
        return entry
    }

    /// The Detail: the mapping rendered, or the event itself; tagged with the rule, if any.
    func detailText(_ event: JSONObject, payload: [UInt8]?, scope: TemplateScope) -> String {
        let tag = scope.rule
        if let detail {
            guard case .object(var rendered) = detail.render(scope) else { return JSONValue.object(JSONObject()).jsonString }
            if let tag, rendered["ruleName"] == nil, rendered["actionName"] == nil { rendered = Self.tagged(rendered, tag) }
            return JSONValue.object(rendered).jsonString
        }
        guard let tag else { return payload.map { String(decoding: $0, as: UTF8.self) } ?? JSONValue.object(event).jsonString }
        // The stored JSON with the two keys written in front: no re-encoding of the event.
        if let payload, event["ruleName"] == nil, event["actionName"] == nil, payload.first == UInt8(ascii: "{") {
            var out: [UInt8] = Array(#"{"ruleName":"#.utf8)
            out.reserveCapacity(payload.count + tag.name.utf8.count + tag.action.utf8.count + 32)
            JSONValue.string(tag.name).write(to: &out)
            out += Array(#","actionName":"#.utf8)
            JSONValue.string(tag.action).write(to: &out)
            if !event.isEmpty { out.append(UInt8(ascii: ",")) }
            out += payload.dropFirst()
            return String(decoding: out, as: UTF8.self)
        }
        return JSONValue.object(Self.tagged(event, tag)).jsonString
    }

    /// `ruleName` and `actionName` first, then the rest (any of the event's own dropped).
    static func tagged(_ object: JSONObject, _ tag: RuleTag) -> JSONObject {
        var out = JSONObject([("ruleName", .string(tag.name)), ("actionName", .string(tag.action))])
        for (key, value) in object where key != "ruleName" && key != "actionName" { out[key] = value }
        return out
    }
}
