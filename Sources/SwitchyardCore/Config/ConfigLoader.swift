import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A configuration that decoded and passed every check; the only kind the server will start on.
public struct LoadedConfig: Sendable {
    public var file: String
    public var config: SwitchyardConfig
    public var destinations: [ResolvedDestination]
    /// Settings that work but may not do what was meant (`validate` prints them, `serve` logs them).
    public var warnings: [ConfigProblem] = []
    /// The code of `transformations:` and `libraries:`, read from the file or its own files.
    public var scripts = TransformationScripts()
    /// `trackingPlans:` compiled, by name.
    public var trackingPlans: [String: TrackingPlan] = [:]
}

/// Reads, interpolates, decodes and checks a configuration, collecting every problem it finds.
public struct ConfigLoader: Sendable {
    public var registry: DestinationRegistry
    public var environment: [String: String]

    public init(registry: DestinationRegistry, environment: [String: String]) {
        self.registry = registry
        self.environment = environment
    }

    public func load(path: String) throws(ConfigError) -> LoadedConfig {
        guard let text = Self.readFile(path) else {
            throw ConfigError(problems: [
                ConfigProblem(location: nil, file: path, message: "cannot read the configuration file (does it exist, and is it readable?)")
            ])
        }
        return try load(text: text, file: path)
    }

    public func load(text: String, file: String) throws(ConfigError) -> LoadedConfig {
        var problems: [ConfigProblem] = []
        guard let root = ConfigParser(file: file, environment: environment).parse(text, problems: &problems) else {
            throw ConfigError(problems: problems)
        }
        let decoder = ConfigDecoder()
        let config = decoder.decode(SwitchyardConfig.self, from: root)
        var destinations: [ResolvedDestination] = []
        var warnings: [ConfigProblem] = []
        var scripts = TransformationScripts()
        var plans: [String: TrackingPlan] = [:]
        if let config {
            destinations = resolveDestinations(config, root: root, decoder: decoder, warnings: &warnings)
            problems += decoder.problems + decoder.unknownKeyProblems() + check(config, root: root)
            scripts = readScripts(config, file: file, root: root, problems: &problems)
            plans = readTrackingPlans(config, file: file, root: root, problems: &problems)
        } else {
            problems += decoder.problems + decoder.unknownKeyProblems()
        }
        guard let config, problems.isEmpty else {
            throw ConfigError(problems: Self.ordered(problems))
        }
        var loaded = LoadedConfig(file: file, config: config, destinations: destinations, warnings: Self.ordered(warnings))
        loaded.scripts = scripts
        loaded.trackingPlans = plans
        return loaded
    }

    static func ordered(_ problems: [ConfigProblem]) -> [ConfigProblem] {
        var seen = Set<ConfigProblem>()
        return problems.filter { seen.insert($0).inserted }.sorted {
            ($0.location?.line ?? 0, $0.location?.column ?? 0) < ($1.location?.line ?? 0, $1.location?.column ?? 0)
        }
    }

    private func resolveDestinations(
        _ config: SwitchyardConfig,
        root: ConfigNode,
        decoder: ConfigDecoder,
        warnings: inout [ConfigProblem]
    ) -> [ResolvedDestination] {
        var resolved: [ResolvedDestination] = []
        for (n, destination) in config.destinations.enumerated() {
            let base: [any CodingKey] = [IndexKey(stringValue: "destinations")!, IndexKey(n)]
            guard let plugin = registry.plugin(named: destination.type) else {
                let loc = root.node(at: base + [IndexKey(stringValue: "type")!])?.location
                let known = registry.typeNames
                let hint = didYouMean(destination.type, known)
                let list = hint.isEmpty ? " (known types: \(known.joined(separator: ", ")))" : hint
                decoder.add(
                    ConfigProblem(
                        location: loc,
                        message: "destination \"\(destination.name)\" has unknown type \"\(destination.type)\"\(list)"
                    )
                )
                continue
            }
            if !destination.rules.isEmpty, !plugin.supportsRules {
                let loc = root.node(at: base + [IndexKey(stringValue: "rules")!])?.location
                let takers = registry.plugins.filter { $0.supportsRules }.map { $0.typeName }
                decoder.add(
                    ConfigProblem(
                        location: loc,
                        message:
                            "destination \"\(destination.name)\": \(destination.type) destinations take no rules (rules tag EventBridge entries; types that take them: \(takers.joined(separator: ", ")))"
                    )
                )
            }
            let node = destination.config ?? .mapping([], root.node(at: base)?.location ?? root.location)
            if let r = resolve(
                plugin,
                destination: destination,
                node: node,
                path: base + [IndexKey(stringValue: "config")!],
                decoder: decoder,
                warnings: &warnings
            ) {
                resolved.append(r)
            }
        }
        return resolved
    }

    private func resolve<P: DestinationPlugin>(
        _ plugin: P.Type,
        destination: DestinationConfig,
        node: ConfigNode,
        path: [any CodingKey],
        decoder: ConfigDecoder,
        warnings: inout [ConfigProblem]
    ) -> ResolvedDestination? {
        guard let settings = decoder.decode(P.Settings.self, from: node, path: path) else { return nil }
        func problem(_ issue: SettingsProblem) -> ConfigProblem {
            let keys = issue.path.map { IndexKey(stringValue: $0)! as any CodingKey }
            return ConfigProblem(location: node.location(nearest: keys), message: "destination \"\(destination.name)\": \(issue.message)")
        }
        let issues = P.validate(settings, environment: environment)
        for issue in issues { decoder.add(problem(issue)) }
        warnings += P.warnings(settings, admits: destination.filter?.types ?? MessageType.allCases).map(problem)
        guard issues.isEmpty else { return nil }
        return ResolvedDestination(config: destination, plugin: plugin, settings: settings)
    }

    /// Rules across sections: unique names, connections that point at something, sane limits.
    private func check(_ config: SwitchyardConfig, root: ConfigNode) -> [ConfigProblem] {
        var problems: [ConfigProblem] = []
        func at(_ keys: Any...) -> SourceLocation { root.location(nearest: keys) }
        let server = config.server
        if !(1...65535).contains(server.port) {
            problems.append(.init(location: at("server", "port"), message: "server.port must be between 1 and 65535, found \(server.port)"))
        }
        if server.shutdownGrace.milliseconds < 1000 {
            problems.append(.init(location: at("server", "shutdownGrace"), message: "server.shutdownGrace must be at least 1s"))
        }
        if server.idleTimeout.milliseconds < 1000 {
            problems.append(.init(location: at("server", "idleTimeout"), message: "server.idleTimeout must be at least 1s"))
        }
        if let url = server.publicURL, let problem = PublicURL.problem(url) {
            problems.append(.init(location: at("server", "publicURL"), message: "server.publicURL \(problem)"))
        }
        if server.limits.maxEventBytes < 256 {
            problems.append(
                .init(location: at("server", "limits", "maxEventBytes"), message: "server.limits.maxEventBytes must be at least 256")
            )
        }
        if server.limits.maxRequestBytes < server.limits.maxEventBytes {
            problems.append(
                .init(
                    location: at("server", "limits", "maxRequestBytes"),
                    message: "server.limits.maxRequestBytes must be at least maxEventBytes (\(server.limits.maxEventBytes))"
                )
            )
        }
        if server.limits.maxRequestBytes > 256 * 1024 * 1024 {
            problems.append(
                .init(
                    location: at("server", "limits", "maxRequestBytes"),
                    message: "server.limits.maxRequestBytes must be at most 268435456 (256 MiB)"
                )
            )
        }
        if config.storage.path.isEmpty {
            problems.append(.init(location: at("storage", "path"), message: "storage.path must not be empty"))
        }
        if config.storage.maxQueuedJobs < 1 {
            problems.append(.init(location: at("storage", "maxQueuedJobs"), message: "storage.maxQueuedJobs must be at least 1"))
        }
        for (key, message) in config.stats.problems {
            problems.append(.init(location: at("stats", key), message: "stats.\(key) \(message)"))
        }
        for (key, message) in config.schemaDiscovery.problems {
            problems.append(.init(location: at("schemaDiscovery", key), message: "schemaDiscovery.\(key) \(message)"))
        }
        for (key, message) in config.archive.problems {
            problems.append(.init(location: at("archive", key), message: "archive.\(key) \(message)"))
        }

        var sourceNames: Set<String> = []
        var keyOwner: [String: String] = [:]
        for (n, source) in config.sources.enumerated() {
            if source.name.isEmpty {
                problems.append(.init(location: at("sources", n, "name"), message: "source name must not be empty"))
            } else if !sourceNames.insert(source.name).inserted {
                problems.append(.init(location: at("sources", n, "name"), message: "source \"\(source.name)\" is defined twice"))
            }
            if source.name.hasPrefix(Replay.sourcePrefix) {
                problems.append(
                    .init(
                        location: at("sources", n, "name"),
                        message: "source \"\(source.name)\": names starting with \"\(Replay.sourcePrefix)\" are replays' own"
                    )
                )
            }
            if source.name == Heartbeat.source {
                problems.append(
                    .init(
                        location: at("sources", n, "name"),
                        message: "source name \"\(Heartbeat.source)\" is reserved: heartbeat events are logged under it"
                    )
                )
            }
            if source.writeKeys.isEmpty {
                problems.append(
                    .init(location: at("sources", n, "writeKeys"), message: "source \"\(source.name)\" needs at least one write key")
                )
            }
            for (k, key) in source.writeKeys.enumerated() {
                if key.isEmpty {
                    problems.append(
                        .init(location: at("sources", n, "writeKeys", k), message: "source \"\(source.name)\" has an empty write key")
                    )
                } else if let owner = keyOwner[key.reveal()] {
                    problems.append(
                        .init(
                            location: at("sources", n, "writeKeys", k),
                            message: "source \"\(source.name)\" reuses a write key of source \"\(owner)\"; each key must name one source"
                        )
                    )
                } else {
                    keyOwner[key.reveal()] = source.name
                }
            }
        }

        var destinationNames: Set<String> = []
        for (n, destination) in config.destinations.enumerated() {
            if destination.name.isEmpty {
                problems.append(.init(location: at("destinations", n, "name"), message: "destination name must not be empty"))
            } else if !destinationNames.insert(destination.name).inserted {
                problems.append(
                    .init(location: at("destinations", n, "name"), message: "destination \"\(destination.name)\" is defined twice")
                )
            }
            for (key, message) in destination.delivery.problems() {
                problems.append(
                    .init(location: at("destinations", n, "delivery", key), message: "destination \"\(destination.name)\": \(message)")
                )
            }
            if let events = destination.filter?.events, events.allow != nil, events.deny != nil {
                problems.append(
                    .init(
                        location: at("destinations", n, "filter", "events"),
                        message: "destination \"\(destination.name)\": filter.events takes allow or deny, not both"
                    )
                )
            }
            var ruleNames: Set<String> = []
            for (r, rule) in destination.rules.enumerated() where !ruleNames.insert(rule.name).inserted {
                problems.append(
                    .init(
                        location: at("destinations", n, "rules", r, "name"),
                        message: "destination \"\(destination.name)\": rule \"\(rule.name)\" is defined twice"
                    )
                )
            }
        }

        // A source or destination that had a problem of its own is still named in the file: a
        // connection to it is not a second problem.
        func written(_ section: String) -> Set<String> {
            guard case .sequence(let items, _)? = root.node(at: [IndexKey(stringValue: section)!]) else { return [] }
            return Set(
                items.compactMap { item in
                    guard case .mapping(let entries, _) = item, case .scalar(let name)? = entries.first(where: { $0.key == "name" })?.value
                    else { return nil }
                    return name.value
                }
            )
        }
        let writtenSources = written("sources")
        let writtenDestinations = written("destinations")
        for (n, connection) in config.connections.enumerated() {
            if !sourceNames.contains(connection.from), !writtenSources.contains(connection.from) {
                problems.append(
                    .init(
                        location: at("connections", n, "from"),
                        message: "connection from unknown source \"\(connection.from)\"\(didYouMean(connection.from, sourceNames))"
                    )
                )
            }
            for (k, target) in connection.to.enumerated() where !destinationNames.contains(target) && !writtenDestinations.contains(target)
            {
                problems.append(
                    .init(
                        location: at("connections", n, "to", k),
                        message: "connection to unknown destination \"\(target)\"\(didYouMean(target, destinationNames))"
                    )
                )
            }
        }
        return problems
    }

    static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
