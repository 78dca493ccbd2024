import GRDB
import SwitchyardCore

/// The registry of discovered schemas in the queue's file, one document per event model.
extension SQLiteJobStore {
    public func recordSchemas(_ observations: [SchemaObservation], limits: SchemaRegistryLimits) async throws {
        guard !observations.isEmpty else { return }
        try await pool.write { db in
            let select = try db.cachedStatement(sql: "SELECT body FROM discovered_schemas WHERE source = ? AND type = ? AND name = ?")
            let upsert = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO discovered_schemas (source, type, name, last_seen, body) VALUES (?, ?, ?, ?, ?)"
            )
            for observation in observations {
                let key = observation.key
                let arguments: StatementArguments = [key.source, key.type.rawValue, key.name]
                let body = try String.fetchOne(select, arguments: arguments)
                var model =
                    body.flatMap { try? JSONParser.parse($0) }.flatMap(DiscoveredSchema.init(json:))
                    ?? DiscoveredSchema(recording: observation)
                model.record(observation, limits: limits)
                try upsert.execute(
                    arguments: arguments + [
                        model.lastSeen.millisecondsSinceEpoch, String(decoding: model.json.serialized(), as: UTF8.self),
                    ]
                )
            }
            for source in Set(observations.map(\.key.source)) {
                let rows = try Row.fetchAll(
                    db,
                    sql: "SELECT type, name, last_seen FROM discovered_schemas WHERE source = ?",
                    arguments: [source]
                )
                let models = rows.compactMap { row -> (key: SchemaKey, lastSeen: Timestamp)? in
                    guard let type = MessageType(rawValue: row["type"]) else { return nil }
                    return (SchemaKey(source: source, type: type, name: row["name"]), Timestamp(millisecondsSinceEpoch: row["last_seen"]))
                }
                for key in DiscoveredSchema.evicted(models, limit: limits.maxModelsPerSource) {
                    try db.execute(
                        sql: "DELETE FROM discovered_schemas WHERE source = ? AND type = ? AND name = ?",
                        arguments: [key.source, key.type.rawValue, key.name]
                    )
                }
            }
        }
    }

    public func discoveredSchemas(source: String?) async throws -> [DiscoveredSchema] {
        try await pool.read { db in
            let bodies =
                if let source {
                    try String.fetchAll(db, sql: "SELECT body FROM discovered_schemas WHERE source = ?", arguments: [source])
                } else {
                    try String.fetchAll(db, sql: "SELECT body FROM discovered_schemas")
                }
            return bodies.compactMap { try? JSONParser.parse($0) }.compactMap(DiscoveredSchema.init(json:)).sorted { $0.key < $1.key }
        }
    }
}
