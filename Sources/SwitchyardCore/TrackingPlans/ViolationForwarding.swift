extension TrackingPlan {
    /// Segment's forwarded violations: one `Violation Generated` track event per violation, from
    /// user `schema-violations`, with the violating event's id, name and type, for
    /// `forwardViolationsTo` to deliver. Nothing of the event's own data is copied into them.
    public func violationEvents(for event: Event, violations: [TrackingViolation], source: String) -> [Event] {
        violations.compactMap { violation in
            var properties = JSONObject()
            properties["eventMessageID"] = .string(event.messageId)
            properties["eventName"] = event.name.map(JSONValue.string) ?? .null
            properties["eventType"] = .string(event.type.rawValue)
            properties["sourceID"] = .string(source)
            properties["trackingPlanID"] = .string(name)
            let field = violation.field
            let described = violation.type == .requiredMissing ? "is required" : violation.message
            properties["violationDescription"] = .string(field.isEmpty ? described : "\(field) \(described)")
            properties["violationField"] = .string(field)
            properties["violationType"] = .string(violation.type.segmentName)
            var message = JSONObject()
            message["type"] = .string("track")
            message["event"] = .string("Violation Generated")
            message["userId"] = .string("schema-violations")
            message["properties"] = .object(properties)
            message["context"] = .object(JSONObject([("library", .object(JSONObject([("name", .string("switchyard"))])))]))
            let context = IngestContext(receivedAt: event.receivedAt, requestIP: nil, maxEventBytes: 1 << 20)
            return try? Ingestion.events(route: .track, body: JSONValue.object(message).serialized(), context: context).events.first
        }
    }
}
