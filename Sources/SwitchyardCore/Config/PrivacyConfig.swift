/// `privacy:` on a destination: what of each event the destination may see. Applied when the
/// destination's entry is made (`PrivacyRules`), so the stored event keeps everything and each
/// destination gets only its own cut.
public struct DestinationPrivacyConfig: Codable, Sendable, Hashable {
    /// Keys removed from `properties`, `traits` and `context.traits`; a dotted name reaches into
    /// an object (`address.street`). A key both allowed and dropped is dropped.
    public var dropProperties: [String] = []
    /// When set, only these top-level keys of `properties`, `traits` and `context.traits` are kept.
    public var allowProperties: [String] = []
    /// Dotted paths into the event (`userId`, `traits.email`) whose value is replaced by the hex
    /// SHA-256 of the value and `salt`.
    public var hash: [String] = []
    /// Keeps hashed values from being looked up in a table of hashed e-mail addresses or ids.
    public var salt: Secret?
    /// `request_ip` and `context.ip` cut to their network: IPv4 /24, IPv6 /48.
    public var anonymizeIP: Bool = false

    public init(
        dropProperties: [String] = [],
        allowProperties: [String] = [],
        hash: [String] = [],
        salt: Secret? = nil,
        anonymizeIP: Bool = false
    ) {
        self.dropProperties = dropProperties
        self.allowProperties = allowProperties
        self.hash = hash
        self.salt = salt
        self.anonymizeIP = anonymizeIP
    }

    enum CodingKeys: String, CodingKey { case dropProperties, allowProperties, hash, salt, anonymizeIP }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        dropProperties = try c.decodeIfPresent([String].self, forKey: .dropProperties) ?? []
        allowProperties = try c.decodeIfPresent([String].self, forKey: .allowProperties) ?? []
        hash = try c.decodeIfPresent([String].self, forKey: .hash) ?? []
        salt = try c.decodeIfPresent(Secret.self, forKey: .salt)
        if salt?.isEmpty == true { salt = nil }
        anonymizeIP = try c.decodeIfPresent(Bool.self, forKey: .anonymizeIP) ?? false
        func problem(_ key: CodingKeys, _ message: String) throws -> ConfigProblem {
            ConfigProblem(location: try c.superDecoder(forKey: key).configNode?.location, message: message)
        }
        if let bad = dropProperties.first(where: Self.isBadPath) {
            throw try problem(.dropProperties, "privacy.dropProperties: \"\(bad)\" is not a key name (no empty parts between dots)")
        }
        if let bad = allowProperties.first(where: { $0.isEmpty || $0.contains(".") }) {
            throw try problem(
                .allowProperties,
                "privacy.allowProperties: \"\(bad)\" must be a top-level key of properties or traits; drop parts of an object with dropProperties"
            )
        }
        if let bad = hash.first(where: Self.isBadPath) {
            throw try problem(.hash, "privacy.hash: \"\(bad)\" is not a path into the event, such as userId or traits.email")
        }
        if !hash.isEmpty, salt == nil {
            throw try problem(
                .hash,
                "privacy.hash needs privacy.salt: an unsalted hash of an e-mail address or id is looked up in a table; give it as salt: ${PRIVACY_SALT}"
            )
        }
    }

    static func isBadPath(_ path: String) -> Bool {
        path.split(separator: ".", omittingEmptySubsequences: false).contains { $0.isEmpty }
    }

    /// Whether the settings change anything; a destination without them is not wrapped.
    public var isEmpty: Bool { dropProperties.isEmpty && allowProperties.isEmpty && hash.isEmpty && !anonymizeIP }
}

/// `privacy:` on a source: applied as the event is received, so the stored event never holds
/// what it removes.
public struct SourcePrivacyConfig: Codable, Sendable, Hashable {
    /// `request_ip` and `context.ip` cut to their network before the event is stored.
    public var anonymizeIP: Bool = false

    public init(anonymizeIP: Bool = false) {
        self.anonymizeIP = anonymizeIP
    }

    enum CodingKeys: String, CodingKey { case anonymizeIP }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        anonymizeIP = try c.decodeIfPresent(Bool.self, forKey: .anonymizeIP) ?? false
    }
}
