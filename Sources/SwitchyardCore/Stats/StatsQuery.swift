/// A range of time cut into equal steps, as `/v1/stats` answers it.
public struct StatsQuery: Sendable, Hashable {
    /// The first step's start (aligned to the step in UTC) and the range's end, in ms since the epoch.
    public var start: Int64
    public var end: Int64
    public var step: Int64
    /// Steps under a minute are read from this node's memory.
    public var bySecond: Bool { step < 60_000 }

    public var points: Int { Int((end - start + step - 1) / step) }

    public static let maxPoints = 1500
    static let defaultPoints = 120
    static let steps: [Int64] = [
        1000, 5000, 10_000, 30_000, 60_000, 300_000, 600_000, 900_000, 1_800_000, 3_600_000, 10_800_000, 21_600_000,
        43_200_000, 86_400_000,
    ]

    /// Checks a request's range. `recentStart` is the oldest second memory still covers. Without
    /// a step, the shortest of a minute or more with at most 120 steps: minutes are every node's
    /// and survive restarts, so seconds (this node's memory) are only served when asked for.
    public init(from: Int64, to: Int64, step: Int64?, recentStart: Int64) throws(StatsQueryError) {
        guard from < to else { throw StatsQueryError("from must be before to") }
        let step =
            step
            ?? Self.steps.first { s in s >= 60_000 && (to - from + s - 1) / s <= Int64(Self.defaultPoints) } ?? 86_400_000
        guard step >= 1000, step % 1000 == 0 else { throw StatsQueryError("step must be a whole number of seconds, like 10s, 1m or 1h") }
        if step < 60_000 {
            guard from >= recentStart else {
                throw StatsQueryError(
                    "steps under a minute are kept for the last minutes only (stats.recent); use a step of 1m or more for a range starting earlier"
                )
            }
        } else {
            guard step % 60_000 == 0 else { throw StatsQueryError("a step of a minute or more must be whole minutes, like 1m, 5m or 1h") }
        }
        self.step = step
        self.start = from - from.modulo(step)
        self.end = to
        guard points <= Self.maxPoints else {
            throw StatsQueryError("\(points) steps asked for; at most \(Self.maxPoints): use a longer step or a shorter range")
        }
    }

    /// The step each row falls in, nil outside the range.
    func index(of row: StatsRow) -> Int? {
        guard row.minute >= start, row.minute < end else { return nil }
        return Int((row.minute - start) / step)
    }
}

/// A `/v1/stats` request that cannot be answered, in words for the operator.
public struct StatsQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
