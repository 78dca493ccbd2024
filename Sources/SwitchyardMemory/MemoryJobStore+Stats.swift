import SwitchyardCore

/// Stats rollups in memory.
extension MemoryJobStore {
    public func writeStats(_ rows: [StatsRow]) async throws {
        try checkOpen()
        storage.rows.withLockedValue { stored in
            for row in rows { stored.stats[StatsKey(minute: row.minute, writer: row.writer, scope: row.scope)] = row.counts }
        }
    }

    public func stats(from: Int64, to: Int64) async throws -> [StatsRow] {
        try checkOpen()
        return storage.rows.withLockedValue { stored in
            stored.stats.compactMap { key, counts in
                (from..<to).contains(key.minute) ? StatsRow(minute: key.minute, writer: key.writer, scope: key.scope, counts: counts) : nil
            }
        }
    }

    public func pruneStats(before: Int64) async throws -> Int {
        try checkOpen()
        return storage.rows.withLockedValue { stored in
            let old = stored.stats.keys.filter { $0.minute < before }
            for key in old { stored.stats[key] = nil }
            return old.count
        }
    }
}
