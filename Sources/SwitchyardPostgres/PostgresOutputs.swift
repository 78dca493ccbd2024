import NIOCore
import PostgresNIO
import SwitchyardCore

extension PostgresJobStore {
    /// One transaction for a claim's outputs: the jobs' `output` (for jobs still leased by this
    /// claim) and their `transformation` records.
    public func saveOutputs(_ outputs: [JobOutput]) async throws {
        guard !outputs.isEmpty else { return }
        let now = clock.now()
        try await transaction { [self] connection in
            let rows = try await connection.run(
                """
                UPDATE jobs SET output = t.o, updated_at = \(now.millisecondsSinceEpoch)
                FROM unnest(\(outputs.map(\.job.id))::bigint[], \(outputs.map(\.job.lease))::bigint[],
                    \(outputs.map { ByteBuffer(bytes: $0.output) })::bytea[]) AS t(id, lease, o)
                WHERE jobs.id = t.id AND jobs.lease = t.lease AND jobs.state = 'in_flight'
                RETURNING jobs.id
                """,
                logger: logger
            )
            // A lease that ran out: the job is someone else's now, and so is its record.
            let saved = Set(try rows.decode(Int64.self))
            let records = outputs.filter { saved.contains($0.job.id) }.map { LogRecord.transformation($0.log, job: $0.job, at: now) }
            try await insertRecords(records, connection)
        }
    }
}

extension PostgresJobStore {
    public func appendRecords(_ records: [LogRecord]) async throws {
        guard !records.isEmpty else { return }
        try await transaction { [self] connection in try await insertRecords(records, connection) }
    }
}
