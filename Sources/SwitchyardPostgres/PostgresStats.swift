import Logging
import PostgresNIO
import SwitchyardCore

/// Stats rollups, every node's in one table: each node upserts only its own writer's rows, so
/// two nodes never write the same row and reading sums them once each.
extension PostgresJobStore {
    public func writeStats(_ rows: [StatsRow]) async throws {
        guard !rows.isEmpty else { return }
        try await transaction(deadline: Self.readDeadline) { [self] connection in
            for row in rows {
                let data = String(decoding: row.counts.json.serialized(), as: UTF8.self).pgText
                try await connection.run(
                    """
                    INSERT INTO stats (minute, writer, scope, name, data)
                    VALUES (\(row.minute), \(row.writer.pgText), \(row.scope.kind.rawValue), \(row.scope.name.pgText), \(data))
                    ON CONFLICT (minute, writer, scope, name) DO UPDATE SET data = excluded.data
                    """,
                    logger: logger
                )
            }
        }
    }

    public func stats(from: Int64, to: Int64) async throws -> [StatsRow] {
        try await guarded { [self] connection in
            let rows = try await connection.run(
                "SELECT minute, writer, scope, name, data FROM stats WHERE minute >= \(from) AND minute < \(to)",
                logger: logger
            )
            var out: [StatsRow] = []
            for (minute, writer, scope, name, data) in try rows.decode((Int64, String, String, String, String).self) {
                if let row = StatsRow(stored: minute, writer: writer, scope: scope, name: name, data: data) { out.append(row) }
            }
            return out
        }
    }

    public func pruneStats(before: Int64) async throws -> Int {
        try await transaction { [self] connection in
            let rows = try await connection.run(
                "WITH gone AS (DELETE FROM stats WHERE minute < \(before) RETURNING 1) SELECT count(*) FROM gone",
                logger: logger
            )
            var n: Int64 = 0
            for count in try rows.decode(Int64.self) { n = count }
            return Int(n)
        }
    }
}
