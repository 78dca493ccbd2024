import Logging
import PostgresNIO
import SwitchyardCore

/// One registry of discovered schemas for every node: each node's flush updates the models it
/// saw under their row locks, taken in key order so two nodes' flushes never deadlock, then drops
/// the least recently seen past the limit, skipping rows another node holds.
extension PostgresJobStore {
    public func recordSchemas(_ observations: [SchemaObservation], limits: SchemaRegistryLimits) async throws {
        let sorted = observations.sorted { $0.key < $1.key }
        guard !sorted.isEmpty else { return }
        try await transaction(deadline: Self.readDeadline) { [self] connection in
            for observation in sorted {
                let key = observation.key
                let (source, type, name) = (key.source.pgText, key.type.rawValue, key.name.pgText)
                try await connection.run(
                    """
                    INSERT INTO discovered_schemas (source, type, name, last_seen, body) VALUES (\(source), \(type), \(name), 0, '')
                    ON CONFLICT DO NOTHING
                    """,
                    logger: logger
                )
                let rows = try await connection.run(
                    "SELECT body FROM discovered_schemas WHERE source = \(source) AND type = \(type) AND name = \(name) FOR UPDATE",
                    logger: logger
                )
                var body = ""
                for text in try rows.decode(String.self) { body = text }
                var model =
                    (try? JSONParser.parse(body)).flatMap(DiscoveredSchema.init(json:)) ?? DiscoveredSchema(recording: observation)
                model.record(observation, limits: limits)
                let text = String(decoding: model.json.serialized(), as: UTF8.self)
                try await connection.run(
                    """
                    UPDATE discovered_schemas SET last_seen = \(model.lastSeen.millisecondsSinceEpoch), body = \(text)
                    WHERE source = \(source) AND type = \(type) AND name = \(name)
                    """,
                    logger: logger
                )
            }
        }
        for source in Set(sorted.map(\.key.source.pgText)) {
            try await transaction(deadline: Self.readDeadline) { [self] connection in
                try await connection.run(
                    """
                    DELETE FROM discovered_schemas WHERE (source, type, name) IN (
                        SELECT source, type, name FROM discovered_schemas WHERE source = \(source)
                        ORDER BY last_seen DESC, type DESC, name DESC OFFSET \(limits.maxModelsPerSource)
                        FOR UPDATE SKIP LOCKED)
                    """,
                    logger: logger
                )
            }
        }
    }

    public func discoveredSchemas(source: String?) async throws -> [DiscoveredSchema] {
        try await guarded { [self] connection in
            let rows =
                if let source {
                    try await connection.run(
                        "SELECT body FROM discovered_schemas WHERE source = \(source.pgText) AND body <> ''",
                        logger: logger
                    )
                } else {
                    try await connection.run("SELECT body FROM discovered_schemas WHERE body <> ''", logger: logger)
                }
            var models: [DiscoveredSchema] = []
            for text in try rows.decode(String.self) {
                if let model = (try? JSONParser.parse(text)).flatMap(DiscoveredSchema.init(json:)) { models.append(model) }
            }
            return models.sorted { $0.key < $1.key }
        }
    }
}
