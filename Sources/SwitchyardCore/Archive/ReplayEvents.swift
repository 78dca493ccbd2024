extension Replay {
    /// A stored event's payload as this replay stores it again: `context.replay.name` added, the
    /// rest as it was (its `messageId`, its `receivedAt`); stored now, under the replay's source.
    /// Also returns the event's own `receivedAt`, what the time range selects on. Nil for a line
    /// that is not a stored event.
    public func replayed(_ payload: [UInt8], at now: Timestamp) -> (event: Event, receivedAt: Timestamp?)? {
        guard case .object(var o)? = try? JSONParser.parse(payload), let type = o["type"]?.stringValue.flatMap(MessageType.init(rawValue:)),
            let messageId = o["messageId"]?.stringValue
        else { return nil }
        var context = o["context"]?.objectValue ?? JSONObject()
        context["replay"] = .object(JSONObject([("name", .string(name))]))
        o["context"] = .object(context)
        let eventName: String?
        switch type {
        case .track: eventName = o["event"]?.stringValue
        case .page, .screen: eventName = o["name"]?.stringValue
        default: eventName = nil
        }
        var event = Event(
            messageId: messageId,
            type: type,
            name: eventName,
            userId: Ingestion.identity(o["userId"]),
            anonymousId: Ingestion.identity(o["anonymousId"]),
            receivedAt: now,
            payload: JSONValue.object(o).serialized()
        )
        event.document = o
        return (event, o["receivedAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:)))
    }

    /// Whether a time falls in the replay's range (`from` included, `to` not).
    public func covers(_ time: Timestamp) -> Bool { from <= time && time < to }
}
