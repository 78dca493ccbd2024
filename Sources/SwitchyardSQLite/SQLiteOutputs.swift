import GRDB
import SwitchyardCore

extension SQLiteJobStore {
    /// One transaction for a claim's outputs: the jobs' `output` and their `transformation`
    /// records, which reach live readers when it commits.
    public func saveOutputs(_ outputs: [JobOutput]) async throws {
        guard !outputs.isEmpty else { return }
        let now = clock.now()
        try await Self.writeAndPublish(pool, liveLog) { db -> (Void, [LogRecord]) in
            let update = try db.cachedStatement(
                sql: "UPDATE jobs SET output = ?, updated_at = ? WHERE id = ? AND lease = ? AND state = 'in_flight'"
            )
            var records: [LogRecord] = []
            for saved in outputs {
                var row = RowWriter(update)
                row.bindBlob(saved.output)
                row.bind(now.millisecondsSinceEpoch)
                row.bind(saved.job.id)
                row.bind(saved.job.lease)
                try row.step(db)
                // A lease that ran out: the job is someone else's now, and so is its record.
                guard db.changesCount > 0 else { continue }
                records.append(LogRecord.transformation(saved.log, job: saved.job, at: now))
            }
            try Self.insertRecords(&records, db: db)
            return ((), records)
        }
    }
}

extension SQLiteJobStore {
    public func appendRecords(_ records: [LogRecord]) async throws {
        guard !records.isEmpty else { return }
        try await Self.writeAndPublish(pool, liveLog) { db -> (Void, [LogRecord]) in
            var written = records
            try Self.insertRecords(&written, db: db)
            return ((), written)
        }
    }
}
