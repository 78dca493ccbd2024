import Foundation
import Logging
import PostgresNIO
import SwitchyardCore

/// Regulations shared by every node: one suppression list, and each deletion run by the node
/// holding its lease (renewed every step; a dead node's runs out and another takes it over).
extension PostgresJobStore {
    public func record(_ regulation: Regulation, subjects: [String]) async throws {
        let type = regulation.subjectType.rawValue
        let ids = subjects.map(\.pgText)
        let digests = subjects.map(SubjectDigest.of)
        // Up to 100,000 ids: not the ingestion's deadline, which a client waits on.
        try await transaction(deadline: Self.bulkDeadline) { [self] connection in
            try await connection.run(
                """
                INSERT INTO regulations (id, type, subject_type, subject_count, status, created_at, finished_at, removed)
                VALUES (\(regulation.id), \(regulation.kind.rawValue), \(type), \(Int32(regulation.subjectCount)),
                    \(regulation.status.rawValue), \(regulation.createdAt.millisecondsSinceEpoch),
                    \(regulation.finishedAt?.millisecondsSinceEpoch), \(Self.text(regulation.removed)))
                """,
                logger: logger
            )
            if regulation.kind.suppresses {
                try await connection.run(
                    """
                    INSERT INTO suppressions (subject_type, subject_digest) SELECT \(type), unnest(\(digests)::text[]) ON CONFLICT DO NOTHING
                    """,
                    logger: logger
                )
            }
            if regulation.kind == .unsuppress {
                try await connection.run(
                    "DELETE FROM suppressions WHERE subject_type = \(type) AND subject_digest = ANY(\(digests)::text[])",
                    logger: logger
                )
            }
            if regulation.kind.deletes {
                try await connection.run(
                    """
                    INSERT INTO erasure_subjects (regulation, subject_type, subject_id)
                    SELECT \(regulation.id), \(type), unnest(\(ids)::text[]) ON CONFLICT DO NOTHING
                    """,
                    logger: logger
                )
            }
        }
    }

    static func text(_ counts: ErasureCounts) -> String {
        String(decoding: counts.json.serialized(), as: UTF8.self)
    }

    static let regulationColumns = "id, type, subject_type, subject_count, status, created_at, finished_at, removed"

    public func regulations(limit: Int) async throws -> [Regulation] {
        try await guarded { [self] connection in
            try Self.regulations(
                try await connection.run(
                    "SELECT \(unescaped: Self.regulationColumns) FROM regulations ORDER BY seq DESC LIMIT \(limit)",
                    logger: logger
                )
            )
        }
    }

    public func regulation(id: String) async throws -> Regulation? {
        try await guarded { [self] connection in
            try Self.regulations(
                try await connection.run(
                    "SELECT \(unescaped: Self.regulationColumns) FROM regulations WHERE id = \(id.pgText)",
                    logger: logger
                )
            ).first
        }
    }

    static func regulations(_ rows: PostgresQueryResult) throws -> [Regulation] {
        var regulations: [Regulation] = []
        for (id, type, subjectType, count, status, created, finished, removed) in try rows.decode(
            (String, String, String, Int32, String, Int64, Int64?, String?).self
        ) {
            guard let kind = Regulation.Kind(rawValue: type), let subjectType = Regulation.SubjectType(rawValue: subjectType),
                let status = Regulation.Status(rawValue: status)
            else { continue }
            regulations.append(
                Regulation(
                    id: id,
                    kind: kind,
                    subjectType: subjectType,
                    subjectCount: Int(count),
                    status: status,
                    createdAt: Timestamp(millisecondsSinceEpoch: created),
                    finishedAt: finished.map(Timestamp.init(millisecondsSinceEpoch:)),
                    removed: ErasureCounts(json: removed.flatMap { try? JSONParser.parse($0) })
                )
            )
        }
        return regulations
    }

    public func suppressions() async throws -> Suppressions.Snapshot {
        try await guarded { [self] connection in
            // One statement, so the version and the list are of the same moment.
            let rows = try await connection.run(
                """
                SELECT (SELECT count(*) FROM regulations)::bigint, COALESCE(array_agg(subject_type), '{}'), COALESCE(array_agg(subject_digest), '{}')
                FROM suppressions
                """,
                logger: logger
            )
            for (version, types, ids) in try rows.decode((Int64, [String], [String]).self) {
                var subjects = Subjects()
                for (type, id) in zip(types, ids) { subjects.insert(id, typeName: type) }
                return Suppressions.Snapshot(version: version, subjects: subjects)
            }
            return Suppressions.Snapshot(version: 0, subjects: Subjects())
        }
    }

    /// Rows are never deleted, so their number grows with every change, and commits that land
    /// out of order cannot leave it where it was (as a sequence's maximum could).
    public func suppressionVersion() async throws -> Int64 {
        try await guarded { [self] connection in
            for version in try await connection.run("SELECT count(*)::bigint FROM regulations", logger: logger).decode(Int64.self) {
                return version
            }
            return 0
        }
    }

    public func claimErasure(leaseFor: Duration) async throws -> Erasure? {
        let now = clock.now().millisecondsSinceEpoch
        let until = now + leaseFor.milliseconds
        let deleting = [Regulation.Kind.suppressWithDelete.rawValue, Regulation.Kind.deleteInternal.rawValue]
        // Background work reading up to 100,000 subjects: not the ingestion's deadline.
        return try await transaction(deadline: Self.bulkDeadline) { [self] connection -> Erasure? in
            var claimed: (String, Int64)?
            for row in try await connection.run(
                """
                UPDATE regulations SET status = 'RUNNING', lease_node = \(node), lease_until = \(until) WHERE id = (
                    SELECT id FROM regulations WHERE status <> 'FINISHED' AND type = ANY(\(deleting)::text[])
                        AND (lease_until IS NULL OR lease_until < \(now) OR lease_node = \(node))
                    ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, created_at
                """,
                logger: logger
            ).decode((String, Int64).self) {
                claimed = row
            }
            guard let (id, created) = claimed else { return nil }
            var subjects = Subjects()
            for (type, subject) in try await connection.run(
                "SELECT subject_type, subject_id FROM erasure_subjects WHERE regulation = \(id)",
                logger: logger
            ).decode((String, String).self) {
                subjects.insert(subject, typeName: type)
            }
            return Erasure(id: id, subjects: subjects, createdAt: Timestamp(millisecondsSinceEpoch: created), leaseFor: leaseFor)
        }
    }

    public func finishErasure(_ erasure: Erasure) async throws {
        let now = clock.now().millisecondsSinceEpoch
        try await transaction { [self] connection in
            try await connection.run(
                "UPDATE regulations SET status = 'FINISHED', finished_at = \(now), lease_node = NULL, lease_until = NULL WHERE id = \(erasure.id)",
                logger: logger
            )
            try await connection.run("DELETE FROM erasure_subjects WHERE regulation = \(erasure.id)", logger: logger)
        }
    }

    /// Adds a step's counts to the regulation's and renews the lease, in the step's transaction.
    func addRemoved(_ counts: ErasureCounts, to erasure: Erasure, _ connection: PostgresConnection) async throws {
        var stored: String?
        for removed in try await connection.run(
            "SELECT removed FROM regulations WHERE id = \(erasure.id) FOR UPDATE",
            logger: logger
        ).decode(String?.self) {
            stored = removed
        }
        let total = ErasureCounts(json: stored.flatMap { try? JSONParser.parse($0) }) + counts
        let until = clock.now().millisecondsSinceEpoch + erasure.leaseFor.milliseconds
        try await connection.run(
            "UPDATE regulations SET removed = \(Self.text(total)), lease_until = \(until) WHERE id = \(erasure.id)",
            logger: logger
        )
    }
}
