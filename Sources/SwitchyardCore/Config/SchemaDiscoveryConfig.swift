/// `schemaDiscovery:` at the top level: inferring a JSON Schema for every source's event models
/// from live traffic, as EventBridge's schema discovery does for a bus and rudder-server's event
/// audit for a source. On by default: it costs little (it samples past `maxEventsPerSecond`).
public struct SchemaDiscoveryConfig: Codable, Sendable, Hashable {
    public var enabled = true
    /// Events per second per event model whose shape is inferred; past it, events are counted
    /// but not looked at, and the registry says the model was sampled.
    public var maxEventsPerSecond = 20
    /// How often a node adds what it saw to the registry.
    public var flushInterval: ConfigDuration = .seconds(10)
    /// Event models kept per source (rudder-server's `eventModelLimit`); past it the least
    /// recently seen goes.
    public var maxModelsPerSource = 200
    /// Versions kept per event model (rudder-server's `schemaVersionPerEventModelLimit`).
    public var maxVersionsPerModel = 20

    public init() {}

    enum CodingKeys: String, CodingKey { case enabled, maxEventsPerSecond, flushInterval, maxModelsPerSource, maxVersionsPerModel }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
        maxEventsPerSecond = try c.decodeIfPresent(Int.self, forKey: .maxEventsPerSecond) ?? maxEventsPerSecond
        flushInterval = try c.decodeIfPresent(ConfigDuration.self, forKey: .flushInterval) ?? flushInterval
        maxModelsPerSource = try c.decodeIfPresent(Int.self, forKey: .maxModelsPerSource) ?? maxModelsPerSource
        maxVersionsPerModel = try c.decodeIfPresent(Int.self, forKey: .maxVersionsPerModel) ?? maxVersionsPerModel
    }

    public var limits: SchemaRegistryLimits {
        SchemaRegistryLimits(maxModelsPerSource: maxModelsPerSource, maxVersionsPerModel: maxVersionsPerModel)
    }

    /// Values out of range, by key.
    var problems: [(key: String, message: String)] {
        var out: [(String, String)] = []
        if maxEventsPerSecond < 1 { out.append(("maxEventsPerSecond", "must be at least 1")) }
        if flushInterval.milliseconds < 100 { out.append(("flushInterval", "must be at least 100ms")) }
        if !(1...10_000).contains(maxModelsPerSource) { out.append(("maxModelsPerSource", "must be between 1 and 10000")) }
        if !(1...1000).contains(maxVersionsPerModel) { out.append(("maxVersionsPerModel", "must be between 1 and 1000")) }
        return out
    }
}
