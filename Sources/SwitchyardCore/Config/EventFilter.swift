/// Which events a destination gets. Events it filters out get no job at all.
public struct EventFilter: Codable, Sendable, Hashable {
    /// Message types let through; nil lets every type through.
    public var types: [MessageType]?
    public var events: NameFilter?
    /// An EventBridge event pattern over the Switchyard event (`type`, `event`, `properties`, …).
    public var pattern: EventPattern?

    public struct NameFilter: Codable, Sendable, Hashable {
        public var allow: [String]?
        public var deny: [String]?

        public init(allow: [String]? = nil, deny: [String]? = nil) {
            self.allow = allow
            self.deny = deny
        }
    }

    public init(types: [MessageType]? = nil, events: NameFilter? = nil, pattern: EventPattern? = nil) {
        self.types = types
        self.events = events
        self.pattern = pattern
    }

    enum CodingKeys: String, CodingKey { case types, events, pattern }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.types) {
            let names = try c.decode([String].self, forKey: .types)
            types = try names.enumerated().map { n, name in
                guard let t = MessageType(rawValue: name) else {
                    let loc = decoder.configNode?.node(at: [CodingKeys.types, IndexKey(n)])?.location
                    throw ConfigProblem(
                        location: loc,
                        message:
                            "unknown message type \"\(name)\"\(didYouMean(name, MessageType.allCases.map(\.rawValue))); expected one of \(MessageType.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return t
            }
        }
        events = try c.decodeIfPresent(NameFilter.self, forKey: .events)
        pattern = try c.decodeIfPresent(EventPattern.self, forKey: .pattern)
    }

    /// Whether an event passes the whole filter; `json` parses it, only when a pattern needs it.
    public func admits(type: MessageType, name: String?, json: () -> JSONValue?) -> Bool {
        guard admits(type: type, name: name) else { return false }
        guard let pattern else { return true }
        guard let event = json() else { return false }
        return pattern.matches(event)
    }

    /// Whether an event of this type and name passes `types` and `events` (the pattern aside). Denied names lose; with an allowlist, only
    /// listed names pass (an event without a name, such as identify, passes only the type check).
    public func admits(type: MessageType, name: String?) -> Bool {
        if let types, !types.contains(type) { return false }
        guard let events, let name else { return true }
        if let deny = events.deny, deny.contains(name) { return false }
        if let allow = events.allow { return allow.contains(name) }
        return true
    }
}
