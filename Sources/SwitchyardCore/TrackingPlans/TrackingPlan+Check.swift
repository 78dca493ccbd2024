/// What a tracking plan made of one event.
public struct TrackingOutcome: Sendable {
    /// The event to store (its payload carries the violations, or lost unplanned properties);
    /// nil when the plan drops it.
    public var event: Event?
    public var violations: [TrackingViolation]

    public var dropped: Bool { event == nil }
}

extension TrackingPlan {
    static let removedMessage = "removed: not in the tracking plan"

    /// Checks `event` as RudderStack's processor does before user transformations: a track event
    /// the plan does not name is an `Unplanned-Event`; a planned one is checked against each of
    /// its schemas. With violations the event is dropped or goes on with them in
    /// `context.violationErrors` (and `context.trackingPlanId`, `context.trackingPlanVersion`).
    /// An event without violations is returned unchanged, costing no rewrite.
    public func check(_ event: Event) -> TrackingOutcome {
        let planned: PlannedEvent
        switch event.type {
        case .alias: return TrackingOutcome(event: event, violations: [])
        case .track:
            guard let found = event.name.flatMap({ tracks[$0] }) else {
                let violation = TrackingViolation(
                    type: .unplannedEvent,
                    message: "event \"\(event.name ?? "")\" is not in tracking plan \"\(name)\"",
                    instancePath: "/event",
                    schemaPath: "#"
                )
                if onUnplannedEvent == .drop { return TrackingOutcome(event: nil, violations: [violation]) }
                return annotated(event, payload: nil, violations: [violation])
            }
            planned = found
        default:
            guard let found = types[event.type] else { return TrackingOutcome(event: event, violations: []) }
            planned = found
        }
        guard var message = event.message else { return TrackingOutcome(event: event, violations: []) }
        var violations: [TrackingViolation] = []
        var changed = false
        for part in planned.parts {
            let (place, value) = Self.part(part.field, of: message, type: event.type)
            if onUnplannedProperties == .drop, let declared = part.declared, case .object(var object)? = value {
                let unplanned = object.keys.filter { !declared.admits($0) }
                for key in unplanned {
                    object[key] = nil
                    violations.append(
                        TrackingViolation(
                            type: .additionalProperties,
                            message: Self.removedMessage,
                            instancePath: JSONPointer.string(place),
                            schemaPath: "#/properties/" + place.joined(separator: "/properties/"),
                            property: key
                        )
                    )
                }
                if !unplanned.isEmpty, Self.set(&message, at: place, to: .object(object)) { changed = true }
            }
            let checked = Self.value(at: place, in: message) ?? .object(JSONObject())
            let found = part.schema.validate(checked, limit: Self.maxViolations)
            guard !found.isEmpty else { continue }
            let prefix = place.map { "/properties/" + JSONPointer.string([$0]).dropFirst() }.joined()
            for v in found {
                violations.append(
                    TrackingViolation(
                        type: ViolationType(keyword: v.keyword),
                        message: v.message,
                        instancePath: JSONPointer.string(place) + v.instancePath,
                        schemaPath: "#" + prefix + v.schemaPath.dropFirst(),
                        property: v.property
                    )
                )
            }
        }
        if violations.count > Self.maxViolations { violations.removeLast(violations.count - Self.maxViolations) }
        if violations.isEmpty { return TrackingOutcome(event: event, violations: []) }
        let removedOnly = violations.allSatisfy { $0.message == Self.removedMessage }
        if onViolation == .dropEvent, !removedOnly { return TrackingOutcome(event: nil, violations: violations) }
        return annotated(event, payload: changed ? message : nil, violations: violations)
    }

    /// The event with its violations in `context` (RudderStack's fields).
    private func annotated(_ event: Event, payload: JSONObject?, violations: [TrackingViolation]) -> TrackingOutcome {
        guard var message = payload ?? event.message else {
            return TrackingOutcome(event: event, violations: violations)
        }
        var context = message["context"]?.objectValue ?? JSONObject()
        context["trackingPlanId"] = .string(name)
        context["trackingPlanVersion"] = .number(String(version))
        context["violationErrors"] = .array(violations.map(\.json))
        message["context"] = .object(context)
        var out = event
        out.payload = JSONValue.object(message).serialized()
        out.document = message
        return TrackingOutcome(event: out, violations: violations)
    }

    /// Where a part sits in the message: `traits` of identify and group are read from
    /// `context.traits` when the SDK put them there (RudderStack's SDKs do).
    static func part(_ field: String?, of message: JSONObject, type: MessageType) -> ([String], JSONValue?) {
        guard let field else { return ([], .object(message)) }
        if field == "traits", message["traits"] == nil, let traits = message["context"]?.objectValue?["traits"] {
            return (["context", "traits"], traits)
        }
        return ([field], message[field])
    }

    static func value(at place: [String], in message: JSONObject) -> JSONValue? {
        var current: JSONValue = .object(message)
        for key in place {
            guard let next = current.objectValue?[key] else { return nil }
            current = next
        }
        return current
    }

    /// Replaces the object at `place` (one or two levels deep); false when it is not there.
    static func set(_ message: inout JSONObject, at place: [String], to value: JSONValue) -> Bool {
        switch place.count {
        case 1:
            message[place[0]] = value
            return true
        case 2:
            guard var outer = message[place[0]]?.objectValue else { return false }
            outer[place[1]] = value
            message[place[0]] = .object(outer)
            return true
        default: return false
        }
    }
}
