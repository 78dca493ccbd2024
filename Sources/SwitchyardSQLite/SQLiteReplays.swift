import GRDB
import SwitchyardCore

/// Replays in the queue's file: one document each, with its state in a column of its own so a
/// cancel and the runner's progress never overwrite each other. One node owns the file, so the
/// runner's lease is always granted.
extension SQLiteJobStore {
    public func createReplay(_ replay: Replay) async throws {
        try await pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT 1 FROM replays WHERE name = ?", arguments: [replay.name]) == nil else {
                throw ReplayConflict.exists(replay.name)
            }
            try db.execute(
                sql: "INSERT INTO replays (name, state, body) VALUES (?, ?, ?)",
                arguments: [replay.name, replay.state.rawValue, Self.text(replay)]
            )
        }
    }

    public func replays() async throws -> [Replay] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT state, body FROM replays ORDER BY seq").compactMap(Self.replay)
        }
    }

    public func replay(named name: String) async throws -> Replay? {
        try await pool.read { db in
            try Row.fetchOne(db, sql: "SELECT state, body FROM replays WHERE name = ?", arguments: [name]).flatMap(Self.replay)
        }
    }

    public func cancelReplay(named name: String) async throws -> Replay? {
        try await pool.write { db in
            try db.execute(
                sql: "UPDATE replays SET state = 'CANCELLING' WHERE name = ? AND state IN ('STARTING', 'RUNNING')",
                arguments: [name]
            )
            return try Row.fetchOne(db, sql: "SELECT state, body FROM replays WHERE name = ?", arguments: [name]).flatMap(Self.replay)
        }
    }

    public func claimReplay(leaseFor: Duration) async throws -> Replay? {
        try await pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT state, body FROM replays WHERE state IN ('STARTING', 'RUNNING', 'CANCELLING') ORDER BY seq LIMIT 1"
            ).flatMap(Self.replay)
        }
    }

    public func saveReplay(_ replay: Replay, leaseFor: Duration) async throws -> Replay.State {
        try await pool.write { db in
            guard let stored = try String.fetchOne(db, sql: "SELECT state FROM replays WHERE name = ?", arguments: [replay.name]) else {
                throw ReplayConflict.leaseLost(replay.name)
            }
            var saved = replay
            if stored == Replay.State.cancelling.rawValue, !replay.state.isFinished { saved.state = .cancelling }
            try db.execute(
                sql: "UPDATE replays SET state = ?, body = ? WHERE name = ?",
                arguments: [saved.state.rawValue, Self.text(saved), replay.name]
            )
            return saved.state
        }
    }

    static func text(_ replay: Replay) -> String {
        String(decoding: replay.json.serialized(), as: UTF8.self)
    }

    static func replay(_ row: Row) -> Replay? {
        let body: String = row["body"]
        guard var replay = (try? JSONParser.parse(body)).flatMap(Replay.init(json:)) else { return nil }
        replay.state = Replay.State(rawValue: row["state"]) ?? replay.state
        return replay
    }
}
