/// `trackingPlans[]`: the events a source may send and the shape of each, as JSON Schemas
/// (draft-07), with what happens to an event that breaks the plan. RudderStack's tracking plans
/// and Segment's Protocols, in one configuration.
public struct TrackingPlanConfig: Codable, Sendable {
    public enum OnViolation: String, Codable, Sendable, CaseIterable {
        /// The event goes on, its violations in `context.violationErrors` (RudderStack's shape).
        case propagate
        /// The event is not stored; its violations are recorded.
        case dropEvent
    }

    public enum OnUnplannedEvent: String, Codable, Sendable, CaseIterable {
        /// A track event the plan does not name goes on, as an `Unplanned-Event` violation.
        case propagate
        /// It is not stored (Segment's "Block"); the violation is recorded.
        case drop
    }

    public enum OnUnplannedProperties: String, Codable, Sendable, CaseIterable {
        /// Properties the event's schema does not declare stay (and break the schema only if it
        /// says `additionalProperties: false`).
        case keep
        /// They are removed before the event is stored (Segment's "Omit"), and recorded.
        case drop
    }

    public var name: String
    /// A YAML or JSON file holding `events:` (this shape, or RudderStack's exported plan with
    /// `name`, `eventType` and `rules`), relative to the configuration's folder.
    public var file: String?
    public var version: Int = 1
    public var events: [PlannedEventConfig] = []
    public var onViolation: OnViolation = .propagate
    public var onUnplannedEvent: OnUnplannedEvent = .propagate
    public var onUnplannedProperties: OnUnplannedProperties = .keep
    /// A destination that gets each violation as Segment's `Violation Generated` track event.
    public var forwardViolationsTo: String?

    public init(name: String, events: [PlannedEventConfig] = []) {
        self.name = name
        self.events = events
    }

    enum CodingKeys: String, CodingKey {
        case name, file, version, events, onViolation, onUnplannedEvent, onUnplannedProperties, forwardViolationsTo
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        file = try c.decodeIfPresent(String.self, forKey: .file)
        version = try c.decodeIfPresent(Int.self, forKey: .version) ?? 1
        events = try c.decodeEach(PlannedEventConfig.self, forKey: .events, decoder: decoder)
        onViolation = try c.decodeEnum(OnViolation.self, forKey: .onViolation) ?? .propagate
        onUnplannedEvent = try c.decodeEnum(OnUnplannedEvent.self, forKey: .onUnplannedEvent) ?? .propagate
        onUnplannedProperties = try c.decodeEnum(OnUnplannedProperties.self, forKey: .onUnplannedProperties) ?? .keep
        forwardViolationsTo = try c.decodeIfPresent(String.self, forKey: .forwardViolationsTo)
    }
}

/// One planned event: a track event by name, or a message type, with schemas for its parts.
public struct PlannedEventConfig: Codable, Sendable {
    /// A track event's name (`Order Completed`).
    public var event: String?
    /// `identify`, `page`, `screen` or `group` (or `track`, with `event`).
    public var type: MessageType?
    /// The schema of `properties` (track, page, screen).
    public var properties: ConfigJSON?
    /// The schema of `traits` (identify, group; `context.traits` where the SDK puts them there).
    public var traits: ConfigJSON?
    /// The schema of `context`.
    public var context: ConfigJSON?
    /// RudderStack's `rules`: one schema for the whole message.
    public var rules: ConfigJSON?

    public init(event: String? = nil, type: MessageType? = nil, properties: ConfigJSON? = nil) {
        self.event = event
        self.type = type
        self.properties = properties
    }

    enum CodingKeys: String, CodingKey {
        case event, type, properties, traits, context, rules, name, eventType
        // In RudderStack's exported plans, not used here.
        case id, description, version, workspaceId, trackingPlanId, createdAt, updatedAt
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // RudderStack's export names them `name` and `eventType`.
        event = try c.decodeIfPresent(String.self, forKey: .event) ?? c.decodeIfPresent(String.self, forKey: .name)
        type = try c.decodeEnum(MessageType.self, forKey: .type) ?? c.decodeEnum(MessageType.self, forKey: .eventType)
        properties = try c.decodeIfPresent(ConfigJSON.self, forKey: .properties)
        traits = try c.decodeIfPresent(ConfigJSON.self, forKey: .traits)
        context = try c.decodeIfPresent(ConfigJSON.self, forKey: .context)
        rules = try c.decodeIfPresent(ConfigJSON.self, forKey: .rules)
        for key in [CodingKeys.id, .description, .version, .workspaceId, .trackingPlanId, .createdAt, .updatedAt] {
            _ = try c.decodeIfPresent(ConfigJSON.self, forKey: key)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(event, forKey: .event)
        try c.encodeIfPresent(type, forKey: .type)
        try c.encodeIfPresent(properties, forKey: .properties)
        try c.encodeIfPresent(traits, forKey: .traits)
        try c.encodeIfPresent(context, forKey: .context)
        try c.encodeIfPresent(rules, forKey: .rules)
    }
}
