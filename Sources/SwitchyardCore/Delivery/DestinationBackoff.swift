/// Backs a whole destination off after its sends fail as a whole, as each job backs off after
/// its own failures. Against a destination that is down, trying every queued event once would
/// mark each one failed, log each one, and take the queue's single writer from ingestion, all
/// to learn one fact. Instead the worker pauses, then sends one batch at a time until one gets
/// through, and then sends at full concurrency again.
struct DestinationBackoff: Sendable {
    /// Whole-request failures since the last send that got through.
    private(set) var failures = 0
    private(set) var pausedUntil: ContinuousClock.Instant?
    /// After a pause: one send at a time until one gets through.
    private(set) var probing = false

    /// Records a send that failed as a whole and returns the pause it starts. Sends that were
    /// already in flight and fail during the pause do not lengthen it (nil).
    mutating func unavailable(
        at now: ContinuousClock.Instant,
        policy: DeliveryPolicy,
        random: (ClosedRange<Int64>) -> Int64 = { Int64.random(in: $0) }
    ) -> Duration? {
        if let pausedUntil, pausedUntil > now { return nil }
        failures += 1
        // Half the ceiling plus jitter: a pause is never close to nothing.
        let ceiling = policy.backoffCeiling(afterAttempt: failures)
        let pause = Duration.milliseconds(ceiling / 2 + random(0...(ceiling - ceiling / 2)))
        pausedUntil = now + pause
        probing = true
        return pause
    }

    /// Records a send that got an answer; returns whether the destination had been backed off.
    mutating func gotThrough() -> Bool {
        defer { (failures, pausedUntil, probing) = (0, nil, false) }
        return failures > 0
    }

    /// The end of the current pause, if one is running at `now`.
    func pause(at now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        guard let pausedUntil, pausedUntil > now else { return nil }
        return pausedUntil
    }

    /// How many sends may be in flight.
    func allowedInFlight(concurrency: Int) -> Int {
        probing ? 1 : concurrency
    }
}
