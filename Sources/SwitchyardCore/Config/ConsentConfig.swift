/// `consent:` on a destination: which consent an event must carry for the destination to get it.
/// Both shapes the SDKs send are understood; an event that carries no consent information at all
/// is delivered, as rudder-server and Segment deliver it. See `ConsentRule` for the decision.
public struct ConsentConfig: Codable, Sendable, Hashable {
    /// Segment's categories: each must be `true` in the event's `context.consent.categoryPreferences`.
    public var categories: [String] = []
    /// RudderStack's generic consent management, per provider, in rudder-server's destination shape.
    public var consentManagement: [ConsentProvider] = []
    /// RudderStack's legacy OneTrust categories: any of them denied drops the event.
    public var oneTrustCookieCategories: [String] = []
    /// RudderStack's legacy Ketch purposes: all of them denied drops the event.
    public var ketchConsentPurposes: [String] = []

    public init(
        categories: [String] = [],
        consentManagement: [ConsentProvider] = [],
        oneTrustCookieCategories: [String] = [],
        ketchConsentPurposes: [String] = []
    ) {
        self.categories = categories
        self.consentManagement = consentManagement
        self.oneTrustCookieCategories = oneTrustCookieCategories
        self.ketchConsentPurposes = ketchConsentPurposes
    }

    enum CodingKeys: String, CodingKey { case categories, consentManagement, oneTrustCookieCategories, ketchConsentPurposes }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        categories = try c.decodeIfPresent([String].self, forKey: .categories) ?? []
        consentManagement = try c.decodeIfPresent([ConsentProvider].self, forKey: .consentManagement) ?? []
        // rudder-server's own forms, `[{oneTrustCookieCategory: C0004}]` and `[{purpose: p1}]`, are accepted too.
        oneTrustCookieCategories = try c.decodeIfPresent([ConsentID<OneTrustKey>].self, forKey: .oneTrustCookieCategories)?.map(\.id) ?? []
        ketchConsentPurposes = try c.decodeIfPresent([ConsentID<KetchKey>].self, forKey: .ketchConsentPurposes)?.map(\.id) ?? []
        for (key, list) in [
            (CodingKeys.categories, categories), (.oneTrustCookieCategories, oneTrustCookieCategories),
            (.ketchConsentPurposes, ketchConsentPurposes),
        ]
        where list.contains(where: \.isEmpty) {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: key).configNode?.location,
                message: "consent.\(key.stringValue) has an empty name; list the names the consent manager uses"
            )
        }
    }

    /// Whether any consent is asked for; a destination without `consent:` costs routing nothing.
    public var isEmpty: Bool {
        categories.isEmpty && consentManagement.isEmpty && oneTrustCookieCategories.isEmpty && ketchConsentPurposes.isEmpty
    }
}

/// One provider's consents on a destination, as rudder-server's `consentManagement` lists them.
public struct ConsentProvider: Codable, Sendable, Hashable {
    public enum Strategy: String, Codable, Sendable, CaseIterable { case and, or }

    /// `custom`, `oneTrust`, `ketch`, `iubenda`…: matched against the event's `provider`.
    public var provider: String
    /// Used only when the event's provider is `custom`; others take the event's own strategy.
    public var resolutionStrategy: Strategy?
    public var consents: [String]

    public init(provider: String, resolutionStrategy: Strategy? = nil, consents: [String]) {
        self.provider = provider
        self.resolutionStrategy = resolutionStrategy
        self.consents = consents
    }

    enum CodingKeys: String, CodingKey { case provider, resolutionStrategy, consents }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        provider = try c.decode(String.self, forKey: .provider)
        resolutionStrategy = try c.decodeEnum(Strategy.self, forKey: .resolutionStrategy)
        // `consents: [C0004]`, or rudder-server's own `consents: [{consent: C0004}]`.
        consents = try c.decode([ConsentID<GenericKey>].self, forKey: .consents).map(\.id)
        if provider.isEmpty {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: .provider).configNode?.location,
                message: "consent.consentManagement provider must be named (custom, oneTrust, ketch, …)"
            )
        }
        if consents.isEmpty || consents.contains(where: \.isEmpty) {
            throw ConfigProblem(
                location: try c.superDecoder(forKey: .consents).configNode?.location,
                message: "consent.consentManagement provider \"\(provider)\" needs at least one consent id, none empty"
            )
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(provider, forKey: .provider)
        try c.encodeIfPresent(resolutionStrategy, forKey: .resolutionStrategy)
        try c.encode(consents, forKey: .consents)
    }
}

/// The key rudder-server's destination config wraps each id in.
protocol ConsentIDKey: CodingKey { static var key: Self { get } }

enum GenericKey: String, ConsentIDKey {
    case consent
    static var key: Self { .consent }
}

enum OneTrustKey: String, ConsentIDKey {
    case oneTrustCookieCategory
    static var key: Self { .oneTrustCookieCategory }
}

enum KetchKey: String, ConsentIDKey {
    case purpose
    static var key: Self { .purpose }
}

/// A consent id written as a string or as rudder-server's one-key object.
struct ConsentID<Key: ConsentIDKey>: Decodable {
    var id: String

    init(from decoder: any Decoder) throws {
        if let single = try? decoder.singleValueContainer(), let text = try? single.decode(String.self) {
            id = text
        } else {
            id = try decoder.container(keyedBy: Key.self).decode(String.self, forKey: Key.key)
        }
    }
}
