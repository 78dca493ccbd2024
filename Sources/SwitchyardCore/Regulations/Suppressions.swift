import NIOConcurrencyHelpers

/// How the suppression list keeps an id: its SHA-256 (hex), so the list recognizes a subject's
/// new events without holding the id itself, and a deletion leaves the id nowhere.
public enum SubjectDigest {
    public static func of(_ id: String) -> String { PrivacyRules.sha256Hex(id) }
}

/// The suppressed subjects as ingestion checks them: a set lookup per event, no store read.
/// Loaded from the store before the server answers, and read again whenever the store's list
/// changes (by this node at once, by another within `RegulationService.refreshEvery`).
public final class Suppressions: Sendable {
    /// The list as stored, with its version (which grows with every change).
    public struct Snapshot: Sendable, Hashable {
        public var version: Int64
        /// The suppressed ids' digests (`SubjectDigest`).
        public var subjects: Subjects

        public init(version: Int64, subjects: Subjects) {
            self.version = version
            self.subjects = subjects
        }
    }

    private enum State {
        /// Not read yet (the store could not be reached at start): ingestion must wait, or it
        /// could store a suppressed subject's events.
        case unknown
        case loaded(Snapshot)
    }

    private let state = NIOLockedValueBox(State.unknown)

    public init() {}

    /// A list already known (tests, and a store read before the server starts).
    public init(_ snapshot: Snapshot) {
        state.withLockedValue { $0 = .loaded(snapshot) }
    }

    public var isLoaded: Bool {
        state.withLockedValue {
            if case .loaded = $0 { return true }
            return false
        }
    }

    public var version: Int64? {
        state.withLockedValue {
            if case .loaded(let snapshot) = $0 { return snapshot.version }
            return nil
        }
    }

    /// Keeps the newer of the two lists (two readers may finish out of order).
    public func update(_ snapshot: Snapshot) {
        state.withLockedValue {
            if case .loaded(let current) = $0, current.version > snapshot.version { return }
            $0 = .loaded(snapshot)
        }
    }

    /// Reads the store's list if it changed since the one held.
    public func refresh(from store: any RegulationStore) async throws {
        let stored = try await store.suppressionVersion()
        if let version, version == stored { return }
        update(try await store.suppressions())
    }

    /// What becomes of a request's events.
    public enum Verdict: Sendable, Equatable {
        /// The list has not been read yet.
        case unknown
        /// Nothing is suppressed (the usual case: no hashing, no allocation).
        case keepAll
        /// Per event, whether it is kept.
        case keep([Bool])
    }

    /// Decides for a whole request at once; ids are hashed only while the list is not empty.
    public func verdict<T>(_ items: [T], userId: (T) -> String?, anonymousId: (T) -> String?) -> Verdict {
        let digests: Subjects? = state.withLockedValue { state in
            guard case .loaded(let snapshot) = state else { return nil }
            return snapshot.subjects
        }
        guard let digests else { return .unknown }
        if digests.isEmpty { return .keepAll }
        return .keep(
            items.map { item in
                if let id = userId(item), digests.userIds.contains(SubjectDigest.of(id)) { return false }
                if let id = anonymousId(item), digests.anonymousIds.contains(SubjectDigest.of(id)) { return false }
                return true
            }
        )
    }
}
