/// Which source a write key opens, and which destinations each event of that source goes to.
/// Built once from the configuration; lookups on the hot path are a dictionary hit and a filter.
public struct Routing: Sendable {
    public struct Source: Sendable {
        public var name: String
        public var enabled: Bool
        public var destinations: [Target]
        /// `privacy.anonymizeIP`: the event's IP addresses are cut before it is stored.
        public var anonymizeIP: Bool = false
        /// How long an accepted message id makes a later copy a duplicate; nil: never.
        public var dedupWindow: Int64?
        /// The plan this source's events are checked against before they are stored.
        public var trackingPlan: TrackingPlan?

        /// The event as this source's events are stored: with the time until which its message
        /// id makes a later copy a duplicate.
        public func newEvent(_ event: Event, targets: [JobTarget], skipped: [SkippedTarget] = []) -> NewEvent {
            var item = NewEvent(source: name, event: event, targets: targets, skipped: skipped)
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
        /// An admitted event without this consent gets no job, only a `skipped` record.
        public var consent: ConsentRule?
    }

    /// Where one event goes: its jobs, and the destinations it may not go to, with why.
    public struct Routed: Sendable {
        public var targets: [JobTarget] = []
        public var skipped: [SkippedTarget] = []
    }

    private let sourcesByWriteKey: [String: Source]
    /// Every enabled destination as a target, whatever connects to it: what a replay sends to.
    private let targetsByDestination: [String: Target]

    /// Routing for a checked configuration, with each destination's ordering from its plugin.
    public init(_ loaded: LoadedConfig) {
        var orderings: [String: DeliveryOrdering] = [:]
        for destination in loaded.destinations { orderings[destination.name] = destination.ordering }
        self.init(loaded.config, orderings: orderings, trackingPlans: loaded.trackingPlans)
    }

    public init(_ config: SwitchyardConfig, orderings: [String: DeliveryOrdering] = [:], trackingPlans: [String: TrackingPlan] = [:]) {
        var byDestination: [String: Target] = [:]
        for d in config.destinations where d.enabled && byDestination[d.name] == nil {
            var key: EventKey?
            if case .perKey(let rule)? = orderings[d.name] { key = rule }
            byDestination[d.name] = Target(
                destination: d.name,
                filter: d.filter,
                orderingKey: key,
                rules: d.rules,
                consent: d.consent.map(ConsentRule.init)
            )
        }
        var targets: [String: [Target]] = [:]
        for connection in config.connections {
            for name in connection.to {
                guard let target = byDestination[name] else { continue }
                if targets[connection.from, default: []].contains(where: { $0.destination == name }) { continue }
                targets[connection.from, default: []].append(target)
            }
        }
        targetsByDestination = byDestination
        var byKey: [String: Source] = [:]
        for source in config.sources {
            let route = Source(
                name: source.name,
                enabled: source.enabled,
                destinations: targets[source.name] ?? [],
                anonymizeIP: source.privacy.anonymizeIP,
                dedupWindow: (source.dedup ?? config.dedup).windowMilliseconds,
                trackingPlan: source.trackingPlan.flatMap { trackingPlans[$0] }
            )
            for key in source.writeKeys { byKey[key.reveal()] = route }
        }
        sourcesByWriteKey = byKey
    }

    public func source(writeKey: String) -> Source? {
        sourcesByWriteKey[writeKey]
    }

    /// The enabled destinations, by name.
    public var destinationNames: Set<String> { Set(targetsByDestination.keys) }

    /// A replay as a source of its own, connected to the destinations it names (those enabled).
    public func source(replaying replay: Replay) -> Source {
        Source(name: replay.source, enabled: true, destinations: replay.destinations.compactMap { targetsByDestination[$0] })
    }

    /// The jobs this event gets: one per destination whose filter admits it (one per matching
    /// rule where the destination has rules), with its ordering key.
    public func targets(for event: Event, from source: Source) -> [JobTarget] {
        route(event, from: source).targets
    }

    /// The jobs this event gets, and the admitted destinations it lacks the consent for. The
    /// payload is parsed only when a destination has a pattern, rules or consent, once for all.
    public func route(_ event: Event, from source: Source) -> Routed {
        var parsed: JSONValue??
        func json() -> JSONValue? {
            if let parsed { return parsed }
            let value = try? JSONParser.parse(event.payload)
            parsed = .some(value)
            return value
        }
        var routed = Routed()
        for target in source.destinations {
            guard target.filter?.admits(type: event.type, name: event.name, json: json) ?? true else { continue }
            if let consent = target.consent, let event = json(), let refusal = consent.refusal(for: event) {
                routed.skipped.append(SkippedTarget(destination: target.destination, reason: refusal))
                continue
            }
            let key = target.orderingKey?.value(for: event)
            if target.rules.isEmpty {
                routed.targets.append(JobTarget(destination: target.destination, orderingKey: key))
                continue
            }
            for rule in target.rules {
                if let pattern = rule.match {
                    guard let event = json(), pattern.matches(event) else { continue }
                }
                routed.targets.append(JobTarget(destination: target.destination, orderingKey: key, rule: rule.name))
            }
        }
        return routed
    }

    /// Destinations that get a job for this event.
    public func destinations(for event: Event, from source: Source) -> [String] {
        targets(for: event, from: source).map(\.destination)
    }
}
