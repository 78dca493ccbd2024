import NIOConcurrencyHelpers
import SwitchyardCore

/// What the archiver last did, for the summary and the live page: shared between the archiver
/// and the operator API, behind one lock.
public final class ArchiveStatus: Sendable {
    public struct Snapshot: Sendable, Hashable {
        public var location: String
        /// The last log position written (every event up to it is archived).
        public var position: Int64?
        /// Age of the oldest stored event not yet archived, in seconds.
        public var lagSeconds: Double = 0
        /// The lag is past `alarmAfter`.
        public var behind = false
        /// Another node holds the archive's lease and writes it.
        public var standby = false
        public var lastWrittenAt: Timestamp?
        public var lastError: String?
        public var events = 0
        public var files = 0
        public var bytes = 0

        public var json: JSONValue {
            var o = JSONObject()
            o["location"] = .string(location)
            o["position"] = position.map { .number(String($0)) } ?? .null
            o["lagSeconds"] = .number(String(Int(lagSeconds.rounded())))
            o["behind"] = .bool(behind)
            o["standby"] = .bool(standby)
            o["lastWrittenAt"] = lastWrittenAt.map { .string($0.rfc3339) } ?? .null
            o["lastError"] = lastError.map { .string($0) } ?? .null
            o["events"] = .number(String(events))
            o["files"] = .number(String(files))
            o["bytes"] = .number(String(bytes))
            return .object(o)
        }
    }

    private struct State {
        var snapshot: Snapshot
        var lastAlarm: Timestamp?
        var lastSweep: Timestamp?
    }

    private let state: NIOLockedValueBox<State>

    public init(location: String) {
        state = NIOLockedValueBox(State(snapshot: Snapshot(location: location)))
    }

    public var snapshot: Snapshot { state.withLockedValue { $0.snapshot } }

    func wrote(position: Int64, events: Int, files: Int, bytes: Int, at now: Timestamp) {
        state.withLockedValue {
            $0.snapshot.position = position
            $0.snapshot.events += events
            $0.snapshot.files += files
            $0.snapshot.bytes += bytes
            $0.snapshot.lastWrittenAt = now
            $0.snapshot.lastError = nil
            $0.snapshot.standby = false
        }
    }

    func failed(_ error: String) {
        state.withLockedValue { $0.snapshot.lastError = error }
    }

    func standby() {
        state.withLockedValue { $0.snapshot.standby = true }
    }

    /// Records the lag; true when the alarm is due (behind, and not raised in the last minute).
    func lagged(seconds: Double, alarmAfter: Double, at now: Timestamp) -> Bool {
        state.withLockedValue {
            $0.snapshot.lagSeconds = seconds
            $0.snapshot.behind = seconds > alarmAfter
            $0.snapshot.standby = false
            guard $0.snapshot.behind else { return false }
            if let last = $0.lastAlarm, now.millisecondsSinceEpoch - last.millisecondsSinceEpoch < 60_000 { return false }
            $0.lastAlarm = now
            return true
        }
    }

    /// True (and noted) when the last sweep is `every` milliseconds old or there was none.
    func sweepDue(at now: Timestamp, every: Int64) -> Bool {
        state.withLockedValue {
            if let last = $0.lastSweep, now.millisecondsSinceEpoch - last.millisecondsSinceEpoch < every { return false }
            $0.lastSweep = now
            return true
        }
    }
}
