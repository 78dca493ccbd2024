import Logging
import PostgresNIO
import SwitchyardCore

/// Replays shared by every node: any node records or cancels one; the node holding its lease
/// (renewed at every save) runs it, and another takes it over when that lease runs out.
extension PostgresJobStore {
    public func createReplay(_ replay: Replay) async throws {
        let text = String(decoding: replay.json.serialized(), as: UTF8.self)
        let created = try await transaction { [self] connection -> Bool in
            for _ in try await connection.run(
                """
                INSERT INTO replays (name, state, body) VALUES (\(replay.name), \(replay.state.rawValue), \(text))
                ON CONFLICT (name) DO NOTHING RETURNING 1
                """,
                logger: logger
            ).decode(Int32.self) {
                return true
            }
            return false
        }
        if !created { throw ReplayConflict.exists(replay.name) }
    }

    public func replays() async throws -> [Replay] {
        try await guarded { [self] connection in
            try Self.decodeReplays(await connection.run("SELECT state, body FROM replays ORDER BY seq", logger: logger))
        }
    }

    public func replay(named name: String) async throws -> Replay? {
        try await guarded { [self] connection in
            try Self.decodeReplays(await connection.run("SELECT state, body FROM replays WHERE name = \(name)", logger: logger)).first
        }
    }

    public func cancelReplay(named name: String) async throws -> Replay? {
        try await transaction { [self] connection in
            try await connection.run(
                "UPDATE replays SET state = 'CANCELLING' WHERE name = \(name) AND state IN ('STARTING', 'RUNNING')",
                logger: logger
            )
            return try Self.decodeReplays(await connection.run("SELECT state, body FROM replays WHERE name = \(name)", logger: logger))
                .first
        }
    }

    public func claimReplay(leaseFor: Duration) async throws -> Replay? {
        let now = clock.now().millisecondsSinceEpoch
        let until = now + leaseFor.milliseconds
        return try await transaction(deadline: Self.readDeadline) { [self] connection in
            try Self.decodeReplays(
                await connection.run(
                    """
                    UPDATE replays SET lease_node = \(node), lease_until = \(until) WHERE seq = (
                        SELECT seq FROM replays WHERE state IN ('STARTING', 'RUNNING', 'CANCELLING')
                            AND (lease_until IS NULL OR lease_until < \(now) OR lease_node = \(node))
                        ORDER BY seq LIMIT 1 FOR UPDATE SKIP LOCKED)
                    RETURNING state, body
                    """,
                    logger: logger
                )
            ).first
        }
    }

    public func saveReplay(_ replay: Replay, leaseFor: Duration) async throws -> Replay.State {
        let until = clock.now().millisecondsSinceEpoch + leaseFor.milliseconds
        let finished = replay.state.isFinished
        let text = String(decoding: replay.json.serialized(), as: UTF8.self)
        let stored = try await transaction { [self] connection -> String? in
            // A cancel that came meanwhile stands, unless the runner is finishing.
            for state in try await connection.run(
                """
                UPDATE replays SET body = \(text), lease_until = \(until),
                    state = CASE WHEN state = 'CANCELLING' AND NOT \(finished) THEN 'CANCELLING' ELSE \(replay.state.rawValue) END
                WHERE name = \(replay.name) AND lease_node = \(node)
                RETURNING state
                """,
                logger: logger
            ).decode(String.self) {
                return state
            }
            return nil
        }
        guard let stored, let state = Replay.State(rawValue: stored) else { throw ReplayConflict.leaseLost(replay.name) }
        return state
    }

    static func decodeReplays(_ rows: PostgresQueryResult) throws -> [Replay] {
        var out: [Replay] = []
        for (state, body) in try rows.decode((String, String).self) {
            guard var replay = (try? JSONParser.parse(body)).flatMap(Replay.init(json:)) else { continue }
            replay.state = Replay.State(rawValue: state) ?? replay.state
            out.append(replay)
        }
        return out
    }
}
