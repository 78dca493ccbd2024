/// Where regulations, the suppression list and the deletions still to run are kept: in the
/// store of the events they concern, so a deletion commits with what it deletes and every node
/// sharing the store sees one list.
public protocol RegulationStore: Sendable {
    /// Records a regulation and applies it in the same transaction: adds its subjects' digests
    /// (`SubjectDigest`) to the suppression list or removes them, and, when it deletes, keeps
    /// the subjects for the deletion until it finishes.
    func record(_ regulation: Regulation, subjects: [String]) async throws

    /// The newest regulations, newest first.
    func regulations(limit: Int) async throws -> [Regulation]

    func regulation(id: String) async throws -> Regulation?

    /// The suppression list, and its version.
    func suppressions() async throws -> Suppressions.Snapshot

    /// The list's version alone: what a node reads every second to know whether to read the list.
    func suppressionVersion() async throws -> Int64

    /// The oldest deletion not finished that no live node is running, now leased to this one
    /// for `leaseFor` (each step renews it); nil when none is.
    func claimErasure(leaseFor: Duration) async throws -> Erasure?

    /// Deletes up to `limit` rows' worth of the subjects' data from where `cursor` says, in one
    /// short transaction, adds the counts to the regulation's record, and returns where the next
    /// step starts (nil: the pass is done). Each table is scanned in id order, so a pass reaches
    /// every row stored before it started, whatever the subjects' number.
    func erase(_ erasure: Erasure, from cursor: ErasureCursor, limit: Int) async throws -> ErasureStep

    /// Marks the regulation finished and forgets its subjects.
    func finishErasure(_ erasure: Erasure) async throws
}

/// A deletion being run: its regulation's id and subjects.
public struct Erasure: Sendable, Hashable {
    public let id: String
    public let subjects: Subjects
    /// For the log's records, built once for the whole deletion.
    public let records: RecordMatcher
    public let createdAt: Timestamp
    public let leaseFor: Duration

    public init(id: String, subjects: Subjects, createdAt: Timestamp, leaseFor: Duration) {
        self.id = id
        self.subjects = subjects
        records = RecordMatcher(subjects)
        self.createdAt = createdAt
        self.leaseFor = leaseFor
    }
}

/// Where a deletion's pass goes on: the events (with their jobs, the log records about them,
/// their message index entries and dedup marks), then the log records left (whose event was
/// already pruned) that still name a subject.
public enum ErasureCursor: Sendable, Hashable {
    case events(after: Int64)
    case log(after: Int64)

    public static let start = ErasureCursor.events(after: .min)
}

public struct ErasureStep: Sendable, Hashable {
    public var removed: ErasureCounts
    public var next: ErasureCursor?

    public init(removed: ErasureCounts, next: ErasureCursor?) {
        self.removed = removed
        self.next = next
    }
}
