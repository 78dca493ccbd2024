import SwitchyardCore

/// The registry of discovered schemas in the memory store's dictionaries.
extension MemoryJobStore {
    public func recordSchemas(_ observations: [SchemaObservation], limits: SchemaRegistryLimits) async throws {
        try checkOpen()
        storage.rows.withLockedValue { rows in
            for observation in observations {
                var model = rows.schemas[observation.key] ?? DiscoveredSchema(recording: observation)
                model.record(observation, limits: limits)
                rows.schemas[observation.key] = model
            }
            for source in Set(observations.map(\.key.source)) {
                let models = rows.schemas.values.filter { $0.key.source == source }.map { (key: $0.key, lastSeen: $0.lastSeen) }
                for key in DiscoveredSchema.evicted(models, limit: limits.maxModelsPerSource) { rows.schemas[key] = nil }
            }
        }
    }

    public func discoveredSchemas(source: String?) async throws -> [DiscoveredSchema] {
        try checkOpen()
        return storage.rows.withLockedValue { rows in
            rows.schemas.values.filter { source == nil || $0.key.source == source }.sorted { $0.key < $1.key }
        }
    }
}
