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
    /// User code destinations run on each event (RudderStack's transformations), by name.
    public var transformations: [TransformationConfig] = []
    /// Code transformations `import` by name.
    public var libraries: [TransformationConfig] = []
    /// Contracts for sources' events (`sources[].trackingPlan` names one).
    public var trackingPlans: [TrackingPlanConfig] = []
    /// Inferring the schemas of live traffic, per source and event.
    public var schemaDiscovery = SchemaDiscoveryConfig()
    /// Every stored event also kept in files, for replays.
    public var archive = ArchiveConfig()
    /// The per-minute rollups behind `/v1/stats` and the console's charts.
    public var stats = StatsConfig()

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
        case server, storage, sources, destinations, connections, dedup, transformations, libraries, trackingPlans, schemaDiscovery,
            archive, stats
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        server = try c.decodeCollecting(ServerConfig.self, forKey: .server, decoder: decoder) ?? .init()
        storage = try c.decodeCollecting(StorageConfig.self, forKey: .storage, decoder: decoder) ?? .init()
        sources = try c.decodeEach(SourceConfig.self, forKey: .sources, decoder: decoder)
        destinations = try c.decodeEach(DestinationConfig.self, forKey: .destinations, decoder: decoder)
        connections = try c.decodeEach(ConnectionConfig.self, forKey: .connections, decoder: decoder)
        dedup = try c.decodeCollecting(DedupConfig.self, forKey: .dedup, decoder: decoder) ?? .init()
        transformations = try c.decodeEach(TransformationConfig.self, forKey: .transformations, decoder: decoder)
        libraries = try c.decodeEach(TransformationConfig.self, forKey: .libraries, decoder: decoder)
        trackingPlans = try c.decodeEach(TrackingPlanConfig.self, forKey: .trackingPlans, decoder: decoder)
        schemaDiscovery = try c.decodeCollecting(SchemaDiscoveryConfig.self, forKey: .schemaDiscovery, decoder: decoder) ?? .init()
        archive = try c.decodeCollecting(ArchiveConfig.self, forKey: .archive, decoder: decoder) ?? .init()
        stats = try c.decodeCollecting(StatsConfig.self, forKey: .stats, decoder: decoder) ?? .init()
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
