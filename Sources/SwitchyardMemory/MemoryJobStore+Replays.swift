import SwitchyardCore

/// Replays in memory; one process runs them, so the lease is always this node's.
extension MemoryJobStore {
    public func createReplay(_ replay: Replay) async throws {
        try checkOpen()
        try storage.rows.withLockedValue { rows in
            guard !rows.replays.contains(where: { $0.name == replay.name }) else { throw ReplayConflict.exists(replay.name) }
            rows.replays.append(replay)
        }
    }

    public func replays() async throws -> [Replay] {
        try checkOpen()
        return storage.rows.withLockedValue { $0.replays }
    }

    public func replay(named name: String) async throws -> Replay? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in rows.replays.first { $0.name == name } }
    }

    public func cancelReplay(named name: String) async throws -> Replay? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in
            guard let i = rows.replays.firstIndex(where: { $0.name == name }) else { return nil }
            if rows.replays[i].state == .starting || rows.replays[i].state == .running { rows.replays[i].state = .cancelling }
            return rows.replays[i]
        }
    }

    public func claimReplay(leaseFor: Duration) async throws -> Replay? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in rows.replays.first { !$0.state.isFinished } }
    }

    public func saveReplay(_ replay: Replay, leaseFor: Duration) async throws -> Replay.State {
        try checkOpen()
        return try storage.rows.withLockedValue { rows in
            guard let i = rows.replays.firstIndex(where: { $0.name == replay.name }) else { throw ReplayConflict.leaseLost(replay.name) }
            var saved = replay
            if rows.replays[i].state == .cancelling, !replay.state.isFinished { saved.state = .cancelling }
            rows.replays[i] = saved
            return saved.state
        }
    }
}
