/// A tracking plan compiled from the configuration: each planned event's schemas, ready to check
/// events against on the ingestion path.
public struct TrackingPlan: Sendable {
    public let name: String
    public let version: Int
    public let onViolation: TrackingPlanConfig.OnViolation
    public let onUnplannedEvent: TrackingPlanConfig.OnUnplannedEvent
    public let onUnplannedProperties: TrackingPlanConfig.OnUnplannedProperties
    public let forwardViolationsTo: String?
    let tracks: [String: PlannedEvent]
    let types: [MessageType: PlannedEvent]

    /// The most violations kept for one event; past it, the event's count says how many more.
    public static let maxViolations = 20

    /// One planned event's schemas, each over one part of the message (or the whole of it).
    struct PlannedEvent: Sendable {
        var parts: [Part] = []

        struct Part: Sendable {
            /// `properties`, `traits` or `context`; nil: the whole message (RudderStack's `rules`).
            var field: String?
            var schema: JSONSchema
            /// The properties the schema names at its top level (for `onUnplannedProperties: drop`).
            var declared: DeclaredProperties?
        }
    }

    /// What a schema's top-level `properties` and `patternProperties` admit.
    struct DeclaredProperties: Sendable {
        var names: Set<String>
        var patterns: [SchemaRegex]

        init?(_ schema: JSONValue) {
            guard case .object(let o) = schema else { return nil }
            names = Set(o["properties"]?.objectValue?.keys ?? [])
            patterns = (o["patternProperties"]?.objectValue?.keys ?? []).compactMap { try? SchemaRegex($0) }
        }

        func admits(_ key: String) -> Bool {
            names.contains(key) || patterns.contains { $0.matches(key) }
        }
    }

    /// Compiles `config` (its events already read from its file, if it has one); the error names
    /// the event and part whose schema is not valid JSON Schema.
    public init(_ config: TrackingPlanConfig) throws(TrackingPlanError) {
        name = config.name
        version = config.version
        onViolation = config.onViolation
        onUnplannedEvent = config.onUnplannedEvent
        onUnplannedProperties = config.onUnplannedProperties
        forwardViolationsTo = config.forwardViolationsTo
        var tracks: [String: PlannedEvent] = [:]
        var types: [MessageType: PlannedEvent] = [:]
        for (n, entry) in config.events.enumerated() {
            var planned = PlannedEvent()
            for (field, schema) in [
                ("properties", entry.properties), ("traits", entry.traits), ("context", entry.context), (nil, entry.rules),
            ] {
                guard let schema else { continue }
                do {
                    let compiled = try JSONSchema(schema.value)
                    planned.parts.append(
                        .init(
                            field: field,
                            schema: compiled,
                            declared: field == "context" || field == nil ? nil : DeclaredProperties(schema.value)
                        )
                    )
                } catch {
                    throw TrackingPlanError(event: n, part: field ?? "rules", location: schema.location, reason: error.description)
                }
            }
            let type = entry.type ?? .track
            if type == .track {
                guard let event = entry.event else {
                    throw TrackingPlanError(event: n, part: nil, location: nil, reason: "a track event needs its name (event:)")
                }
                guard tracks[event] == nil else {
                    throw TrackingPlanError(event: n, part: nil, location: nil, reason: "event \"\(event)\" is planned twice")
                }
                tracks[event] = planned
            } else {
                guard type != .alias else {
                    throw TrackingPlanError(event: n, part: nil, location: nil, reason: "alias events are not checked by plans")
                }
                guard entry.event == nil else {
                    throw TrackingPlanError(
                        event: n,
                        part: nil,
                        location: nil,
                        reason: "event: names track events; a \(type.rawValue) entry takes none"
                    )
                }
                guard types[type] == nil else {
                    throw TrackingPlanError(event: n, part: nil, location: nil, reason: "\(type.rawValue) is planned twice")
                }
                types[type] = planned
            }
        }
        self.tracks = tracks
        self.types = types
    }

    /// Whether the plan names this track event, for metrics labels (any other is counted as unplanned).
    public func plans(event name: String) -> Bool { tracks[name] != nil }
}

/// Why a plan cannot be used: which of its events, which part, and the schema's complaint.
public struct TrackingPlanError: Error, Sendable, CustomStringConvertible {
    public var event: Int
    public var part: String?
    public var location: SourceLocation?
    public var reason: String

    public var description: String {
        "events[\(event)]" + (part.map { ".\($0)" } ?? "") + ": " + reason
    }
}
