/// The keys every AWS destination's `config:` block and the archive's `s3:` block share
/// (RudderStack's names), read from and written to the owner's container, so they sit beside its
/// keys in the YAML. `AWSClient` checks and resolves them.
public struct AWSAccessSettings: Sendable, Hashable {
    public var region: String?
    public var accessKeyID: String?
    public var accessKey: Secret?
    public var sessionToken: Secret?
    /// A custom URL instead of the service's regional endpoint.
    public var endpoint: String?
    /// A role to assume with whatever the chain found, so one server publishes into several accounts.
    public var credentials: AssumeRoleSettings?

    public static let keys = ["region", "accessKeyID", "accessKey", "sessionToken", "endpoint", "credentials"]

    public init(region: String? = nil, endpoint: String? = nil) {
        self.region = region
        self.endpoint = endpoint
    }

    /// Empty strings (from `${VAR:-}`) mean "not set".
    public init<Key: CodingKey>(from c: KeyedDecodingContainer<Key>) throws {
        func key(_ name: String) -> Key { Key(stringValue: name)! }
        region = try c.decodeIfPresent(String.self, forKey: key("region")).flatMap { $0.isEmpty ? nil : $0 }
        accessKeyID = try c.decodeIfPresent(String.self, forKey: key("accessKeyID")).flatMap { $0.isEmpty ? nil : $0 }
        accessKey = try c.decodeIfPresent(Secret.self, forKey: key("accessKey")).flatMap { $0.isEmpty ? nil : $0 }
        sessionToken = try c.decodeIfPresent(Secret.self, forKey: key("sessionToken")).flatMap { $0.isEmpty ? nil : $0 }
        endpoint = try c.decodeIfPresent(String.self, forKey: key("endpoint")).flatMap { $0.isEmpty ? nil : $0 }
        credentials = try c.decodeIfPresent(AssumeRoleSettings.self, forKey: key("credentials"))
    }

    public func encode<Key: CodingKey>(into c: inout KeyedEncodingContainer<Key>) throws {
        func key(_ name: String) -> Key { Key(stringValue: name)! }
        try c.encodeIfPresent(region, forKey: key("region"))
        try c.encodeIfPresent(accessKeyID, forKey: key("accessKeyID"))
        try c.encodeIfPresent(accessKey, forKey: key("accessKey"))
        try c.encodeIfPresent(sessionToken, forKey: key("sessionToken"))
        try c.encodeIfPresent(endpoint, forKey: key("endpoint"))
        try c.encodeIfPresent(credentials, forKey: key("credentials"))
    }
}

/// `credentials: { roleArn, externalId, sessionName, durationSeconds }` in a destination's config.
public struct AssumeRoleSettings: Codable, Sendable, Hashable {
    public var roleArn: String
    /// The value the role's trust policy asks for, when it asks (AWS's confused-deputy guard).
    public var externalId: String?
    public var sessionName: String?
    public var durationSeconds: Int?

    public init(roleArn: String, externalId: String? = nil, sessionName: String? = nil, durationSeconds: Int? = nil) {
        self.roleArn = roleArn
        self.externalId = externalId
        self.sessionName = sessionName
        self.durationSeconds = durationSeconds
    }

    enum CodingKeys: String, CodingKey { case roleArn, externalId, sessionName, durationSeconds }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        roleArn = try c.decode(String.self, forKey: .roleArn)
        externalId = try c.decodeIfPresent(String.self, forKey: .externalId).flatMap { $0.isEmpty ? nil : $0 }
        sessionName = try c.decodeIfPresent(String.self, forKey: .sessionName).flatMap { $0.isEmpty ? nil : $0 }
        durationSeconds = try c.decodeIfPresent(Int.self, forKey: .durationSeconds)
    }
}
