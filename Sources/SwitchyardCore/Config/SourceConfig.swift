public struct SourceConfig: Codable, Sendable {
    public var name: String
    public var writeKeys: [Secret]
    public var enabled: Bool = true
    /// This source's own deduplication window; nil takes the top-level `dedup`.
    public var dedup: DedupConfig?
    /// What is removed from each event before it is stored.
    public var privacy: SourcePrivacyConfig = .init()
    /// The tracking plan (`trackingPlans[].name`) this source's events are checked against.
    public var trackingPlan: String?

    public init(
        name: String,
        writeKeys: [Secret],
        enabled: Bool = true,
        dedup: DedupConfig? = nil,
        privacy: SourcePrivacyConfig = .init()
    ) {
        self.name = name
        self.writeKeys = writeKeys
        self.enabled = enabled
        self.dedup = dedup
        self.privacy = privacy
    }

    enum CodingKeys: String, CodingKey { case name, writeKeys, enabled, dedup, privacy, trackingPlan }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        writeKeys = try c.decode([Secret].self, forKey: .writeKeys)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        dedup = try c.decodeIfPresent(DedupConfig.self, forKey: .dedup)
        privacy = try c.decodeIfPresent(SourcePrivacyConfig.self, forKey: .privacy) ?? .init()
        trackingPlan = try c.decodeIfPresent(String.self, forKey: .trackingPlan)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(writeKeys, forKey: .writeKeys)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(dedup, forKey: .dedup)
        if privacy != .init() { try c.encode(privacy, forKey: .privacy) }
        try c.encodeIfPresent(trackingPlan, forKey: .trackingPlan)
    }
}
