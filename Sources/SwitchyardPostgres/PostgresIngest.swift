import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Ingestion: requests group-committed into one transaction, a statement per table.
extension PostgresJobStore {
    public func append(_ events: [NewEvent]) async throws(StoreError) {
        guard isStarted else { throw .unavailable(notStartedReason) }
        let jobs = events.reduce(0) { $0 + $1.targets.count }
        // Other nodes' commits move the count too: read it again at most once a second, under
        // the write deadline (a database that stopped answering is found by the commit anyway).
        if jobs > 0, gate.claimSharedRead(every: Self.sharedCountInterval) {
            let store = self
            _ = try? await Self.within(Self.writeDeadline, client) { try await store.readDepth($0) }
        }
        try await gate.append(jobs: jobs) { () throws(StoreError) in try await ingest.submit(events) }
    }

    /// One ingestion transaction for many requests, in one statement after BEGIN (plus the
    /// ordering keys' locks when there are keyed jobs): the events, their jobs, the depth and the
    /// notification, so a commit costs three round trips however many requests it carries.
    func commit(_ events: [NewEvent]) async throws(StoreError) {
        let now = clock.now().millisecondsSinceEpoch
        var rows: [Int64] = []
        var messageIds: [String] = []
        var sources: [String] = []
        var types: [String] = []
        var names: [String] = []
        var users: [String] = []
        var anonymous: [String] = []
        var received: [Int64] = []
        var payloads: [ByteBuffer] = []
        var nulls: [Int64] = []
        var jobEvents: [Int64] = []
        var destinations: [String] = []
        var keys: [String] = []
        var rules: [String] = []
        var jobFlags: [Int64] = []
        var jobTimes: [Int64] = []
        // `skipped` records (no consent), at the transaction's record positions.
        var skipEvents: [Int64] = []
        var skipTimes: [Int64] = []
        var skipMessageIds: [String] = []
        var skipSources: [String] = []
        var skipDestinations: [String] = []
        var skipTypes: [String] = []
        var skipNames: [String] = []
        var skipUsers: [String] = []
        var skipReasons: [String] = []
        var skipNulls: [Int64] = []
        // The keys' lock names, which also tell a key's later job in this very batch.
        var lockedKeys = Set<String>()
        for (n, item) in events.enumerated() {
            let e = item.event
            rows.append(Int64(n))
            messageIds.append(e.messageId.pgText)
            sources.append(item.source.pgText)
            types.append(e.type.rawValue)
            names.append(e.name.pgText ?? "")
            users.append(e.userId.pgText ?? "")
            anonymous.append(e.anonymousId.pgText ?? "")
            received.append(e.receivedAt.millisecondsSinceEpoch)
            payloads.append(ByteBuffer(bytes: e.payload))
            nulls.append((e.name == nil ? 1 : 0) | (e.userId == nil ? 2 : 0) | (e.anonymousId == nil ? 4 : 0))
            for target in item.targets {
                jobEvents.append(Int64(n))
                destinations.append(target.destination)
                keys.append(target.orderingKey.pgText ?? "")
                rules.append(target.rule.pgText ?? "")
                jobTimes.append(e.receivedAt.millisecondsSinceEpoch)
                var flags: Int64 = target.rule == nil ? 0 : 4
                if let key = target.orderingKey {
                    flags |= 1
                    // A key's later job in this very batch waits behind its earlier one.
                    if !lockedKeys.insert(Self.keyLock(target.destination, key)).inserted { flags |= 2 }
                }
                jobFlags.append(flags)
            }
            for record in LogRecord.skipped(item, eventID: Int64(n)) {
                skipEvents.append(Int64(n))
                skipTimes.append(record.at.millisecondsSinceEpoch)
                skipMessageIds.append(record.messageId.pgText)
                skipSources.append(record.source.pgText ?? "")
                skipDestinations.append(record.destination.pgText ?? "")
                skipTypes.append(record.type ?? "")
                skipNames.append(record.event.pgText ?? "")
                skipUsers.append(record.userId.pgText ?? "")
                skipReasons.append(record.errorMessage.pgText ?? "")
                skipNulls.append((record.event == nil ? 1 : 0) | (record.userId == nil ? 2 : 0))
            }
        }
        let skipPositions = skipEvents.indices.map { Self.recordOffset + Int64($0) }
        let jobCount = Int64(jobEvents.count)
        let shard = Int32.random(in: 0..<Int32(PostgresSchema.depthShards))
        let node = self.node
        let logger = self.logger
        let query: PostgresQuery = """
            WITH x AS (\(unescaped: Self.positionBase)),
            ev AS (
                INSERT INTO events (id, message_id, source, type, name, user_id, anonymous_id, received_at, payload, node)
                SELECT x.base + t.i, t.m, t.s, t.ty,
                    CASE WHEN t.z & 1 = 0 THEN t.n END, CASE WHEN t.z & 2 = 0 THEN t.u END, CASE WHEN t.z & 4 = 0 THEN t.a END,
                    t.r, t.p, \(node)
                FROM x, unnest(\(rows)::bigint[], \(messageIds)::text[], \(sources)::text[], \(types)::text[], \(names)::text[],
                            \(users)::text[], \(anonymous)::text[], \(received)::bigint[], \(payloads)::bytea[], \(nulls)::bigint[])
                    AS t(i, m, s, ty, n, u, a, r, p, z)
            ),
            jb AS (
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, ordering_key, rule)
                SELECT x.base + t.e, t.d, CASE WHEN t.b THEN 'blocked' ELSE 'pending' END, CASE WHEN t.b THEN \(KeyedOrder.never) ELSE t.at END, \(now),
                    CASE WHEN t.f & 1 = 1 THEN t.k END, CASE WHEN t.f & 4 = 4 THEN t.r END
                FROM x, (
                    SELECT u.*, (u.f & 2 = 2 OR (u.f & 1 = 1 AND EXISTS (
                        SELECT 1 FROM jobs j WHERE j.destination = u.d AND j.ordering_key = u.k AND j.state <> 'succeeded' AND j.state <> 'dead'))) AS b
                    FROM unnest(\(jobEvents)::bigint[], \(destinations)::text[], \(keys)::text[], \(rules)::text[], \(jobFlags)::bigint[], \(jobTimes)::bigint[])
                        AS u(e, d, k, r, f, at)
                ) t
            ),
            sk AS (
                INSERT INTO delivery_log (id, at, kind, status, message_id, source, destination, type, event, user_id, error_message, event_id, node)
                SELECT x.base + t.pos, t.r, 'skipped', 'skipped', t.m, t.s, t.d, t.ty,
                    CASE WHEN t.z & 1 = 0 THEN t.n END, CASE WHEN t.z & 2 = 0 THEN t.u END, t.why, x.base + t.e, \(node)
                FROM x, unnest(\(skipPositions)::bigint[], \(skipEvents)::bigint[], \(skipTimes)::bigint[], \(skipMessageIds)::text[],
                            \(skipSources)::text[], \(skipDestinations)::text[], \(skipTypes)::text[], \(skipNames)::text[], \(skipUsers)::text[],
                            \(skipReasons)::text[], \(skipNulls)::bigint[])
                    AS t(pos, e, r, m, s, d, ty, n, u, why, z)
            ),
            dp AS (UPDATE queue_depth SET jobs = jobs + \(jobCount) WHERE shard = \(shard) AND \(jobCount) > 0)
            SELECT pg_notify(\(Self.channel), CASE WHEN \(jobCount) > 0 THEN 'jobs' ELSE 'log' END)
            """
        try await transaction { [lockedKeys] connection in
            try await Self.lockKeys(lockedKeys, connection, logger: logger)
            try await connection.run(query, logger: logger)
        }
    }
}
