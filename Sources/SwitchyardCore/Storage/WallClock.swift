import NIOConcurrencyHelpers

/// Where stores read the time they write into rows: when a job is due, when a lease runs out,
/// how old the oldest waiting event is. The server gives them `SystemWallClock`; tests give them
/// a `ManualWallClock` and move it forward instead of sleeping.
///
/// A Swift `Clock` measures durations; this one tells the date, which is what rows keep.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    public init() {}

    public func now() -> Timestamp { Timestamp.now() }
}

/// A clock that stands still until a test moves it.
public final class ManualWallClock: WallClock {
    private let current: NIOLockedValueBox<Timestamp>

    /// Starts at a fixed, recent date, so rows look ordinary.
    public init(_ start: Timestamp = Timestamp(millisecondsSinceEpoch: 1_767_225_600_000)) {
        current = NIOLockedValueBox(start)
    }

    public func now() -> Timestamp { current.withLockedValue { $0 } }

    public func advance(by duration: Duration) {
        current.withLockedValue { $0.millisecondsSinceEpoch += duration.milliseconds }
    }
}

extension WallClock {
    /// `now()` moved by `duration` (back, when it is negative).
    public func now(plus duration: Duration) -> Timestamp {
        now().plus(duration)
    }
}
