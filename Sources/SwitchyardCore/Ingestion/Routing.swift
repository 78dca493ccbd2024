/// Which source a write key opens, and which destinations each event of that source goes to.
/// Built once from the configuration; lookups on the hot path are a dictionary hit and a filter.
public struct Routing: Sendable {
    public struct Source: Sendable {
        public var name: String
        public var enabled: Bool
        public var destinations: [Target]
    }

    public struct Target: Sendable {
        public var destination: String
        public var filter: EventFilter?
    }

    private let sourcesByWriteKey: [String: Source]

    public init(_ config: SwitchyardConfig) {
        var targets: [String: [Target]] = [:]
        let destinations = Dictionary(config.destinations.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for connection in config.connections {
            for name in connection.to {
                guard let d = destinations[name], d.enabled else { continue }
                if targets[connection.from, default: []].contains(where: { $0.destination == name }) { continue }
                targets[connection.from, default: []].append(Target(destination: name, filter: d.filter))
            }
        }
        var byKey: [String: Source] = [:]
        for source in config.sources {
            let route = Source(name: source.name, enabled: source.enabled, destinations: targets[source.name] ?? [])
            for key in source.writeKeys { byKey[key.reveal()] = route }
        }
        sourcesByWriteKey = byKey
    }

    public func source(writeKey: String) -> Source? {
        sourcesByWriteKey[writeKey]
    }

    /// Destinations that get a job for this event.
    public func destinations(for event: Event, from source: Source) -> [String] {
        source.destinations.compactMap { target in
            guard target.filter?.admits(type: event.type, name: event.name) ?? true else { return nil }
            return target.destination
        }
    }
}
