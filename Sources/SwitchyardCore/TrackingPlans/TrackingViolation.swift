/// RudderStack's names for the ways an event breaks its tracking plan (rudder-transformer's
/// `violationTypes`), chosen from the JSON Schema keyword that failed.
public enum ViolationType: String, Sendable, Hashable, CaseIterable, Codable {
    case requiredMissing = "Required-Missing"
    case datatypeMismatch = "Datatype-Mismatch"
    case additionalProperties = "Additional-Properties"
    case advanceRulesViolation = "Advance-Rules-Violation"
    case unknownViolation = "Unknown-Violation"
    case unplannedEvent = "Unplanned-Event"

    init(keyword: String) {
        switch keyword {
        case "required": self = .requiredMissing
        case "type": self = .datatypeMismatch
        case "additionalProperties": self = .additionalProperties
        case "pattern", "format", "enum", "const", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
            "minItems", "maxItems", "uniqueItems", "multipleOf", "minProperties", "maxProperties":
            self = .advanceRulesViolation
        default: self = .unknownViolation
        }
    }

    /// The `violationType` of Segment's forwarded `Violation Generated` events.
    var segmentName: String {
        switch self {
        case .requiredMissing: return "Required"
        case .datatypeMismatch: return "Type"
        case .additionalProperties: return "Unplanned Property"
        case .advanceRulesViolation: return "Rule"
        case .unknownViolation: return "Unknown"
        case .unplannedEvent: return "Unplanned Event"
        }
    }
}

/// One way one event broke its plan, with its place in the whole message.
public struct TrackingViolation: Sendable, Hashable {
    public var type: ViolationType
    public var message: String
    /// A JSON Pointer into the message (`/properties/total`); empty for the message itself.
    public var instancePath: String
    /// Where in the plan's schema (`#/properties/properties/required`).
    public var schemaPath: String
    /// The property a required or removed-property violation names.
    public var property: String?

    public init(type: ViolationType, message: String, instancePath: String, schemaPath: String, property: String? = nil) {
        self.type = type
        self.message = message
        self.instancePath = instancePath
        self.schemaPath = schemaPath
        self.property = property
    }

    /// As RudderStack puts it in `context.violationErrors`:
    /// `{"type","message","meta":{"instancePath","schemaPath"}}`.
    public var json: JSONValue {
        var meta = JSONObject()
        meta["instancePath"] = .string(instancePath)
        meta["schemaPath"] = .string(schemaPath)
        if let property { meta["property"] = .string(property) }
        var o = JSONObject()
        o["type"] = .string(type.rawValue)
        o["message"] = .string(message)
        o["meta"] = .object(meta)
        return .object(o)
    }

    /// The field as Segment names it: `properties.products`, the missing property included.
    public var field: String {
        var tokens = JSONPointer.tokens(instancePath) ?? []
        if let property, type == .requiredMissing { tokens.append(property) }
        return tokens.joined(separator: ".")
    }

    /// One line for logs and the live log: `properties.total: must be number (Datatype-Mismatch)`.
    public var summary: String {
        let place = field.isEmpty ? "the event" : field
        return "\(place): \(message) (\(type.rawValue))"
    }
}

extension LogRecord {
    /// The record of an event's violations: `propagated` (stored, the violations in its context)
    /// or `dropped` (not stored). A dropped event's record names no user: nothing else of the
    /// event is kept, so no deletion would need to find it.
    public static func violations(
        _ violations: [TrackingViolation],
        of event: Event,
        source: String,
        plan: String,
        version: Int,
        dropped: Bool
    ) -> LogRecord {
        var record = LogRecord(
            at: event.receivedAt,
            kind: .violation,
            messageId: event.messageId,
            status: dropped ? "dropped" : "propagated"
        )
        record.source = source
        record.type = event.type.rawValue
        record.event = event.name
        record.userId = dropped ? nil : event.userId ?? event.anonymousId
        record.errorMessage = violations.map(\.summary).joined(separator: "; ")
        var detail = JSONObject()
        detail["trackingPlan"] = .string(plan)
        detail["version"] = .number(String(version))
        detail["violations"] = .array(violations.map(\.json))
        record.detail = .object(detail)
        return record
    }
}
