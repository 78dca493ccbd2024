import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// A node's schema discovery: ingestion hands it every stored event; it counts each one and
/// infers the shape of up to `maxEventsPerSecond` per event model, and keeps what it saw until
/// `SchemaDiscoveryService` adds it to the registry. What it holds is bounded: at most
/// `maxModelsPerSource` models per source and `maxVersionsPerModel` shapes per model between two
/// flushes, whatever names and shapes clients send.
public final class SchemaDiscovery: Sendable {
    public let config: SchemaDiscoveryConfig
    let clock: any WallClock
    let metrics: PipelineMetrics?
    let shapeLimits: ShapeLimits
    private let state = NIOLockedValueBox(State())

    struct Pending {
        var observation: SchemaObservation
        /// The second (since the epoch) `inferredThisSecond` counts in.
        var second: Int64
        var inferredThisSecond: Int
    }

    struct State {
        var pending: [SchemaKey: Pending] = [:]
        var modelsPerSource: [String: Int] = [:]

        /// Makes sure `key` has an entry, unless its source already has `limit`; false then.
        mutating func open(_ key: SchemaKey, at now: Timestamp, limit: Int) -> Bool {
            guard pending[key] == nil else { return true }
            guard modelsPerSource[key.source, default: 0] < limit else { return false }
            modelsPerSource[key.source, default: 0] += 1
            pending[key] = Pending(
                observation: SchemaObservation(key: key, events: 0, firstSeen: now, lastSeen: now),
                second: now.millisecondsSinceEpoch / 1000,
                inferredThisSecond: 0
            )
            return true
        }
    }

    public init(config: SchemaDiscoveryConfig, clock: any WallClock = SystemWallClock(), metrics: PipelineMetrics? = nil) {
        self.config = config
        self.clock = clock
        self.metrics = metrics
        shapeLimits = ShapeLimits()
    }

    /// The model an event belongs to, as rudder-server's event audit groups them.
    public static func key(of event: Event, source: String) -> SchemaKey {
        let named = event.type == .track || event.type == .page || event.type == .screen
        return SchemaKey(source: source, type: event.type, name: named ? (event.name ?? "") : "")
    }

    /// Counts `events` (stored from `source`) and infers the shapes of those within the rate.
    /// Parsing happens outside the lock; the lock is held for counting only.
    public func observe(_ events: [Event], source: String) {
        guard config.enabled, !events.isEmpty else { return }
        let now = clock.now()
        let second = now.millisecondsSinceEpoch / 1000
        var chosen: [Int] = []
        var overflow = 0
        state.withLockedValue { state in
            for (i, event) in events.enumerated() {
                let key = Self.key(of: event, source: source)
                guard state.open(key, at: now, limit: config.maxModelsPerSource) else {
                    overflow += 1
                    continue
                }
                state.pending[key]!.observation.events += 1
                state.pending[key]!.observation.lastSeen = now
                if state.pending[key]!.second != second {
                    state.pending[key]!.second = second
                    state.pending[key]!.inferredThisSecond = 0
                }
                if state.pending[key]!.inferredThisSecond < config.maxEventsPerSecond {
                    state.pending[key]!.inferredThisSecond += 1
                    chosen.append(i)
                }
            }
        }
        if overflow > 0 { metrics?.discoveryOverflow(source: source, count: overflow) }
        let counted = events.count - overflow
        metrics?.discovered(source: source, inferred: chosen.count, sampled: counted - chosen.count)
        guard !chosen.isEmpty else { return }
        let shapes = chosen.compactMap { i -> (SchemaKey, InferredShape, String)? in
            guard let message = events[i].message else { return nil }
            let shape = InferredShape.infer(.object(message), limits: shapeLimits)
            return (Self.key(of: events[i], source: source), shape, shape.digest)
        }
        state.withLockedValue { state in
            for (key, shape, digest) in shapes {
                // Taken by a flush since it was counted: the count went with it; the shape is
                // recorded in the next one (the registry's sums come out the same).
                guard state.open(key, at: now, limit: config.maxModelsPerSource) else { continue }
                var observation = state.pending[key]!.observation
                if var seen = observation.shapes[digest] {
                    seen.events += 1
                    seen.lastSeen = now
                    observation.shapes[digest] = seen
                } else if observation.shapes.count < config.maxVersionsPerModel {
                    observation.shapes[digest] = .init(shape: shape, events: 1, firstSeen: now, lastSeen: now)
                }
                state.pending[key]!.observation = observation
            }
        }
    }

    /// What was seen since the last call, emptied.
    public func take() -> [SchemaObservation] {
        state.withLockedValue { state in
            let taken = state.pending.values.map(\.observation).sorted { $0.key < $1.key }
            state = State()
            return taken
        }
    }
}

/// Adds what a node's discovery saw to the registry every `flushInterval`, and once more on
/// shutdown, so a restart loses at most nothing of what was seen.
public struct SchemaDiscoveryService: Service {
    public let discovery: SchemaDiscovery
    public let store: any SchemaRegistryStore
    public let logger: Logger

    public init(discovery: SchemaDiscovery, store: any SchemaRegistryStore, logger: Logger) {
        self.discovery = discovery
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: discovery.config.flushInterval.duration) }
            await flush()
        }
    }

    /// Adds what was seen to the registry. A store that fails costs the registry these counts,
    /// never an event.
    public func flush() async {
        let observations = discovery.take()
        guard !observations.isEmpty else { return }
        do {
            try await store.recordSchemas(observations, limits: discovery.config.limits)
        } catch {
            logger.warning("discovered schemas not recorded: \(error)", metadata: ["models": "\(observations.count)"])
        }
    }
}
