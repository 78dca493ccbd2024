import NIOConcurrencyHelpers
import SwitchyardCore

/// The in-memory half of the SQLite store's dedup marks.
///
/// A mark is stored with its event (`events.dedup_until`) and, about a second later, in a sorted
/// run of the message index (`indexMessageIDs`), where it outlives the event until its window
/// passes. Keeping marks in a B-tree keyed by random message ids wrote a random page per event
/// and, once the tree outgrew the cache, read one too. Here the marks not yet in a run (the
/// tail) are held in a dictionary, and a Bloom filter over the runs' marks says which ids need a
/// probe of the index at all: almost none, unless they really are duplicates.
///
/// Only the queue's owner ingests, so the tail is whole: it is loaded from the unindexed events
/// when the queue opens, and every commit adds its marks.
final class RecentMarks: Sendable {
    struct Mark: Sendable {
        var until: Int64
        var eventID: Int64
    }

    private struct State {
        /// Keyed by the mark's key's hash, not the key: a few bytes an entry instead of two
        /// strings. Two keys with one hash are told apart by the event's row (`DedupMarks`).
        var tail: [Int: Mark] = [:]
        /// Events up to here are in the index's runs, and so are their marks.
        var indexedThrough: Int64 = 0
        /// Over the runs' marks; nil until it is built (after the queue opens), when every id
        /// missing from the tail is probed.
        var filter: BloomFilter?
        /// Marks published while a new filter is being built, added to it when it is swapped in.
        var publishedDuringBuild: [Int]?
        /// Marks of the ingestion transaction under way, already in `tail` (so a copy later in the
        /// same transaction finds them), taken out again if it does not commit. Kept, emptied,
        /// between transactions, so none allocates its own.
        var provisional: [(Int, Mark)] = []
    }

    private let state = NIOLockedValueBox(State())

    /// The tail's mark under this hash (the newest, if it is this key's), and whether the runs
    /// may hold one.
    func look(_ hash: Int) -> (tail: Mark?, mayBeInRuns: Bool) {
        state.withLockedValue { state in
            (state.tail[hash], state.filter?.mayContain(hash) ?? true)
        }
    }

    /// A mark set by the ingestion transaction under way (the queue's one writer), by its key's
    /// hash. Its event is not committed, so no run can hold it yet.
    func add(_ hash: Int, _ mark: Mark) {
        state.withLockedValue { state in
            state.tail[hash] = mark
            state.provisional.append((hash, mark))
        }
    }

    /// The transaction under way committed (true) or not: its marks stay, or go.
    func settle(committed: Bool) {
        state.withLockedValue { state in
            if !committed {
                for (hash, mark) in state.provisional where state.tail[hash]?.eventID == mark.eventID { state.tail[hash] = nil }
            }
            state.provisional.removeAll(keepingCapacity: true)
        }
    }

    /// A run holding the marks of events up to `through` is committed to the index; these are
    /// its marks' hashes.
    func published(_ hashes: [Int], through: Int64) {
        state.withLockedValue { state in
            for hash in hashes {
                state.filter?.insert(hash)
                if let mark = state.tail[hash], mark.eventID <= through { state.tail[hash] = nil }
            }
            state.publishedDuringBuild? += hashes
            state.indexedThrough = max(state.indexedThrough, through)
        }
    }

    /// Removes the marks of deleted events.
    func erase(_ hashes: [Int]) {
        state.withLockedValue { state in
            for hash in hashes { state.tail[hash] = nil }
        }
    }

    /// The events whose marks the tail holds under these hashes.
    func events(_ hashes: [Int]) -> Set<Int64> {
        state.withLockedValue { state in Set(hashes.compactMap { state.tail[$0]?.eventID }) }
    }

    /// Drops tail marks whose window has passed; returns how many.
    func expire(at now: Int64) -> Int {
        state.withLockedValue { state in
            let before = state.tail.count
            state.tail = state.tail.filter { $0.value.until > now }
            return before - state.tail.count
        }
    }

    /// Whether the filter is missing or full enough that its false positives climb.
    var needsFilter: Bool {
        state.withLockedValue { state in state.filter.map { $0.count > $0.capacity } ?? true }
    }

    /// Starts collecting what is published meanwhile; call before reading the marks for a new filter.
    func beginBuild() {
        state.withLockedValue { state in state.publishedDuringBuild = [] }
    }

    /// Swaps in a filter built from the index's standing marks, with what was published since.
    func finishBuild(_ filter: BloomFilter) {
        state.withLockedValue { state in
            var filter = filter
            for hash in state.publishedDuringBuild ?? [] { filter.insert(hash) }
            state.filter = filter
            state.publishedDuringBuild = nil
        }
    }

    func load(tail: [(Int, Mark)], indexedThrough: Int64) {
        state.withLockedValue { state in
            state.indexedThrough = indexedThrough
            for (hash, mark) in tail where state.tail[hash].map({ $0.eventID < mark.eventID }) ?? true { state.tail[hash] = mark }
        }
    }

    var tailCount: Int { state.withLockedValue { $0.tail.count } }
}
