import NIOConcurrencyHelpers

/// One server's rollups as they happen: the minutes not yet written to the store, and the last
/// minutes at one-second resolution. Recording is a lock and a few dictionary updates per
/// request or per delivered batch, never a store write: `StatsService` writes the minutes.
public final class StatsRecorder: Sendable {
    /// This run of this node, as its rows name it.
    public let writer: String
    let clock: any WallClock
    /// How many seconds the one-second ring holds: `recent` and a minute more, so a range that
    /// starts `recent` ago is whole however the seconds fall.
    let secondsKept: Int

    struct Second {
        var start: Int64 = -1
        var scopes: [StatsScope: StatsCounts] = [:]
    }

    struct State {
        /// Minutes this writer has counts for that the store may not have yet, by start.
        var minutes: [Int64: [StatsScope: StatsCounts]] = [:]
        /// Minutes changed since they were last taken for the store.
        var dirty: Set<Int64> = []
        var ring: [Second]
    }

    private let state: NIOLockedValueBox<State>

    public init(writer: String, clock: any WallClock = SystemWallClock(), recent: ConfigDuration = StatsConfig().recent) {
        self.writer = writer
        self.clock = clock
        secondsKept = Int(max(60, recent.milliseconds / 1000)) + 60
        state = NIOLockedValueBox(State(ring: Array(repeating: Second(), count: secondsKept)))
    }

    /// Adds to the current minute and second of `scope`.
    public func add(_ scope: StatsScope, _ update: (inout StatsCounts) -> Void) {
        let now = clock.now().millisecondsSinceEpoch
        let minute = now - now.modulo(60_000)
        let second = now - now.modulo(1000)
        let slot = Int((second / 1000).modulo(Int64(secondsKept)))
        state.withLockedValue { s in
            update(&s.minutes[minute, default: [:]][scope, default: StatsCounts()])
            s.dirty.insert(minute)
            if s.ring[slot].start != second { s.ring[slot] = Second(start: second) }
            update(&s.ring[slot].scopes[scope, default: StatsCounts()])
        }
    }

    /// The rows of every minute changed since the last call, whole (a row replaces the one the
    /// store has). They stay in memory until `written` says the store has them.
    public func takeChangedRows() -> [StatsRow] {
        state.withLockedValue { s in
            var rows: [StatsRow] = []
            for minute in s.dirty.sorted() {
                for (scope, counts) in s.minutes[minute] ?? [:] {
                    rows.append(StatsRow(minute: minute, writer: writer, scope: scope, counts: counts))
                }
            }
            s.dirty.removeAll()
            return rows
        }
    }

    /// The store has the rows last taken: past minutes unchanged since leave memory.
    public func written() {
        let now = clock.now().millisecondsSinceEpoch
        let current = now - now.modulo(60_000)
        state.withLockedValue { s in
            for minute in s.minutes.keys where minute < current && !s.dirty.contains(minute) { s.minutes[minute] = nil }
        }
    }

    /// The rows last taken were not written: the next flush takes their minutes again.
    public func notWritten(_ rows: [StatsRow]) {
        state.withLockedValue { s in
            for row in rows { s.dirty.insert(row.minute) }
        }
    }

    /// This writer's minutes still in memory (not all of them in the store yet).
    public func memoryRows() -> [StatsRow] {
        state.withLockedValue { s in
            s.minutes.flatMap { minute, scopes in
                scopes.map { StatsRow(minute: minute, writer: writer, scope: $0.key, counts: $0.value) }
            }
        }
    }

    /// The one-second counts with `from <= second < to`, as rows (minute holds the second's start).
    public func seconds(from: Int64, to: Int64) -> [StatsRow] {
        state.withLockedValue { s in
            s.ring.filter { $0.start >= from && $0.start < to }.flatMap { second in
                second.scopes.map { StatsRow(minute: second.start, writer: writer, scope: $0.key, counts: $0.value) }
            }
        }
    }

    /// The oldest second the ring still covers.
    public var recentStart: Int64 {
        let now = clock.now().millisecondsSinceEpoch
        return now - now.modulo(1000) - Int64(secondsKept - 1) * 1000
    }
}

extension Int64 {
    /// The remainder with the divisor's sign (a time before 1970 still falls in its own minute).
    func modulo(_ d: Int64) -> Int64 {
        let r = self % d
        return r < 0 ? r + d : r
    }
}
