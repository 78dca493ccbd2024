/// `stats:` at the top level: the per-minute rollups behind `/v1/stats`, the console's charts and
/// `switchyard top`. Each node writes its own rows to the store, so charts cover every node and
/// survive restarts; the last minutes are also kept at one-second resolution in memory.
public struct StatsConfig: Codable, Sendable, Hashable {
    /// How long per-minute rollups are kept in the store.
    public var retention: ConfigDuration = .init(milliseconds: 7 * 86_400_000)
    /// How far back one-second resolution reaches (memory only, this node's own traffic).
    public var recent: ConfigDuration = .init(milliseconds: 15 * 60_000)
    /// How often a node writes its current minutes to the store and samples the queue's depth.
    public var flushInterval: ConfigDuration = .seconds(10)

    public init() {}

    enum CodingKeys: String, CodingKey { case retention, recent, flushInterval }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        retention = try c.decodeIfPresent(ConfigDuration.self, forKey: .retention) ?? retention
        recent = try c.decodeIfPresent(ConfigDuration.self, forKey: .recent) ?? recent
        flushInterval = try c.decodeIfPresent(ConfigDuration.self, forKey: .flushInterval) ?? flushInterval
    }

    /// Values out of range, by key.
    var problems: [(key: String, message: String)] {
        var out: [(String, String)] = []
        if retention.milliseconds < 3_600_000 { out.append(("retention", "must be at least 1h")) }
        if !(60_000...86_400_000).contains(recent.milliseconds) { out.append(("recent", "must be between 1m and 24h")) }
        if !(1000...60_000).contains(flushInterval.milliseconds) { out.append(("flushInterval", "must be between 1s and 1m")) }
        return out
    }
}
