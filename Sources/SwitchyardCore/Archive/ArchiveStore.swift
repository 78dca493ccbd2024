/// Where the archiver reads stored events and keeps its place. The place is the log position
/// (event id) of the last event written to the archive; a batch's end is noted before its files
/// are written (`pendingThrough`), so after a crash the same batch is written again under the
/// same names, never a wider one beside it.
public protocol ArchiveStore: Sendable {
    /// Takes (or renews) the archive's lease for this node until `leaseFor` from now and returns
    /// the cursor; nil while another node's lease is current. A single node always gets it.
    func leaseArchive(leaseFor: Duration) async throws -> ArchiveCursor?

    /// Stores the cursor, if this node still holds the lease; throws `ArchiveLeaseLost`
    /// otherwise, so a node that lost it stops writing.
    func saveArchiveCursor(_ cursor: ArchiveCursor) async throws

    /// Committed events after `position` (up to `through`, when given), in id order, at most
    /// `limit`: never past an id a transaction still running could take, so nothing is skipped.
    func eventsToArchive(after position: Int64, through: Int64?, limit: Int) async throws -> [ArchivedEvent]

    /// The position the archive has written through, without taking the lease (a replay reads
    /// files up to it, then the store's events after it).
    func archivePosition() async throws -> Int64

    /// The receipt time of the oldest stored event after `position`: how far the archive lags.
    func oldestUnarchived(after position: Int64) async throws -> Timestamp?
}

/// The archiver's place in the store.
public struct ArchiveCursor: Sendable, Hashable {
    /// Every event up to this id is in the archive (or was left out by its pattern).
    public var position: Int64
    /// The last id of the batch being written, when one is.
    public var pendingThrough: Int64?

    public init(position: Int64, pendingThrough: Int64? = nil) {
        self.position = position
        self.pendingThrough = pendingThrough
    }
}

/// A stored event as the archive keeps it.
public struct ArchivedEvent: Sendable, Hashable {
    /// Its log position: the order events are archived in.
    public var id: Int64
    public var source: String
    public var event: Event

    public init(id: Int64, source: String, event: Event) {
        self.id = id
        self.source = source
        self.event = event
    }

    /// Sent by a client, not made by Switchyard: replayed events (never archived again, as in
    /// EventBridge) and heartbeats are neither archived nor replayed.
    public var isTraffic: Bool { !source.hasPrefix(Replay.sourcePrefix) && source != Heartbeat.source }
}

/// Another node took the archive over (this node's lease ran out while it wrote).
public struct ArchiveLeaseLost: Error, CustomStringConvertible {
    public init() {}
    public var description: String { "another node holds the archive's lease now" }
}

/// Somewhere besides the store that holds copies of events (the archive's files): a deletion
/// takes the subjects' events from it too.
public protocol ArchiveEraseTarget: Sendable {
    /// Removes every event of these users and anonymous ids; returns how many were removed.
    func erase(_ subjects: Subjects) async throws -> Int
}
