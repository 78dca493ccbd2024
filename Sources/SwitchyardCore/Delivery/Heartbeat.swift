import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Heartbeat events: made from a destination's `heartbeat.event`, stored like any accepted event
/// (so they are durable, logged and retried), with one job, for that destination alone. They
/// skip its filter and rules: a heartbeat is the destination's own event.
public enum Heartbeat {
    /// The `source` heartbeat events are stored and logged under; no configured source may take it.
    public static let source = "heartbeat"

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// The event a heartbeat template makes at `now`, enriched as an ingested event is.
    public static func makeEvent(_ template: JSONValue, now: Timestamp, maxEventBytes: Int) throws(Invalid) -> Event {
        let compiled: JSONTemplate
        do {
            compiled = try JSONTemplate(template)
        } catch {
            throw Invalid(description: error.description)
        }
        guard case .object(var object) = compiled.render(TemplateScope(event: .object(JSONObject()), now: now)) else {
            throw Invalid(description: "the event must be a mapping, like {type: track, event: HEART_BEAT, userId: switchyard}")
        }
        if object["type"] == nil { object["type"] = .string(MessageType.track.rawValue) }
        do {
            return try Ingestion.enrich(
                object,
                defaults: .init(),
                context: IngestContext(receivedAt: now, requestIP: nil, maxEventBytes: maxEventBytes)
            )
        } catch {
            throw Invalid(description: error.body)
        }
    }
}

/// What the store did when asked to store a destination's heartbeat.
public enum HeartbeatDecision: Sendable, Hashable {
    /// Stored: the destination was quiet.
    case stored
    /// Not stored: this many of its jobs wait (at least; their deliveries will show it alive).
    case backlog(Int)
    /// Not stored: some node delivered to it, or stored its heartbeat, at this time.
    case active(at: Timestamp)
}

/// When a destination last had something sent, and when its heartbeat is due: a state machine
/// with no clock of its own, so tests drive it with times instead of sleeps.
public struct HeartbeatClock: Sendable, Hashable {
    public let every: Int64
    /// The latest delivery, or the latest heartbeat stored, in epoch milliseconds.
    public private(set) var lastSent: Int64
    /// After a backlog was found, the earliest time to look again.
    private var lookAgainAt: Int64?

    /// How often a destination with a backlog is looked at again: the backlog's count is a read
    /// of the queue, so not on every tick.
    public static let recheck: Int64 = 5_000

    public init(every: Int64, startedAt: Int64) {
        self.every = every
        lastSent = startedAt
    }

    public enum Action: Sendable, Hashable {
        /// Nothing to do before this time.
        case sleep(until: Int64)
        /// This node delivered nothing for `every`: ask the store (`JobQueue.appendHeartbeat`),
        /// then tell the clock what it decided (`decided(_:at:)`).
        case askStore
    }

    public func next(at now: Int64) -> Action {
        let due = max(lastSent + every, lookAgainAt ?? 0)
        return now >= due ? .askStore : .sleep(until: due)
    }

    /// Entries were delivered.
    public mutating func sent(at time: Int64) {
        if time > lastSent {
            lastSent = time
            lookAgainAt = nil
        }
    }

    /// What the store decided when the heartbeat was due. A stored heartbeat counts as a send,
    /// so another is due only `every` later (and not while it waits itself); activity elsewhere
    /// (another node's delivery or heartbeat) moves the next one to `every` after it.
    public mutating func decided(_ decision: HeartbeatDecision, at now: Int64) {
        switch decision {
        case .stored:
            lastSent = now
            lookAgainAt = nil
        case .backlog:
            lookAgainAt = now + min(every, Self.recheck)
        case .active(let at):
            sent(at: at.millisecondsSinceEpoch)
            if lastSent + every <= now { lookAgainAt = now + min(every, Self.recheck) }
        }
    }
}

/// What a destination's worker tells its heartbeat: a delivery happened.
public final class DeliveryActivity: Sendable {
    let clock: NIOLockedValueBox<HeartbeatClock>

    public init(every: ConfigDuration, now: Timestamp = .now()) {
        clock = NIOLockedValueBox(HeartbeatClock(every: every.milliseconds, startedAt: now.millisecondsSinceEpoch))
    }

    public func delivered(at time: Timestamp) {
        clock.withLockedValue { $0.sent(at: time.millisecondsSinceEpoch) }
    }
}

/// Sends a destination's heartbeats: sleeps until this node delivered nothing for `every`, then
/// asks the store to keep one heartbeat event for the destination's worker to deliver, which it
/// does unless jobs wait or another node was active meanwhile.
public struct HeartbeatService: Service {
    public let destination: String
    public let config: HeartbeatConfig
    public let activity: DeliveryActivity
    public let store: any JobQueue
    /// The destination's ordering key, so a heartbeat waits its turn behind its key's events.
    public let orderingKey: EventKey?
    public let maxEventBytes: Int
    public let logger: Logger
    /// The server's counters: a stored heartbeat counts as an event received.
    public let metrics: PipelineMetrics
    /// Where the heartbeat's own time is read (its event's receipt, the decisions' times).
    public var clock: any WallClock = SystemWallClock()

    public init(
        destination: String,
        config: HeartbeatConfig,
        activity: DeliveryActivity,
        store: any JobQueue,
        orderingKey: EventKey?,
        maxEventBytes: Int,
        logger: Logger,
        metrics: PipelineMetrics
    ) {
        self.metrics = metrics
        self.destination = destination
        self.config = config
        self.activity = activity
        self.store = store
        self.orderingKey = orderingKey
        self.maxEventBytes = maxEventBytes
        self.logger = logger
    }

    public func run() async throws {
        logger.info("heartbeat every \(config.every) without deliveries", metadata: ["destination": "\(destination)"])
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            let now = clock.now()
            switch activity.clock.withLockedValue({ $0.next(at: now.millisecondsSinceEpoch) }) {
            case .sleep(let until):
                let wait = Duration.milliseconds(max(1, until - now.millisecondsSinceEpoch))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            case .askStore:
                let decision: HeartbeatDecision
                do {
                    decision = try await beat(at: now)
                } catch {
                    // A full or failing store is logged by ingestion too; look again shortly.
                    logger.warning("cannot store a heartbeat; trying again shortly: \(error)", metadata: ["destination": "\(destination)"])
                    activity.clock.withLockedValue { $0.decided(.backlog(0), at: now.millisecondsSinceEpoch) }
                    continue
                }
                activity.clock.withLockedValue { $0.decided(decision, at: now.millisecondsSinceEpoch) }
            }
        }
    }

    /// Asks the store to keep a heartbeat made at `now`, if nothing was delivered for `every`.
    func beat(at now: Timestamp) async throws -> HeartbeatDecision {
        let event = try Heartbeat.makeEvent(config.event.value, now: now, maxEventBytes: maxEventBytes)
        let target = JobTarget(destination: destination, orderingKey: orderingKey?.value(for: event))
        let quietSince = Timestamp(millisecondsSinceEpoch: now.millisecondsSinceEpoch - config.every.milliseconds)
        let decision = try await store.appendHeartbeat(
            NewEvent(source: Heartbeat.source, event: event, targets: [target]),
            quietSince: quietSince
        )
        if decision == .stored { metrics.received(source: Heartbeat.source, count: 1) }
        return decision
    }
}
