import NIOConcurrencyHelpers
import SwitchyardCore

/// What a memory store keeps, apart from the store that serves it: the stand-in for a database
/// file. A store opened again on the same storage models a restart of the node (what was in
/// flight is still in flight), which is how the conformance suite runs against it.
public final class MemoryStorage: Sendable {
    struct Event {
        var id: Int64
        var source: String
        var event: SwitchyardCore.Event
    }

    struct Job {
        var id: Int64
        var eventID: Int64
        var destination: String
        var state: JobState
        var attempts = 0
        /// Pending or failed: when it is due; in flight: when its lease runs out; blocked: never.
        var availableAt: Int64
        var lease: Int64?
        var lastError: String?
        var updatedAt: Int64
        var orderingKey: String?
        var rule: String?
        /// What the destination's transformations made of the event, kept for retries.
        var output: [UInt8]?

        var isWaiting: Bool { JobState.waiting.contains(state) }
    }

    /// Everything, behind one lock. Ids grow: events and log records share one sequence (an
    /// event is its own `received` record), jobs have their own.
    struct Rows {
        var events: [Int64: Event] = [:]
        var jobs: [Int64: Job] = [:]
        var records: [Int64: LogRecord] = [:]
        /// Dedup marks: until when a source's message id makes a later copy a duplicate.
        var dedup: [DedupKey: Int64] = [:]
        /// Regulations in the order recorded (their records keep no subject), the suppression
        /// list, and the subjects of deletions still running.
        var regulations: [Regulation] = []
        var suppressed = Subjects()
        var erasing: [String: Subjects] = [:]
        /// The registry of discovered schemas.
        var schemas: [SchemaKey: DiscoveredSchema] = [:]
        /// The archiver's cursor.
        var archive = ArchiveCursor(position: 0)
        /// Replays, oldest first.
        var replays: [Replay] = []
        /// Stats rollups by minute, writer and scope.
        var stats: [StatsKey: StatsCounts] = [:]
        var nextID: Int64 = 1
        var nextJobID: Int64 = 1
        /// Whether a store serves this storage now (the folder lock of the embedded store).
        var owned = false

        mutating func takeID() -> Int64 {
            defer { nextID += 1 }
            return nextID
        }

        /// Whether a job of this destination and key is still to be delivered.
        func keyIsBusy(_ destination: String, _ key: String) -> Bool {
            jobs.values.contains { $0.destination == destination && $0.orderingKey == key && $0.isWaiting }
        }
    }

    let rows = NIOLockedValueBox(Rows())

    public init() {}
}

struct StatsKey: Hashable {
    var minute: Int64
    var writer: String
    var scope: StatsScope
}
