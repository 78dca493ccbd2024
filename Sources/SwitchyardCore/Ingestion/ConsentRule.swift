/// A destination's `consent:`, compiled once, deciding per event whether the destination may get it.
///
/// Two shapes, each decided as its platform decides it; the event must pass both:
/// - Segment: each configured category must be `true` in `context.consent.categoryPreferences`.
///   No `context.consent` means no consent information: delivered. An empty
///   `categoryPreferences` means every category is false.
/// - RudderStack (rudder-server's processor): only `context.consentManagement.deniedConsentIds`
///   is read. None denied: delivered. Else the destination's consents for the event's provider
///   decide, with the event's `resolutionStrategy` (the destination's when the provider is
///   `custom`): `or` drops the event when every one of them is denied, anything else when any
///   is. With none for that provider, the legacy lists decide for an event without a provider
///   (or `oneTrust`/`ketch`): OneTrust drops when any is denied, Ketch when all are.
public struct ConsentRule: Sendable, Hashable {
    public var categories: [String]
    /// Per provider; the last entry for a provider wins, as in rudder-server's map.
    public var providers: [String: ConsentProvider]
    public var oneTrust: [String]
    public var ketch: [String]

    public init(_ config: ConsentConfig) {
        categories = config.categories
        var providers: [String: ConsentProvider] = [:]
        for provider in config.consentManagement { providers[provider.provider] = provider }
        self.providers = providers
        oneTrust = config.oneTrustCookieCategories
        ketch = config.ketchConsentPurposes
    }

    /// Why the destination may not get this event, or nil when it may. The reason names only
    /// configured consent ids and categories, never anything else of the event.
    public func refusal(for event: JSONValue) -> String? {
        segmentRefusal(event) ?? rudderRefusal(event)
    }

    func segmentRefusal(_ event: JSONValue) -> String? {
        guard !categories.isEmpty, case .object(let consent)? = event[path: "context.consent"] else { return nil }
        guard case .object(let preferences)? = consent["categoryPreferences"] else { return nil }
        for category in categories where preferences[category] != .bool(true) {
            return "no consent: category \(category) not granted"
        }
        return nil
    }

    func rudderRefusal(_ event: JSONValue) -> String? {
        guard case .object(let info)? = event[path: "context.consentManagement"] else { return nil }
        let denied = Set((info["deniedConsentIds"]?.arrayValue ?? []).compactMap { $0.stringValue }.filter { !$0.isEmpty })
        guard !denied.isEmpty else { return nil }
        let provider = info["provider"]?.stringValue ?? ""

        if let configured = providers[provider], !configured.consents.isEmpty {
            let strategy =
                provider == "custom" ? configured.resolutionStrategy?.rawValue ?? "" : info["resolutionStrategy"]?.stringValue ?? ""
            let hit = configured.consents.filter(denied.contains)
            if strategy == "or" {
                guard hit.count == configured.consents.count else { return nil }
                return "no consent: denied \(list(hit)) (resolutionStrategy or)"
            }
            guard !hit.isEmpty else { return nil }
            // Any strategy but `or` is decided as `and`; the event's own text is not echoed.
            return "no consent: denied \(list(hit)) (resolutionStrategy and)"
        }
        if provider.isEmpty || provider == "oneTrust", !oneTrust.isEmpty {
            let hit = oneTrust.filter(denied.contains)
            return hit.isEmpty ? nil : "no consent: denied OneTrust category \(list(hit))"
        }
        if provider.isEmpty || provider == "ketch", !ketch.isEmpty {
            guard ketch.allSatisfy(denied.contains) else { return nil }
            return "no consent: denied every Ketch purpose (\(list(ketch)))"
        }
        return nil
    }

    private func list(_ ids: [String]) -> String {
        var seen = Set<String>()
        return ids.filter { seen.insert($0).inserted }.joined(separator: ", ")
    }
}
