/// A named rule on a destination, as Contact Lens rules publish: every event its pattern matches
/// is sent once for it, tagged with the rule's name and action, so one event that matches two
/// rules becomes two entries. With rules, an event that matches none is not sent.
public struct DestinationRule: Codable, Sendable, Hashable {
    public var name: String
    public var action: String
    /// An event pattern over the Switchyard event; nil matches every event the filter admits.
    public var match: EventPattern?
    /// Replaces the destination's detail type for this rule's entries; a template.
    public var detailType: String?

    public init(name: String, action: String, match: EventPattern? = nil, detailType: String? = nil) {
        self.name = name
        self.action = action
        self.match = match
        self.detailType = detailType
    }

    public var tag: RuleTag { RuleTag(name: name, action: action) }

    /// Rule and action names are short identifiers in the log and in every entry.
    public static let maxNameLength = 128

    enum CodingKeys: String, CodingKey { case name, action, match, detailType }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        action = try c.decode(String.self, forKey: .action)
        match = try c.decodeIfPresent(EventPattern.self, forKey: .match)
        detailType = try c.decodeIfPresent(String.self, forKey: .detailType)
        for (key, value) in [(CodingKeys.name, name), (.action, action)] where value.isEmpty || value.count > Self.maxNameLength {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: key).configNode?.location,
                message: "rule \(key.stringValue) must be 1 to \(Self.maxNameLength) characters"
            )
        }
        if let detailType {
            do {
                _ = try Template(detailType)
            } catch {
                throw ConfigProblem(
                    location: try c.superDecoder(forKey: .detailType).configNode?.location,
                    message: "rule \"\(name)\": detailType: \(error)"
                )
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(action, forKey: .action)
        try c.encodeIfPresent(match, forKey: .match)
        try c.encodeIfPresent(detailType, forKey: .detailType)
    }

    /// The rules an event gets an entry for, in the order they are configured.
    public static func matching(_ rules: [DestinationRule], event: JSONValue) -> [DestinationRule] {
        rules.filter { $0.match?.matches(event) ?? true }
    }
}

/// A pattern in the configuration (`filter.pattern`, a rule's `match`), written in YAML or JSON.
/// One EventBridge would refuse is a config error with its reason, at the pattern's line.
extension EventPattern: Codable {
    public init(from decoder: any Decoder) throws {
        let written = try ConfigJSON(from: decoder)
        do {
            try self.init(written.value)
        } catch {
            throw ConfigProblem(location: written.location, message: "invalid event pattern: \(error.reason)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try EncodableJSON(source).encode(to: encoder)
    }
}

/// `heartbeat:` on a destination: when nothing was sent to it for `every` and nothing waits to
/// be, one event made from `event` is sent, so a consumer can tell a quiet pipeline from a
/// broken one (as Amazon Connect's agent event streams send `HEART_BEAT`).
public struct HeartbeatConfig: Codable, Sendable, Hashable {
    public var every: ConfigDuration
    /// A Switchyard event (`type` defaults to `track`; it needs a `userId` or `anonymousId`), as a
    /// JSON template: `{{ $now }}` is the time it is made.
    public var event: ConfigJSON

    public init(every: ConfigDuration, event: ConfigJSON) {
        self.every = every
        self.event = event
    }

    public static let minimumEvery = ConfigDuration.seconds(1)

    enum CodingKeys: String, CodingKey { case every, event }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        every = try c.decode(ConfigDuration.self, forKey: .every)
        event = try c.decode(ConfigJSON.self, forKey: .event)
        if every.milliseconds < Self.minimumEvery.milliseconds {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: .every).configNode?.location,
                message: "heartbeat.every must be at least \(Self.minimumEvery)"
            )
        }
        do {
            _ = try Heartbeat.makeEvent(event.value, now: .now(), maxEventBytes: .max)
        } catch {
            throw ConfigProblem(location: event.location, message: "heartbeat.event: \(error)")
        }
    }
}
