/// What identifies an event model, as rudder-server's event audit groups events: the source, the
/// message type, and the event's name for track (`event`) and page and screen (`name`); identify,
/// group and alias have one model per source.
public struct SchemaKey: Sendable, Hashable, Comparable {
    public var source: String
    public var type: MessageType
    public var name: String

    public init(source: String, type: MessageType, name: String) {
        self.source = source
        self.type = type
        self.name = name
    }

    public static func < (a: SchemaKey, b: SchemaKey) -> Bool {
        (a.source, a.type.rawValue, a.name) < (b.source, b.type.rawValue, b.name)
    }
}

/// One shape an event model has had, with how often and when it was seen.
public struct SchemaVersion: Sendable, Hashable {
    /// 1 for the model's first shape, then one more for each new one, on every node alike.
    public var number: Int
    public var digest: String
    public var shape: InferredShape
    /// Events inferred with this shape (see `DiscoveredSchema.inferred`).
    public var events: Int64
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp

    public init(number: Int, digest: String, shape: InferredShape, events: Int64, firstSeen: Timestamp, lastSeen: Timestamp) {
        self.number = number
        self.digest = digest
        self.shape = shape
        self.events = events
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// An event model in the registry: every event seen for its key, the shapes of those inferred,
/// and one shape of them all that validates every event inferred.
public struct DiscoveredSchema: Sendable, Hashable {
    public var key: SchemaKey
    /// Events seen for the key.
    public var events: Int64 = 0
    /// Events whose shape was inferred: fewer than `events` when discovery sampled.
    public var inferred: Int64 = 0
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// Every inferred event's shape merged; it stops growing (and `complete` turns false) past
    /// `SchemaRegistryLimits.maxMergedPlaces`.
    public var merged: InferredShape?
    public var complete = true
    /// The versions kept, oldest number first.
    public var versions: [SchemaVersion] = []
    /// The number the next new shape gets; versions dropped for the limit keep theirs used.
    public var nextVersion = 1

    public init(key: SchemaKey, firstSeen: Timestamp, lastSeen: Timestamp) {
        self.key = key
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }

    public var sampled: Bool { inferred < events }
}

/// What one node saw of one event model since it last wrote to the registry.
public struct SchemaObservation: Sendable, Hashable {
    public struct Shape: Sendable, Hashable {
        public var shape: InferredShape
        public var events: Int64
        public var firstSeen: Timestamp
        public var lastSeen: Timestamp

        public init(shape: InferredShape, events: Int64, firstSeen: Timestamp, lastSeen: Timestamp) {
            self.shape = shape
            self.events = events
            self.firstSeen = firstSeen
            self.lastSeen = lastSeen
        }
    }

    public var key: SchemaKey
    public var events: Int64
    public var firstSeen: Timestamp
    public var lastSeen: Timestamp
    /// By digest.
    public var shapes: [String: Shape] = [:]

    public init(key: SchemaKey, events: Int64, firstSeen: Timestamp, lastSeen: Timestamp) {
        self.key = key
        self.events = events
        self.firstSeen = firstSeen
        self.lastSeen = lastSeen
    }
}

/// How big the registry may grow, as rudder-server bounds its event audit (event models per
/// source, versions per model): past a limit the least recently seen goes.
public struct SchemaRegistryLimits: Sendable, Hashable {
    public var maxModelsPerSource: Int
    public var maxVersionsPerModel: Int
    /// Places one model's merged shape may describe.
    public var maxMergedPlaces: Int

    public init(maxModelsPerSource: Int = 200, maxVersionsPerModel: Int = 20, maxMergedPlaces: Int = 2000) {
        self.maxModelsPerSource = maxModelsPerSource
        self.maxVersionsPerModel = maxVersionsPerModel
        self.maxMergedPlaces = maxMergedPlaces
    }
}

extension DiscoveredSchema {
    /// Adds a node's observation: counts and times, a version for each new shape (numbered in the
    /// order first seen), the merged shape grown; then the least recently seen versions past the
    /// limit go. Every store applies this same rule, so nodes sharing one registry agree.
    public mutating func record(_ observation: SchemaObservation, limits: SchemaRegistryLimits) {
        events += observation.events
        firstSeen = min(firstSeen, observation.firstSeen)
        lastSeen = max(lastSeen, observation.lastSeen)
        let shapes = observation.shapes.sorted { ($0.value.firstSeen, $0.key) < ($1.value.firstSeen, $1.key) }
        for (digest, seen) in shapes {
            inferred += seen.events
            if let i = versions.firstIndex(where: { $0.digest == digest }) {
                versions[i].events += seen.events
                versions[i].firstSeen = min(versions[i].firstSeen, seen.firstSeen)
                versions[i].lastSeen = max(versions[i].lastSeen, seen.lastSeen)
            } else {
                versions.append(
                    SchemaVersion(
                        number: nextVersion,
                        digest: digest,
                        shape: seen.shape,
                        events: seen.events,
                        firstSeen: seen.firstSeen,
                        lastSeen: seen.lastSeen
                    )
                )
                nextVersion += 1
            }
            let grown = merged.map { $0.merged(with: seen.shape) } ?? seen.shape
            if grown.placeCount <= limits.maxMergedPlaces {
                merged = grown
            } else {
                complete = false
            }
        }
        while versions.count > max(1, limits.maxVersionsPerModel) {
            let oldest = versions.indices.min {
                (versions[$0].lastSeen, versions[$0].number) < (versions[$1].lastSeen, versions[$1].number)
            }!
            versions.remove(at: oldest)
        }
    }

    /// The models of one source past the limit, least recently seen first: what a store deletes.
    public static func evicted(_ models: [(key: SchemaKey, lastSeen: Timestamp)], limit: Int) -> [SchemaKey] {
        guard models.count > limit else { return [] }
        let sorted = models.sorted { ($0.lastSeen, $0.key) < ($1.lastSeen, $1.key) }
        return sorted.prefix(models.count - max(0, limit)).map(\.key)
    }
}

/// The registry of discovered schemas. Nodes sharing a store share one registry: each adds what
/// it saw with `recordSchemas`, which applies `DiscoveredSchema.record` under the store's lock.
public protocol SchemaRegistryStore: Sendable {
    func recordSchemas(_ observations: [SchemaObservation], limits: SchemaRegistryLimits) async throws
    /// Every model, or one source's, in key order.
    func discoveredSchemas(source: String?) async throws -> [DiscoveredSchema]
}
