/// Whether a destination needs each key's events delivered in the order Switchyard accepted them.
///
/// With `perKey`, a key's next event is not sent while an earlier one is in flight or waiting for
/// a retry: the store keeps every later job of the key `blocked` until the one ahead of it is
/// delivered or dead-lettered. That holds when a batch partly fails and across restarts, since
/// it lives in the queue, not in a worker's memory. Keys are computed when the event is stored.
public enum DeliveryOrdering: Sendable, Hashable {
    /// Full concurrency: events may arrive in any order.
    case none
    /// One event per key at a time, in acceptance order.
    case perKey(EventKey)
}

/// A value of an event that names a sequence: a user (the default), a message, or a template.
/// Kinesis uses the same value as the record's partition key.
public enum EventKey: Sendable, Hashable {
    /// `userId`, else `anonymousId`: RudderStack's Kinesis partition key.
    case userOrAnonymousId
    case messageId
    /// A template over the event, such as `{{ context.traits.accountId }}`.
    case template(Template)

    /// The key of an event about to be stored; nil when it renders empty.
    public func value(for event: Event) -> String? {
        switch self {
        case .userOrAnonymousId: return event.userId ?? event.anonymousId
        case .messageId: return event.messageId
        case .template(let template): return Self.render(template, payload: event.payload)
        }
    }

    /// The same key, from a stored event.
    public func value(for job: Job) -> String? {
        switch self {
        case .userOrAnonymousId: return job.userId
        case .messageId: return job.messageId
        case .template(let template): return Self.render(template, payload: job.payload)
        }
    }

    static func render(_ template: Template, payload: [UInt8]) -> String? {
        guard let event = try? JSONParser.parse(payload) else { return nil }
        let text = template.render(event)
        return text.isEmpty ? nil : text
    }
}
