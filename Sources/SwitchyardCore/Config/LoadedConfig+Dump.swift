import Yams

extension LoadedConfig {
    /// The configuration as YAML with every secret shown as `***`, for `switchyard validate --print`.
    /// - Parameter notes: per destination, what to add under `resolved:` (such as `credentials`).
    public func redactedYAML(notes: [String: [(String, String)]] = [:]) throws -> String {
        struct Dump: Encodable {
            var server: ServerConfig
            var storage: StorageConfig
            var sources: [SourceConfig]
            var destinations: [DestinationDump]
            var connections: [ConnectionConfig]
            var transformations: [TransformationConfig]?
            var libraries: [TransformationConfig]?
            var trackingPlans: [TrackingPlanConfig]?
            var dedup: DedupConfig
            var schemaDiscovery: SchemaDiscoveryConfig
            /// Its S3 keys are `Secret`s: dumped as `***`.
            var archive: ArchiveConfig?
            var stats: StatsConfig
        }
        struct DestinationDump: Encodable {
            var name: String
            var type: String
            var enabled: Bool
            var config: any Sendable & Encodable
            var filter: EventFilter?
            var delivery: DeliveryPolicy
            var rules: [DestinationRule]
            var heartbeat: HeartbeatConfig?
            var consent: ConsentConfig?
            /// Its salt is a `Secret`: dumped as `***`.
            var privacy: DestinationPrivacyConfig?
            var transformations: [String]
            var resolved: [String: String]?
            enum CodingKeys: String, CodingKey {
                case name, type, enabled, config, filter, delivery, rules, heartbeat, consent, privacy, transformations, resolved
            }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(name, forKey: .name)
                try c.encode(type, forKey: .type)
                try c.encode(enabled, forKey: .enabled)
                try c.encode(config, forKey: .config)
                try c.encodeIfPresent(filter, forKey: .filter)
                try c.encode(delivery, forKey: .delivery)
                if !rules.isEmpty { try c.encode(rules, forKey: .rules) }
                try c.encodeIfPresent(heartbeat, forKey: .heartbeat)
                try c.encodeIfPresent(consent, forKey: .consent)
                try c.encodeIfPresent(privacy, forKey: .privacy)
                if !transformations.isEmpty { try c.encode(transformations, forKey: .transformations) }
                try c.encodeIfPresent(resolved, forKey: .resolved)
            }
        }
        let dump = Dump(
            server: config.server,
            storage: config.storage,
            sources: config.sources,
            destinations: destinations.map { d in
                let resolved = notes[d.name].flatMap { $0.isEmpty ? nil : Dictionary($0, uniquingKeysWith: { a, _ in a }) }
                return DestinationDump(
                    name: d.name,
                    type: d.config.type,
                    enabled: d.config.enabled,
                    config: d.settings,
                    filter: d.config.filter,
                    delivery: d.config.delivery,
                    rules: d.config.rules,
                    heartbeat: d.config.heartbeat,
                    consent: d.config.consent,
                    privacy: d.config.privacy,
                    transformations: d.config.transformations,
                    resolved: resolved
                )
            },
            connections: config.connections,
            transformations: config.transformations.isEmpty ? nil : config.transformations,
            libraries: config.libraries.isEmpty ? nil : config.libraries,
            trackingPlans: config.trackingPlans.isEmpty ? nil : config.trackingPlans,
            dedup: config.dedup,
            schemaDiscovery: config.schemaDiscovery,
            archive: config.archive.enabled ? config.archive : nil,
            stats: config.stats
        )
        return try YAMLEncoder().encode(dump)
    }
}
