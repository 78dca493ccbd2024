import Foundation

/// The whole `switchyard.yaml`. Every struct decodes missing keys to the documented default and
/// the decoder reports keys it does not know, so a typo is an error instead of a silent default.
public struct SwitchyardConfig: Codable, Sendable {
    public var server: ServerConfig
    public var storage: StorageConfig
    public var sources: [SourceConfig]
    public var destinations: [DestinationConfig]
    public var connections: [ConnectionConfig]
    /// Deduplication by message id, for every source that does not set its own.
    public var dedup: DedupConfig

    public init(
        server: ServerConfig = .init(),
        storage: StorageConfig = .init(),
        sources: [SourceConfig] = [],
        destinations: [DestinationConfig] = [],
        connections: [ConnectionConfig] = [],
        dedup: DedupConfig = .init()
    ) {
        self.server = server
        self.storage = storage
        self.sources = sources
        self.destinations = destinations
        self.connections = connections
        self.dedup = dedup
    }

    enum CodingKeys: String, CodingKey {
        case server, storage, sources, destinations, connections, dedup
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decodeCollecting(ServerConfig.self, forKey: .server, decoder: decoder) ?? .init()
        storage = try c.decodeCollecting(StorageConfig.self, forKey: .storage, decoder: decoder) ?? .init()
        sources = try c.decodeEach(SourceConfig.self, forKey: .sources, decoder: decoder)
        destinations = try c.decodeEach(DestinationConfig.self, forKey: .destinations, decoder: decoder)
        connections = try c.decodeEach(ConnectionConfig.self, forKey: .connections, decoder: decoder)
        dedup = try c.decodeCollecting(DedupConfig.self, forKey: .dedup, decoder: decoder) ?? .init()
    }
}

public struct ServerConfig: Codable, Sendable {
    public var host: String = "127.0.0.1"
    public var port: Int = 8080
    /// Opens the operator endpoints (live log, replay). Empty means they are closed to everyone.
    public var adminToken: Secret?
    public var limits: LimitsConfig = .init()
    /// Take `request_ip` from the first `X-Forwarded-For` address, as rudder-server does behind a load balancer.
    public var trustForwardedFor: Bool = true
    /// How long a SIGTERM may take: sends in flight finish and open requests are answered, then
    /// whatever is left (a stalled upload, a live-log reader that stopped reading) is cancelled.
    /// Under Kubernetes' default of 30 s before SIGKILL.
    public var shutdownGrace: ConfigDuration = .seconds(25)
    /// A keep-alive connection with no request for this long is closed. Longer than the 60 s of
    /// common load balancers, so the balancer, not the server, closes an idle connection first.
    public var idleTimeout: ConfigDuration = .seconds(75)
    /// The URL browsers reach this server at (`https://collect.example.com`), which the SDK
    /// settings endpoints hand back. Without it, the request's own scheme and Host are used.
    public var publicURL: String?
    /// This node's name in the delivery log and on its leases, where several nodes share one
    /// store; empty means `host:port`. Each node of a cluster needs its own.
    public var node: String?

    public init() {}

    /// The node's name as written in the log and on leases.
    public var nodeName: String { node ?? "\(host):\(port)" }

    enum CodingKeys: String, CodingKey {
        case host, port, adminToken, limits, trustForwardedFor, shutdownGrace, idleTimeout, publicURL, node
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        host = try c.decodeIfPresent(String.self, forKey: .host) ?? host
        port = try c.decodeIfPresent(Int.self, forKey: .port) ?? port
        adminToken = try c.decodeIfPresent(Secret.self, forKey: .adminToken)
        if adminToken?.isEmpty == true { adminToken = nil }
        limits = try c.decodeIfPresent(LimitsConfig.self, forKey: .limits) ?? limits
        trustForwardedFor = try c.decodeIfPresent(Bool.self, forKey: .trustForwardedFor) ?? trustForwardedFor
        shutdownGrace = try c.decodeIfPresent(ConfigDuration.self, forKey: .shutdownGrace) ?? shutdownGrace
        idleTimeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .idleTimeout) ?? idleTimeout
        publicURL = try c.decodeIfPresent(String.self, forKey: .publicURL)
        if publicURL?.isEmpty == true { publicURL = nil }
        // Normalised (no trailing slash) when it parses; kept as written for the check's message otherwise.
        if let text = publicURL, let url = PublicURL(text) { publicURL = url.description }
        node = try c.decodeIfPresent(String.self, forKey: .node)
        if node?.trimmingWhitespace().isEmpty == true { node = nil }
    }
}

public struct LimitsConfig: Codable, Sendable {
    /// One event's enriched JSON; Segment's documented limit.
    public var maxEventBytes: Int = 32 * 1024
    /// One request's body after gzip decoding; rudder-server's limit.
    public var maxRequestBytes: Int = 4 * 1024 * 1024
    /// Bytes all requests together may hold while being decoded and parsed; past it, 503.
    public var maxInflightBytes: Int = 256 * 1024 * 1024

    public init() {}

    enum CodingKeys: String, CodingKey { case maxEventBytes, maxRequestBytes, maxInflightBytes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        maxEventBytes = try c.decodeIfPresent(Int.self, forKey: .maxEventBytes) ?? maxEventBytes
        maxRequestBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBytes) ?? maxRequestBytes
        maxInflightBytes = try c.decodeIfPresent(Int.self, forKey: .maxInflightBytes) ?? maxInflightBytes
    }
}

public struct StorageConfig: Codable, Sendable {
    /// `full`: fsync before answering 200, so an acknowledged event survives power loss.
    /// `normal`: survives a crash of the process but not of the machine; several times faster.
    public enum Sync: String, Codable, Sendable, CaseIterable { case full, normal }

    /// Folder holding `queue.sqlite` and its write-ahead log.
    public var path: String = ".switchyard"
    public var sync: Sync = .full
    /// Jobs not yet delivered or dead-lettered; beyond this ingestion answers 503 instead of filling the disk.
    public var maxQueuedJobs: Int = 10_000_000
    /// Below this much free space on the storage volume ingestion answers 503 rather than risk a failed write.
    public var minFreeBytes: Int = 64 * 1024 * 1024
    /// How long the delivery log, delivered events and dead letters are kept.
    public var retention: RetentionConfig = .init()
    /// Set to share one PostgreSQL database between several nodes instead of the embedded
    /// SQLite files (`path`, `sync` and `minFreeBytes` then do not apply).
    public var postgres: PostgresStorageConfig?
    /// Keep the queue in the server's memory instead: nothing survives a restart, so it is for
    /// demos, tests and measurements, never for events that matter.
    public var memory: Bool = false

    public init() {}

    enum CodingKeys: String, CodingKey { case path, sync, maxQueuedJobs, minFreeBytes, retention, postgres, memory }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decodeIfPresent(String.self, forKey: .path) ?? path
        sync = try c.decodeEnum(Sync.self, forKey: .sync) ?? sync
        maxQueuedJobs = try c.decodeIfPresent(Int.self, forKey: .maxQueuedJobs) ?? maxQueuedJobs
        minFreeBytes = try c.decodeIfPresent(Int.self, forKey: .minFreeBytes) ?? minFreeBytes
        retention = try c.decodeIfPresent(RetentionConfig.self, forKey: .retention) ?? retention
        postgres = try c.decodeIfPresent(PostgresStorageConfig.self, forKey: .postgres)
        memory = try c.decodeIfPresent(Bool.self, forKey: .memory) ?? memory
        if memory, postgres != nil {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: .memory).configNode?.location,
                message: "storage.memory and storage.postgres exclude each other: choose where the queue lives"
            )
        }
    }
}

/// `storage.postgres`: where the shared database is. The password is a secret (never printed);
/// give it apart from the URL, e.g. `password: ${PGPASSWORD:-}`.
public struct PostgresStorageConfig: Codable, Sendable {
    /// `postgres://USER@HOST:PORT/DATABASE`, optionally `?sslmode=disable|prefer|require`.
    public var url: String
    public var password: Secret?
    /// Connections this node opens at most (one more is kept for LISTEN).
    public var maxConnections: Int = 10

    public init(url: String, password: Secret? = nil) {
        self.url = url
        self.password = password
    }

    enum CodingKeys: String, CodingKey { case url, password, maxConnections }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        password = try c.decodeIfPresent(Secret.self, forKey: .password)
        if password?.isEmpty == true { password = nil }
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? maxConnections
        guard let parts = PostgresURL(url) else {
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message:
                    "storage.postgres.url must look like postgres://USER@HOST:5432/DATABASE (without the password; give it as storage.postgres.password)"
            )
        }
        if parts.password != nil, password == nil {
            // Kept working, but the URL is printed in places a password must not be.
            password = parts.password.map { Secret($0) }
        }
        url = parts.redacted
        guard (1...200).contains(maxConnections) else {
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message: "storage.postgres.maxConnections must be between 1 and 200"
            )
        }
    }
}

/// The parts of a `postgres://` URL.
public struct PostgresURL: Sendable, Hashable {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: String

    public init?(_ text: String) {
        guard let c = URLComponents(string: text), c.scheme == "postgres" || c.scheme == "postgresql",
            let host = c.host, !host.isEmpty, let user = c.user, !user.isEmpty
        else { return nil }
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        self.port = c.port ?? 5432
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        self.database = path.isEmpty ? self.user : path
        let mode = c.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        guard ["disable", "prefer", "require"].contains(mode) else { return nil }
        self.sslMode = mode
    }

    /// The URL without its password, safe to print.
    public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)\(sslMode == "prefer" ? "" : "?sslmode=\(sslMode)")" }
}

public struct SourceConfig: Codable, Sendable {
    public var name: String
    public var writeKeys: [Secret]
    public var enabled: Bool = true
    /// This source's own deduplication window; nil takes the top-level `dedup`.
    public var dedup: DedupConfig?
    /// What is removed from each event before it is stored.
    public var privacy: SourcePrivacyConfig = .init()

    public init(
        name: String,
        writeKeys: [Secret],
        enabled: Bool = true,
        dedup: DedupConfig? = nil,
        privacy: SourcePrivacyConfig = .init()
    ) {
        self.name = name
        self.writeKeys = writeKeys
        self.enabled = enabled
        self.dedup = dedup
        self.privacy = privacy
    }

    enum CodingKeys: String, CodingKey { case name, writeKeys, enabled, dedup, privacy }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        writeKeys = try c.decode([Secret].self, forKey: .writeKeys)
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        dedup = try c.decodeIfPresent(DedupConfig.self, forKey: .dedup)
        privacy = try c.decodeIfPresent(SourcePrivacyConfig.self, forKey: .privacy) ?? .init()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(writeKeys, forKey: .writeKeys)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(dedup, forKey: .dedup)
        if privacy != .init() { try c.encode(privacy, forKey: .privacy) }
    }
}

public struct DestinationConfig: Codable, Sendable {
    public var name: String
    public var type: String
    /// The type-specific block, decoded by the destination's plugin.
    public var config: ConfigNode?
    public var enabled: Bool = true
    public var filter: EventFilter?
    /// Concurrency, batching linger, retries and backoff; the same keys for every destination type.
    public var delivery: DeliveryPolicy = .init()
    /// Named rules: an admitted event is sent once per rule it matches, and not at all when it
    /// matches none. Empty: every admitted event is sent once.
    public var rules: [DestinationRule] = []
    public var heartbeat: HeartbeatConfig?
    /// The consent an event must carry to get a job for this destination.
    public var consent: ConsentConfig?
    /// What of each event this destination may see.
    public var privacy: DestinationPrivacyConfig?

    public init(
        name: String,
        type: String,
        config: ConfigNode? = nil,
        enabled: Bool = true,
        filter: EventFilter? = nil,
        delivery: DeliveryPolicy = .init(),
        rules: [DestinationRule] = [],
        heartbeat: HeartbeatConfig? = nil,
        consent: ConsentConfig? = nil,
        privacy: DestinationPrivacyConfig? = nil
    ) {
        self.consent = consent
        self.privacy = privacy
        self.name = name
        self.type = type
        self.config = config
        self.enabled = enabled
        self.filter = filter
        self.delivery = delivery
        self.rules = rules
        self.heartbeat = heartbeat
    }

    enum CodingKeys: String, CodingKey { case name, type, config, enabled, filter, delivery, rules, heartbeat, consent, privacy }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        type = try c.decode(String.self, forKey: .type)
        if c.contains(.config) {
            // Kept raw: only the plugin knows its keys, and it reports unknown ones itself.
            config = try c.superDecoder(forKey: .config).configNode
        }
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
        filter = try c.decodeIfPresent(EventFilter.self, forKey: .filter)
        delivery = try c.decodeIfPresent(DeliveryPolicy.self, forKey: .delivery) ?? .init()
        rules = try c.decodeEach(DestinationRule.self, forKey: .rules, decoder: decoder)
        heartbeat = try c.decodeIfPresent(HeartbeatConfig.self, forKey: .heartbeat)
        consent = try c.decodeIfPresent(ConsentConfig.self, forKey: .consent)
        if consent?.isEmpty == true { consent = nil }
        privacy = try c.decodeIfPresent(DestinationPrivacyConfig.self, forKey: .privacy)
        if privacy?.isEmpty == true { privacy = nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encode(type, forKey: .type)
        try c.encode(enabled, forKey: .enabled)
        try c.encodeIfPresent(filter, forKey: .filter)
        try c.encode(delivery, forKey: .delivery)
        if !rules.isEmpty { try c.encode(rules, forKey: .rules) }
        try c.encodeIfPresent(heartbeat, forKey: .heartbeat)
        try c.encodeIfPresent(consent, forKey: .consent)
        try c.encodeIfPresent(privacy, forKey: .privacy)
    }
}

/// Which events a destination gets. Events it filters out get no job at all.
public struct EventFilter: Codable, Sendable, Hashable {
    /// Message types let through; nil lets every type through.
    public var types: [MessageType]?
    public var events: NameFilter?
    /// An EventBridge event pattern over the Switchyard event (`type`, `event`, `properties`, …).
    public var pattern: EventPattern?

    public struct NameFilter: Codable, Sendable, Hashable {
        public var allow: [String]?
        public var deny: [String]?

        public init(allow: [String]? = nil, deny: [String]? = nil) {
            self.allow = allow
            self.deny = deny
        }
    }

    public init(types: [MessageType]? = nil, events: NameFilter? = nil, pattern: EventPattern? = nil) {
        self.types = types
        self.events = events
        self.pattern = pattern
    }

    enum CodingKeys: String, CodingKey { case types, events, pattern }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if c.contains(.types) {
            let names = try c.decode([String].self, forKey: .types)
            types = try names.enumerated().map { n, name in
                guard let t = MessageType(rawValue: name) else {
                    let loc = decoder.configNode?.node(at: [CodingKeys.types, IndexKey(n)])?.location
                    throw ConfigProblem(
                        location: loc,
                        message:
                            "unknown message type \"\(name)\"\(didYouMean(name, MessageType.allCases.map(\.rawValue))); expected one of \(MessageType.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                return t
            }
        }
        events = try c.decodeIfPresent(NameFilter.self, forKey: .events)
        pattern = try c.decodeIfPresent(EventPattern.self, forKey: .pattern)
    }

    /// Whether an event passes the whole filter; `json` parses it, only when a pattern needs it.
    public func admits(type: MessageType, name: String?, json: () -> JSONValue?) -> Bool {
        guard admits(type: type, name: name) else { return false }
        guard let pattern else { return true }
        guard let event = json() else { return false }
        return pattern.matches(event)
    }

    /// Whether an event of this type and name passes `types` and `events` (the pattern aside). Denied names lose; with an allowlist, only
    /// listed names pass (an event without a name, such as identify, passes only the type check).
    public func admits(type: MessageType, name: String?) -> Bool {
        if let types, !types.contains(type) { return false }
        guard let events, let name else { return true }
        if let deny = events.deny, deny.contains(name) { return false }
        if let allow = events.allow { return allow.contains(name) }
        return true
    }
}

public struct ConnectionConfig: Codable, Sendable {
    public var from: String
    public var to: [String]

    public init(from: String, to: [String]) {
        self.from = from
        self.to = to
    }
}

extension KeyedDecodingContainer {
    /// Decodes a section; a problem inside it is recorded and the section falls back to defaults, so
    /// that problems in later sections are still found.
    func decodeCollecting<T: Decodable>(_ type: T.Type, forKey key: Key, decoder: any Decoder) throws -> T? {
        guard let sink = decoder.configDecoder, let root = decoder.configNode else {
            return try decodeIfPresent(type, forKey: key)
        }
        do {
            return try decodeIfPresent(type, forKey: key)
        } catch {
            sink.report(error, root: root)
            return nil
        }
    }

    /// Decodes a list element by element, keeping the good ones and recording every bad one.
    public func decodeEach<T: Decodable>(_ type: T.Type, forKey key: Key, decoder: any Decoder) throws -> [T] {
        guard contains(key), try !decodeNil(forKey: key) else { return [] }
        var list = try nestedUnkeyedContainer(forKey: key)
        var out: [T] = []
        while !list.isAtEnd {
            let element = try list.superDecoder()
            do {
                out.append(try T(from: element))
            } catch {
                guard let sink = decoder.configDecoder, let root = decoder.configNode else { throw error }
                sink.report(error, root: root)
            }
        }
        return out
    }

    /// Decodes a string enum with a message that lists the choices.
    public func decodeEnum<T: RawRepresentable & CaseIterable>(_ type: T.Type, forKey key: Key) throws -> T? where T.RawValue == String {
        guard let raw = try decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let value = T(rawValue: raw) else {
            let choices = T.allCases.map(\.rawValue)
            let decoder = try superDecoder(forKey: key)
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message:
                    "\"\(raw)\" is not a valid \(key.stringValue)\(didYouMean(raw, choices)); expected one of \(choices.joined(separator: ", "))"
            )
        }
        return value
    }
}
