/// A kind of destination (`type:` in the YAML). Plugins live in their own targets under
/// `Destinations/` and depend only on SwitchyardCore, so adding one never touches the server.
public protocol DestinationPlugin: Sendable {
    /// The type-specific `config:` block, decoded with unknown keys reported.
    associatedtype Settings: Codable & Sendable

    /// The name used as `type:` in the configuration.
    static var typeName: String { get }

    /// Checks that decoding cannot express (ranges, URL shapes, one-of rules). Each problem names
    /// the key path inside the `config:` block it is about.
    static func validate(_ settings: Settings, environment: [String: String]) -> [SettingsProblem]

    /// Builds the destination the delivery engine drives. Throws when it cannot work at all (no
    /// credentials, say); the server then refuses to start, naming the destination.
    static func makeDestination(
        _ settings: Settings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination

    /// What one stored event would become, without credentials or network (`switchyard transform`);
    /// with `rule`, the entry made for that rule.
    static func preview(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> Preview

    /// Whether the destination takes `rules:`; its `makeDestination` then finds them in the context
    /// and tags each job's entry with the job's rule.
    static var supportsRules: Bool { get }

    /// Settings that work but may not do what the user meant for the message types the destination
    /// admits. They never stop the server: `validate` prints them and `serve` logs them.
    static func warnings(_ settings: Settings, admits types: [MessageType]) -> [SettingsProblem]

    /// Whether the destination needs each key's events in acceptance order; the delivery engine
    /// and the store keep it, so a plugin only names the key.
    static func ordering(_ settings: Settings) -> DeliveryOrdering

    /// The EventBridge event (the envelope, as a bus rule sees it) one stored event would become
    /// for one destination rule (or none), for `switchyard pattern test --destination`; nil for
    /// destinations that are not a bus.
    static func busEvents(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> BusEvents?

    /// What `validate --print` adds about a destination that its settings do not say, such as
    /// which provider its credentials would come from (never a value).
    static func describe(_ settings: Settings, context: DestinationContext) async -> [(String, String)]
}

extension DestinationPlugin {
    public static func warnings(_ settings: Settings, admits types: [MessageType]) -> [SettingsProblem] { [] }
    public static func ordering(_ settings: Settings) -> DeliveryOrdering { .none }
    public static func describe(_ settings: Settings, context: DestinationContext) async -> [(String, String)] { [] }
    public static func busEvents(_ settings: Settings, payload: [UInt8], rule: DestinationRule?) -> BusEvents? { nil }
    public static var supportsRules: Bool { false }
}

/// The envelopes an event becomes on a bus, or why it would not be sent.
public enum BusEvents: Sendable, Hashable {
    case events([JSONValue])
    case drop(reason: String)
}

/// A transform's result shown to a person: the entry as JSON, or why the event would be dead-lettered.
public enum Preview: Sendable, Hashable {
    case entry(JSONValue)
    case drop(reason: String)
}

/// A problem inside a destination's `config:` block.
public struct SettingsProblem: Sendable, Hashable {
    public var path: [String]
    public var message: String

    public init(path: [String], message: String) {
        self.path = path
        self.message = message
    }
}

/// The destination types this build knows, in the order they were registered.
public struct DestinationRegistry: Sendable {
    public let plugins: [any DestinationPlugin.Type]

    public init(_ plugins: [any DestinationPlugin.Type]) {
        self.plugins = plugins
    }

    public var typeNames: [String] { plugins.map { $0.typeName } }

    public func plugin(named type: String) -> (any DestinationPlugin.Type)? {
        plugins.first { $0.typeName == type }
    }
}

/// A destination whose settings have been decoded and checked by its plugin.
public struct ResolvedDestination: Sendable {
    public var config: DestinationConfig
    public var plugin: any DestinationPlugin.Type
    public var settings: any Sendable & Encodable

    public var name: String { config.name }

    public func makeDestination(context: DestinationContext) async throws(DestinationSetupError) -> any Destination {
        func make<P: DestinationPlugin>(_ plugin: P.Type) async throws(DestinationSetupError) -> any Destination {
            guard let settings = settings as? P.Settings else {
                throw DestinationSetupError(destination: name, message: "settings do not belong to type \(P.typeName)")
            }
            return try await plugin.makeDestination(settings, policy: config.delivery, context: context)
        }
        let made = try await make(plugin)
        // With transformations, their chain applies `privacy:` before the scripts run: what the
        // scripts return is sent as it is.
        guard let privacy, config.transformations.isEmpty else { return made }
        return PrivacyAppliedDestination(made, rules: privacy)
    }

    /// The destination's `privacy:`, applied to every event before its entry is made.
    public var privacy: PrivacyRules? { config.privacy.map(PrivacyRules.init) }

    /// The event as this destination sees it: with its `privacy:` applied.
    func seen(_ payload: [UInt8]) -> [UInt8] {
        guard let privacy else { return payload }
        return privacy.apply(toPayload: payload) ?? payload
    }

    public func busEvents(payload: [UInt8], rule: DestinationRule?) -> BusEvents? {
        func run<P: DestinationPlugin>(_ plugin: P.Type) -> BusEvents? {
            guard let settings = settings as? P.Settings else { return nil }
            return plugin.busEvents(settings, payload: seen(payload), rule: rule)
        }
        return run(plugin)
    }

    /// What routing would do with an event sent to this destination: filter it out, find no rule
    /// for it, or make one entry per matching rule (one entry, for no rule, without rules).
    public func admission(of event: JSONValue) -> Admission {
        let type = event[path: "type"]?.stringValue.flatMap(MessageType.init(rawValue:))
        if let filter = config.filter {
            guard let type else { return .filtered("the event has no valid type") }
            let name =
                type == .track
                ? event[path: "event"]?.stringValue : (type == .page || type == .screen ? event[path: "name"]?.stringValue : nil)
            guard filter.admits(type: type, name: name) else {
                return .filtered("destination \"\(config.name)\" does not take \(type.rawValue) \(name.map { "\"\($0)\"" } ?? "events")")
            }
            if let pattern = filter.pattern, case .noMatch(let field) = pattern.match(event) {
                return .filtered("filter.pattern does not match (\(field.isEmpty ? "the pattern" : field) did not match)")
            }
        }
        if let consent = config.consent, let refusal = ConsentRule(consent).refusal(for: event) {
            return .skipped(refusal)
        }
        guard !config.rules.isEmpty else { return .entries([nil]) }
        let matched = DestinationRule.matching(config.rules, event: event)
        return matched.isEmpty ? .unmatched(destination: config.name) : .entries(matched)
    }

    public enum Admission: Sendable, Hashable {
        case filtered(String)
        /// The event lacks the consent the destination asks for (`consent:`).
        case skipped(String)
        /// The destination has rules and none matches.
        case unmatched(destination: String)
        /// One entry per element: the rule it is for, or nil.
        case entries([DestinationRule?])

        /// Why the event gets no entry, when it gets none.
        public var refusal: String? {
            switch self {
            case .filtered(let reason): return reason
            case .skipped(let reason): return reason
            case .unmatched(let destination): return "the event matches none of destination \"\(destination)\"'s rules"
            case .entries: return nil
            }
        }
    }

    public func describe(context: DestinationContext) async -> [(String, String)] {
        func run<P: DestinationPlugin>(_ plugin: P.Type) async -> [(String, String)] {
            guard let settings = settings as? P.Settings else { return [] }
            return await plugin.describe(settings, context: context)
        }
        return await run(plugin)
    }

    public var ordering: DeliveryOrdering {
        func read<P: DestinationPlugin>(_ plugin: P.Type) -> DeliveryOrdering {
            guard let settings = settings as? P.Settings else { return .none }
            return plugin.ordering(settings)
        }
        return read(plugin)
    }

    /// - Parameter applyingPrivacy: false for an event that is already as the destination may see
    ///   it (a transformation's output: the chain applied `privacy:` before the scripts).
    public func preview(payload: [UInt8], rule: DestinationRule? = nil, applyingPrivacy: Bool = true) -> Preview {
        func run<P: DestinationPlugin>(_ plugin: P.Type) -> Preview {
            guard let settings = settings as? P.Settings else { return .drop(reason: "settings do not belong to type \(P.typeName)") }
            return plugin.preview(settings, payload: applyingPrivacy ? seen(payload) : payload, rule: rule)
        }
        return run(plugin)
    }
}
