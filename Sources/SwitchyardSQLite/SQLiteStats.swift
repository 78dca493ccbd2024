import GRDB
import SwitchyardCore

/// Stats rollups in the queue's file.
extension SQLiteJobStore {
    public func writeStats(_ rows: [StatsRow]) async throws {
        guard !rows.isEmpty else { return }
        try await pool.write { db in
            let upsert = try db.cachedStatement(
                sql: "INSERT OR REPLACE INTO stats (minute, writer, scope, name, data) VALUES (?, ?, ?, ?, ?)"
            )
            for row in rows {
                try upsert.execute(arguments: [
                    row.minute, row.writer, row.scope.kind.rawValue, row.scope.name,
                    String(decoding: row.counts.json.serialized(), as: UTF8.self),
                ])
            }
        }
    }

    public func stats(from: Int64, to: Int64) async throws -> [StatsRow] {
        try await pool.read { db in
            try Row.fetchAll(
                db,
                sql: "SELECT minute, writer, scope, name, data FROM stats WHERE minute >= ? AND minute < ?",
                arguments: [from, to]
            ).compactMap { row in
                StatsRow(stored: row["minute"], writer: row["writer"], scope: row["scope"], name: row["name"], data: row["data"])
            }
        }
    }

    public func pruneStats(before: Int64) async throws -> Int {
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM stats WHERE minute < ?", arguments: [before])
            return db.changesCount
        }
    }
}
