public struct DestinationConfig: Codable, Sendable {
    public var name: String
    public var type: String
    /// The type-specific block, decoded by the destination's plugin.
    public var config: ConfigNode?
    public var enabled: Bool = true
    public var filter: EventFilter?
    /// Concurrency, batching linger, retries and backoff; the same keys for every destination type.
    public var delivery: DeliveryPolicy = .init()
    /// Named rules: an admitted event is sent once per rule it matches, and not at all when it
    /// matches none. Empty: every admitted event is sent once.
    public var rules: [DestinationRule] = []
    public var heartbeat: HeartbeatConfig?
    /// The consent an event must carry to get a job for this destination.
    public var consent: ConsentConfig?
    /// What of each event this destination may see.
    public var privacy: DestinationPrivacyConfig?
    /// The names of the `transformations:` run on each event, in order, after `privacy:` and
    /// before the entry is made.
    public var transformations: [String] = []

    public init(
        name: String,
        type: String,
        config: ConfigNode? = nil,
        enabled: Bool = true,
        filter: EventFilter? = nil,
        delivery: DeliveryPolicy = .init(),
        rules: [DestinationRule] = [],
        heartbeat: HeartbeatConfig? = nil,
        consent: ConsentConfig? = nil,
        privacy: DestinationPrivacyConfig? = nil
    ) {
        self.consent = consent
        self.privacy = privacy
        self.name = name
        self.type = type
        self.config = config
        self.enabled = enabled
        self.filter = filter
        self.delivery = delivery
        self.rules = rules
        self.heartbeat = heartbeat
    }

    enum CodingKeys: String, CodingKey {
        case name, type, config, enabled, filter, delivery, rules, heartbeat, consent, privacy, transformations
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(String.self, forKey: .type)
        if c.contains(.config) {
            // Kept raw: only the plugin knows its keys, and it reports unknown ones itself.
            config = try c.superDecoder(forKey: .config).configNode
        }
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        filter = try c.decodeIfPresent(EventFilter.self, forKey: .filter)
        delivery = try c.decodeIfPresent(DeliveryPolicy.self, forKey: .delivery) ?? .init()
        rules = try c.decodeEach(DestinationRule.self, forKey: .rules, decoder: decoder)
        heartbeat = try c.decodeIfPresent(HeartbeatConfig.self, forKey: .heartbeat)
        consent = try c.decodeIfPresent(ConsentConfig.self, forKey: .consent)
        if consent?.isEmpty == true { consent = nil }
        privacy = try c.decodeIfPresent(DestinationPrivacyConfig.self, forKey: .privacy)
        if privacy?.isEmpty == true { privacy = nil }
        transformations = try c.decodeIfPresent([String].self, forKey: .transformations) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(filter, forKey: .filter)
        try c.encode(delivery, forKey: .delivery)
        if !rules.isEmpty { try c.encode(rules, forKey: .rules) }
        try c.encodeIfPresent(heartbeat, forKey: .heartbeat)
        try c.encodeIfPresent(consent, forKey: .consent)
        try c.encodeIfPresent(privacy, forKey: .privacy)
        if !transformations.isEmpty { try c.encode(transformations, forKey: .transformations) }
    }
}

public struct ConnectionConfig: Codable, Sendable {
    public var from: String
    public var to: [String]

    public init(from: String, to: [String]) {
        self.from = from
        self.to = to
    }
}
