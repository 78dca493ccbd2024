/// Which source a write key opens, and which destinations each event of that source goes to.
/// Built once from the configuration; lookups on the hot path are a dictionary hit and a filter.
public struct Routing: Sendable {
    public struct Source: Sendable {
        public var name: String
        public var enabled: Bool
        public var destinations: [Target]
        /// How long an accepted message id makes a later copy a duplicate; nil: never.
        public var dedupWindow: Int64?

        /// The event as this source's events are stored: with the time until which its message
        /// id makes a later copy a duplicate.
        public func newEvent(_ event: Event, targets: [JobTarget]) -> NewEvent {
            var item = NewEvent(source: name, event: event, targets: targets)
            if let dedupWindow { item.dedupUntil = event.receivedAt.millisecondsSinceEpoch + dedupWindow }
            return item
        }
    }

    public struct Target: Sendable {
        public var destination: String
        public var filter: EventFilter?
        /// Set for destinations that keep each key's events in order: the key is stored with the job.
        public var orderingKey: EventKey?
        /// With rules, an admitted event gets one job per rule it matches.
        public var rules: [DestinationRule] = []
    }

    private let sourcesByWriteKey: [String: Source]

    /// Routing for a checked configuration, with each destination's ordering from its plugin.
    public init(_ loaded: LoadedConfig) {
        var orderings: [String: DeliveryOrdering] = [:]
        for destination in loaded.destinations { orderings[destination.name] = destination.ordering }
        self.init(loaded.config, orderings: orderings)
    }

    public init(_ config: SwitchyardConfig, orderings: [String: DeliveryOrdering] = [:]) {
        var targets: [String: [Target]] = [:]
        let destinations = Dictionary(config.destinations.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for connection in config.connections {
            for name in connection.to {
                guard let d = destinations[name], d.enabled else { continue }
                if targets[connection.from, default: []].contains(where: { $0.destination == name }) { continue }
                var key: EventKey?
                if case .perKey(let rule)? = orderings[name] { key = rule }
                targets[connection.from, default: []].append(Target(destination: name, filter: d.filter, orderingKey: key, rules: d.rules))
            }
        }
        var byKey: [String: Source] = [:]
        for source in config.sources {
            let route = Source(
                name: source.name,
                enabled: source.enabled,
                destinations: targets[source.name] ?? [],
                dedupWindow: (source.dedup ?? config.dedup).windowMilliseconds
            )
            for key in source.writeKeys { byKey[key.reveal()] = route }
        }
        sourcesByWriteKey = byKey
    }

    public func source(writeKey: String) -> Source? {
        sourcesByWriteKey[writeKey]
    }

    /// The jobs this event gets: one per destination whose filter admits it (one per matching
    /// rule where the destination has rules), with its ordering key.
    public func targets(for event: Event, from source: Source) -> [JobTarget] {
        var parsed: JSONValue??
        func json() -> JSONValue? {
            if let parsed { return parsed }
            let value = try? JSONParser.parse(event.payload)
            parsed = .some(value)
            return value
        }
        var jobs: [JobTarget] = []
        for target in source.destinations {
            guard target.filter?.admits(type: event.type, name: event.name, json: json) ?? true else { continue }
            let key = target.orderingKey?.value(for: event)
            if target.rules.isEmpty {
                jobs.append(JobTarget(destination: target.destination, orderingKey: key))
                continue
            }
            for rule in target.rules {
                if let pattern = rule.match {
                    guard let event = json(), pattern.matches(event) else { continue }
                }
                jobs.append(JobTarget(destination: target.destination, orderingKey: key, rule: rule.name))
            }
        }
        return jobs
    }

    /// Destinations that get a job for this event.
    public func destinations(for event: Event, from source: Source) -> [String] {
        targets(for: event, from: source).map(\.destination)
    }
}
