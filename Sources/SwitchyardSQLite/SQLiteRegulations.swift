import Foundation
import GRDB
import SwitchyardCore

/// Regulations in the queue's file: the suppression list (ids' digests), the regulations'
/// records, and the subjects of deletions still running (dropped when they finish). One process owns the file,
/// so a deletion needs no lease: whatever is unfinished at start is this process's to run.
extension SQLiteJobStore {
    public func record(_ regulation: Regulation, subjects: [String]) async throws {
        try await pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO regulations (id, type, subject_type, subject_count, status, created_at, finished_at, removed)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    regulation.id, regulation.kind.rawValue, regulation.subjectType.rawValue, regulation.subjectCount,
                    regulation.status.rawValue, regulation.createdAt.millisecondsSinceEpoch,
                    regulation.finishedAt?.millisecondsSinceEpoch, String(decoding: regulation.removed.json.serialized(), as: UTF8.self),
                ]
            )
            let type = regulation.subjectType.rawValue
            var statements: [Statement] = []
            if regulation.kind.suppresses {
                statements.append(
                    try db.cachedStatement(sql: "INSERT OR IGNORE INTO suppressions (subject_type, subject_digest) VALUES (?, ?)")
                )
            }
            if regulation.kind == .unsuppress {
                statements.append(try db.cachedStatement(sql: "DELETE FROM suppressions WHERE subject_type = ? AND subject_digest = ?"))
            }
            let keep =
                regulation.kind.deletes
                ? try db.cachedStatement(
                    sql: "INSERT OR IGNORE INTO erasure_subjects (regulation, subject_type, subject_id) VALUES (?, ?, ?)"
                )
                : nil
            for id in subjects {
                for statement in statements {
                    var row = RowWriter(statement)
                    row.bind(type)
                    row.bind(SubjectDigest.of(id))
                    try row.step(db)
                }
                if let keep {
                    var row = RowWriter(keep)
                    row.bind(regulation.id)
                    row.bind(type)
                    row.bind(id)
                    try row.step(db)
                }
            }
        }
    }

    public func regulations(limit: Int) async throws -> [Regulation] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM regulations ORDER BY seq DESC LIMIT ?", arguments: [limit]).compactMap(Self.regulation)
        }
    }

    public func regulation(id: String) async throws -> Regulation? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM regulations WHERE id = ?", arguments: [id]).flatMap(Self.regulation)
        }
    }

    static func regulation(_ row: Row) -> Regulation? {
        guard let kind = Regulation.Kind(rawValue: row["type"]), let subjectType = Regulation.SubjectType(rawValue: row["subject_type"]),
            let status = Regulation.Status(rawValue: row["status"])
        else { return nil }
        return Regulation(
            id: row["id"],
            kind: kind,
            subjectType: subjectType,
            subjectCount: row["subject_count"],
            status: status,
            createdAt: Timestamp(millisecondsSinceEpoch: row["created_at"]),
            finishedAt: (row["finished_at"] as Int64?).map(Timestamp.init(millisecondsSinceEpoch:)),
            removed: ErasureCounts(json: (row["removed"] as String?).flatMap { try? JSONParser.parse($0) })
        )
    }

    public func suppressions() async throws -> Suppressions.Snapshot {
        try await pool.read { db in
            var subjects = Subjects()
            let rows = try Row.fetchCursor(db, sql: "SELECT subject_type, subject_digest FROM suppressions")
            while let row = try rows.next() { subjects.insert(row[1], typeName: row[0]) }
            return Suppressions.Snapshot(version: try Self.suppressionVersion(db), subjects: subjects)
        }
    }

    public func suppressionVersion() async throws -> Int64 {
        try await pool.read { db in try Self.suppressionVersion(db) }
    }

    static func suppressionVersion(_ db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(seq), 0) FROM regulations") ?? 0
    }

    public func claimErasure(leaseFor: Duration) async throws -> Erasure? {
        let deleting = [Regulation.Kind.suppressWithDelete, .deleteInternal].map { "'\($0.rawValue)'" }.joined(separator: ",")
        // Asked every second: a read, and a write only when there is a deletion to run.
        let pending = try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT id, created_at FROM regulations WHERE status <> 'FINISHED' AND type IN (\(deleting)) ORDER BY seq LIMIT 1"
            )
        }
        guard let pending else { return nil }
        let id: String = pending[0]
        let createdAt = Timestamp(millisecondsSinceEpoch: pending[1])
        return try await pool.write { db -> Erasure in
            try db.execute(sql: "UPDATE regulations SET status = 'RUNNING' WHERE id = ?", arguments: [id])
            var subjects = Subjects()
            let rows = try Row.fetchCursor(
                db,
                sql: "SELECT subject_type, subject_id FROM erasure_subjects WHERE regulation = ?",
                arguments: [id]
            )
            while let subject = try rows.next() { subjects.insert(subject[1], typeName: subject[0]) }
            return Erasure(id: id, subjects: subjects, createdAt: createdAt, leaseFor: leaseFor)
        }
    }

    public func finishErasure(_ erasure: Erasure) async throws {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE regulations SET status = 'FINISHED', finished_at = ? WHERE id = ?",
                arguments: [clock.now().millisecondsSinceEpoch, erasure.id]
            )
            try db.execute(sql: "DELETE FROM erasure_subjects WHERE regulation = ?", arguments: [erasure.id])
        }
        // What was deleted is zeroed in the pages (`secure_delete`), but older copies of those
        // pages stay in the write-ahead log until it is checkpointed and cut back to nothing.
        for database in [pool, messageIndex] {
            do {
                _ = try await database.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            } catch {
                logger.warning("the write-ahead log keeps deleted pages until its next checkpoint: \(error)")
            }
        }
    }
}
