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
            return try Ingestion.enrich(object, defaults: .init(), context: IngestContext(receivedAt: now, requestIP: nil, maxEventBytes: maxEventBytes))
        } catch {
            throw Invalid(description: error.body)
        }
    }
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
        /// A heartbeat is due unless a backlog waits: count it, then call `backlog(_:at:)`.
        case checkBacklog
    }

    public func next(at now: Int64) -> Action {
        let due = max(lastSent + every, lookAgainAt ?? 0)
        return now >= due ? .checkBacklog : .sleep(until: due)
    }

    /// Entries were delivered.
    public mutating func sent(at time: Int64) {
        if time > lastSent {
            lastSent = time
            lookAgainAt = nil
        }
    }

    /// The backlog's size when a heartbeat was due; true means store one now. The heartbeat
    /// counts as a send, so another is due only `every` later (and not while it waits itself).
    public mutating func backlog(_ waiting: Int, at now: Int64) -> Bool {
        guard waiting == 0 else {
            lookAgainAt = now + min(every, Self.recheck)
            return false
        }
        lastSent = now
        lookAgainAt = nil
        return true
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

/// Sends a destination's heartbeats: sleeps until one is due, skips it while the destination has
/// jobs waiting, and otherwise stores one heartbeat event for the destination's worker to deliver.
public struct HeartbeatService: Service {
    public let destination: String
    public let config: HeartbeatConfig
    public let activity: DeliveryActivity
    public let store: any JobQueue
    /// The destination's ordering key, so a heartbeat waits its turn behind its key's events.
    public let orderingKey: EventKey?
    public let maxEventBytes: Int
    public let logger: Logger

    public init(destination: String, config: HeartbeatConfig, activity: DeliveryActivity, store: any JobQueue, orderingKey: EventKey?, maxEventBytes: Int, logger: Logger) {
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
            let now = Timestamp.now()
            switch activity.clock.withLockedValue({ $0.next(at: now.millisecondsSinceEpoch) }) {
            case .sleep(let until):
                let wait = Duration.milliseconds(max(1, until - now.millisecondsSinceEpoch))
                try? await cancelWhenGracefulShutdown { try await Task.sleep(for: wait) }
            case .checkBacklog:
                let waiting: Int
                do {
                    waiting = try await store.backlog()[destination]?.waiting ?? 0
                } catch {
                    logger.warning("cannot read the backlog for a heartbeat; trying again shortly: \(error)", metadata: ["destination": "\(destination)"])
                    _ = activity.clock.withLockedValue { $0.backlog(1, at: now.millisecondsSinceEpoch) }
                    continue
                }
                guard activity.clock.withLockedValue({ $0.backlog(waiting, at: now.millisecondsSinceEpoch) }) else { continue }
                await beat(at: now)
            }
        }
    }

    func beat(at now: Timestamp) async {
        do {
            let event = try Heartbeat.makeEvent(config.event.value, now: now, maxEventBytes: maxEventBytes)
            let target = JobTarget(destination: destination, orderingKey: orderingKey?.value(for: event))
            try await store.append([NewEvent(source: Heartbeat.source, event: event, targets: [target])])
            PipelineMetrics.shared.received(source: Heartbeat.source, count: 1)
        } catch {
            // The next one is due `every` from now; a full or failing store is logged by ingestion too.
            logger.warning("cannot store a heartbeat: \(error)", metadata: ["destination": "\(destination)"])
        }
    }
}
