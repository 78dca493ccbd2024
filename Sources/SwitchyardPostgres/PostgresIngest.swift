import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Ingestion: requests group-committed into one transaction, a statement per table.
extension PostgresJobStore {
    public func append(_ events: [NewEvent]) async throws(StoreError) -> Appended {
        guard isStarted else { throw .unavailable(notStartedReason) }
        let jobs = events.reduce(0) { $0 + $1.targets.count }
        // Other nodes' commits move the count too: read it again at most once a second, under
        // the write deadline (a database that stopped answering is found by the commit anyway).
        if jobs > 0, gate.claimSharedRead(every: Self.sharedCountInterval) {
            let store = self
            _ = try? await Self.within(Self.writeDeadline, client) { try await store.readDepth($0) }
        }
        return try await gate.append(jobs: jobs) { () throws(StoreError) -> Appended in
            Appended(events, duplicates: try await ingest.submit(events))
        }
    }

    /// One ingestion transaction for many requests, in one statement after BEGIN (plus the
    /// ordering keys' locks when there are keyed jobs): the dedup marks, the events that are not
    /// duplicates, their jobs, the depth and the notification, so a commit costs three round
    /// trips however many requests it carries. Returns, for each event, whether it was a duplicate.
    func commit(_ all: [NewEvent]) async throws(StoreError) -> [Bool] {
        let now = clock.now().millisecondsSinceEpoch
        // Later copies in this very write are duplicates before the database is asked (one
        // statement cannot mark a key twice); the rest are marked in the statement, sorted by
        // key so that two nodes' transactions take the keys' row locks in the same order.
        let first = DedupRule.firstInWrite(all)
        let events = zip(all, first).filter(\.1).map(\.0)
        var markSources: [String] = []
        var markIds: [String] = []
        var markUntil: [Int64] = []
        var markAt: [Int64] = []
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
        // Records written with their event (`skipped` destinations, a plan's violations), at the
        // transaction's record positions.
        var skipKinds: [String] = []
        var skipStatuses: [String] = []
        var skipDetails: [String] = []
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
        // The ordering keys' lock names.
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
            nulls.append(
                (e.name == nil ? 1 : 0) | (e.userId == nil ? 2 : 0) | (e.anonymousId == nil ? 4 : 0) | (item.dedupUntil == nil ? 0 : 8)
            )
            if let until = item.dedupUntil {
                markSources.append(item.source.pgText)
                markIds.append(e.messageId.pgText)
                markUntil.append(until)
                markAt.append(e.receivedAt.millisecondsSinceEpoch)
            }
            for target in item.targets {
                jobEvents.append(Int64(n))
                destinations.append(target.destination)
                keys.append(target.orderingKey.pgText ?? "")
                rules.append(target.rule.pgText ?? "")
                jobTimes.append(e.receivedAt.millisecondsSinceEpoch)
                var flags: Int64 = target.rule == nil ? 0 : 4
                if let key = target.orderingKey {
                    // A key's later job in this very batch waits behind its earlier stored one
                    // (counted in the statement, which knows which events are duplicates).
                    flags |= 1
                    lockedKeys.insert(Self.keyLock(target.destination, key))
                }
                jobFlags.append(flags)
            }
            for record in LogRecord.withEvent(item, eventID: Int64(n)) {
                skipKinds.append(record.kind.rawValue)
                skipStatuses.append(record.status.pgText)
                skipDetails.append(record.detail.map { String(decoding: $0.serialized(), as: UTF8.self).pgText } ?? "")
                skipEvents.append(Int64(n))
                skipTimes.append(record.at.millisecondsSinceEpoch)
                skipMessageIds.append(record.messageId.pgText)
                skipSources.append(record.source.pgText ?? "")
                skipDestinations.append(record.destination.pgText ?? "")
                skipTypes.append(record.type ?? "")
                skipNames.append(record.event.pgText ?? "")
                skipUsers.append(record.userId.pgText ?? "")
                skipReasons.append(record.errorMessage.pgText ?? "")
                skipNulls.append(
                    (record.event == nil ? 1 : 0) | (record.userId == nil ? 2 : 0) | (record.detail == nil ? 4 : 0)
                        | (record.destination == nil ? 8 : 0)
                )
            }
        }
        let skipPositions = skipEvents.indices.map { Self.recordOffset + Int64($0) }
        let shard = Int32.random(in: 0..<Int32(PostgresSchema.depthShards))
        let node = self.node
        let logger = self.logger
        let query: PostgresQuery = """
            WITH x AS (\(unescaped: Self.positionBase)),
            dd AS (
                INSERT INTO dedup (source, message_id, until, marked_at)
                SELECT d.s, d.m, d.u, d.r
                FROM unnest(\(markSources)::text[], \(markIds)::text[], \(markUntil)::bigint[], \(markAt)::bigint[]) AS d(s, m, u, r)
                ORDER BY d.s, d.m
                ON CONFLICT (source, message_id) DO UPDATE SET until = EXCLUDED.until, marked_at = EXCLUDED.marked_at
                    WHERE dedup.until <= EXCLUDED.marked_at
                RETURNING source, message_id
            ),
            ev AS (
                INSERT INTO events (id, message_id, source, type, name, user_id, anonymous_id, received_at, payload, node)
                SELECT x.base + t.i, t.m, t.s, t.ty,
                    CASE WHEN t.z & 1 = 0 THEN t.n END, CASE WHEN t.z & 2 = 0 THEN t.u END, CASE WHEN t.z & 4 = 0 THEN t.a END,
                    t.r, t.p, \(node)
                FROM x, unnest(\(rows)::bigint[], \(messageIds)::text[], \(sources)::text[], \(types)::text[], \(names)::text[],
                            \(users)::text[], \(anonymous)::text[], \(received)::bigint[], \(payloads)::bytea[], \(nulls)::bigint[])
                    AS t(i, m, s, ty, n, u, a, r, p, z)
                    LEFT JOIN dd ON dd.source = t.s AND dd.message_id = t.m
                WHERE t.z & 8 = 0 OR dd.message_id IS NOT NULL
                RETURNING id
            ),
            kept AS (SELECT ev.id - x.base AS i FROM ev, x),
            jb AS (
                INSERT INTO jobs (event_id, destination, state, available_at, updated_at, ordering_key, rule)
                SELECT x.base + t.e, t.d, CASE WHEN t.b THEN 'blocked' ELSE 'pending' END, CASE WHEN t.b THEN \(KeyedOrder.never) ELSE t.at END, \(now),
                    CASE WHEN t.f & 1 = 1 THEN t.k END, CASE WHEN t.f & 4 = 4 THEN t.r END
                FROM x, (
                    SELECT u.*, (u.f & 1 = 1 AND (row_number() OVER (PARTITION BY u.d, u.k ORDER BY u.o) > 1 OR EXISTS (
                        SELECT 1 FROM jobs j WHERE j.destination = u.d AND j.ordering_key = u.k AND j.state <> 'succeeded' AND j.state <> 'dead'))) AS b
                    FROM unnest(\(jobEvents)::bigint[], \(destinations)::text[], \(keys)::text[], \(rules)::text[], \(jobFlags)::bigint[], \(jobTimes)::bigint[])
                        WITH ORDINALITY AS u(e, d, k, r, f, at, o)
                    WHERE u.e IN (SELECT i FROM kept)
                ) t
                RETURNING 1
            ),
            sk AS (
                INSERT INTO delivery_log (id, at, kind, status, message_id, source, destination, type, event, user_id, error_message, detail,
                    event_id, node)
                SELECT x.base + t.pos, t.r, t.k, t.st, t.m, t.s, CASE WHEN t.z & 8 = 0 THEN t.d END, t.ty,
                    CASE WHEN t.z & 1 = 0 THEN t.n END, CASE WHEN t.z & 2 = 0 THEN t.u END, t.why, CASE WHEN t.z & 4 = 0 THEN t.dt END,
                    x.base + t.e, \(node)
                FROM x, unnest(\(skipPositions)::bigint[], \(skipEvents)::bigint[], \(skipTimes)::bigint[], \(skipMessageIds)::text[],
                            \(skipSources)::text[], \(skipDestinations)::text[], \(skipTypes)::text[], \(skipNames)::text[], \(skipUsers)::text[],
                            \(skipReasons)::text[], \(skipNulls)::bigint[], \(skipKinds)::text[], \(skipStatuses)::text[], \(skipDetails)::text[])
                    AS t(pos, e, r, m, s, d, ty, n, u, why, z, k, st, dt)
                WHERE t.e IN (SELECT i FROM kept)
            ),
            n AS (SELECT count(*) AS jobs FROM jb),
            dp AS (UPDATE queue_depth SET jobs = queue_depth.jobs + n.jobs FROM n WHERE shard = \(shard) AND n.jobs > 0)
            SELECT pg_notify(\(Self.channel), CASE WHEN n.jobs > 0 THEN 'jobs' ELSE 'log' END), (SELECT array_agg(i) FROM kept) FROM n
            """
        let stored = try await transaction { [lockedKeys] connection -> Set<Int64> in
            try await Self.lockKeys(lockedKeys, connection, logger: logger)
            let rows = try await connection.run(query, logger: logger).decode((String, [Int64]?).self)
            return Set(rows.first?.1 ?? [])
        }
        // Each event of the write: a duplicate when it was a later copy in the write, or the
        // database did not store it.
        var n: Int64 = 0
        return first.map { isFirst in
            guard isFirst else { return true }
            defer { n += 1 }
            return !stored.contains(n)
        }
    }
}
