import AWSClient
import AWSCredentialProviders
import AWSSigV4
import SwitchyardCore

/// The `config:` block of an `eventbridge` destination. Key names follow RudderStack's EventBridge
/// destination (camelCase), so a user's existing settings carry over; `endpoint` and `source` are ours.
public struct EventBridgeSettings: Codable, Sendable, Hashable, AWSDestinationSettings {
    /// `region`, the keys, `endpoint` (moto, LocalStack, a VPC endpoint) and `credentials` (a role to assume).
    public var access: AWSAccessSettings
    /// A bus name or ARN; nil sends to the account's default bus.
    public var eventBusName: String?
    /// Literal, or a template over the event such as `{{ event }}` or `{{ properties.category | "other" }}`.
    public var detailType: String
    /// ARNs for `Resources`, each literal or a template; one that renders empty is left out.
    public var resourceID: [Resource]
    /// `Source` of every entry, literal or a template; rudder-transformer's value by default, so rules
    /// written for it keep matching.
    public var source: String
    /// The Detail as a JSON template over the event (a mapping); nil sends the whole event.
    public var detail: ConfigJSON?
    /// Set `Time` from the event's `timestamp` (otherwise EventBridge uses the time of the call).
    public var includeTime: Bool
    /// Optional X-Ray trace header, a template like the detail type (`{{ context.traceHeader }}`).
    public var traceHeader: String?
    /// The PutEvents size limit as EventBridge counts it. AWS documents 256 KB; raise it where your
    /// account has the larger limit.
    public var maxRequestBytes: Int

    public struct Resource: Codable, Sendable, Hashable {
        public var arn: String

        public init(arn: String) {
            self.arn = arn
        }
    }

    public static let defaultSource = "rudderstack"

    enum CodingKeys: String, CodingKey {
        case region, accessKeyID, accessKey, sessionToken, eventBusName, detailType, resourceID, endpoint, source
        case includeTime, traceHeader, maxRequestBytes, credentials, detail
    }

    public static let defaultMaxRequestBytes = 256 * 1024

    public init(region: String?, detailType: String, eventBusName: String? = nil, endpoint: String? = nil) {
        access = AWSAccessSettings(region: region, endpoint: endpoint)
        self.detailType = detailType
        self.eventBusName = eventBusName
        resourceID = []
        source = Self.defaultSource
        includeTime = false
        maxRequestBytes = Self.defaultMaxRequestBytes
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        access = try AWSAccessSettings(from: c)
        eventBusName = try c.decodeIfPresent(String.self, forKey: .eventBusName)
        detailType = try c.decode(String.self, forKey: .detailType)
        resourceID = try c.decodeIfPresent([Resource].self, forKey: .resourceID) ?? []
        source = try c.decodeIfPresent(String.self, forKey: .source) ?? Self.defaultSource
        includeTime = try c.decodeIfPresent(Bool.self, forKey: .includeTime) ?? false
        traceHeader = try c.decodeIfPresent(String.self, forKey: .traceHeader)
        maxRequestBytes = try c.decodeIfPresent(Int.self, forKey: .maxRequestBytes) ?? Self.defaultMaxRequestBytes
        detail = try c.decodeIfPresent(ConfigJSON.self, forKey: .detail)
        if traceHeader?.isEmpty == true { traceHeader = nil }
        // Empty strings from `${VAR:-}` mean "not set".
        if eventBusName?.isEmpty == true { eventBusName = nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try access.encode(into: &c)
        try c.encodeIfPresent(eventBusName, forKey: .eventBusName)
        try c.encode(detailType, forKey: .detailType)
        try c.encode(resourceID, forKey: .resourceID)
        try c.encode(source, forKey: .source)
        try c.encode(includeTime, forKey: .includeTime)
        try c.encodeIfPresent(traceHeader, forKey: .traceHeader)
        try c.encode(maxRequestBytes, forKey: .maxRequestBytes)
        try c.encodeIfPresent(detail, forKey: .detail)
    }
}

/// Amazon EventBridge: each event becomes one PutEvents entry.
public enum EventBridgePlugin: DestinationPlugin {
    public typealias Settings = EventBridgeSettings
    public static let typeName = "eventbridge"

    public static func validate(_ s: EventBridgeSettings, environment: [String: String]) -> [SettingsProblem] {
        var problems = s.accessProblems(environment: environment)
        if let bus = s.eventBusName, bus.count > 1600 {
            problems.append(.init(path: ["eventBusName"], message: "eventBusName is longer than EventBridge's 1600 characters"))
        }
        if s.detailType.isEmpty {
            problems.append(.init(path: ["detailType"], message: "detailType must not be empty"))
        } else {
            do {
                let template = try Template(s.detailType)
                if template.isLiteral, s.detailType.count > EventBridgeTransform.maxDetailTypeLength {
                    problems.append(.init(path: ["detailType"], message: "detailType is longer than EventBridge's 128 characters"))
                }
            } catch {
                problems.append(.init(path: ["detailType"], message: "detailType: \(error)"))
            }
        }
        if let traceHeader = s.traceHeader {
            do {
                _ = try Template(traceHeader)
            } catch {
                problems.append(.init(path: ["traceHeader"], message: "traceHeader: \(error)"))
            }
        }
        if s.maxRequestBytes < 1024 || s.maxRequestBytes > 16 * 1024 * 1024 {
            problems.append(.init(path: ["maxRequestBytes"], message: "maxRequestBytes must be between 1024 and 16777216"))
        }
        do {
            let source = try Template(s.source)
            if s.source.isEmpty || (source.isLiteral && s.source.count > EventBridgeTransform.maxSourceLength) {
                problems.append(.init(path: ["source"], message: "source must be 1 to 256 characters"))
            } else if s.source.hasPrefix("aws.") {
                problems.append(.init(path: ["source"], message: "source must not start with \"aws.\" (reserved for AWS services)"))
            }
        } catch {
            problems.append(.init(path: ["source"], message: "source: \(error)"))
        }
        for (n, resource) in s.resourceID.enumerated() {
            if resource.arn.isEmpty || resource.arn.count > EventBridgeTransform.maxResourceLength {
                problems.append(.init(path: ["resourceID", "\(n)", "arn"], message: "resource ARNs must be 1 to 2048 characters"))
            } else {
                do {
                    _ = try Template(resource.arn)
                } catch {
                    problems.append(.init(path: ["resourceID", "\(n)", "arn"], message: "resource ARN: \(error)"))
                }
            }
        }
        if let detail = s.detail {
            if case .object = detail.value {
                do {
                    _ = try JSONTemplate(detail.value)
                } catch {
                    problems.append(.init(path: ["detail"], message: "detail: \(error)"))
                }
            } else {
                problems.append(.init(path: ["detail"], message: "detail must be a mapping: EventBridge's Detail is a JSON object"))
            }
        }
        return problems
    }

    /// A detail type that renders empty is sent as the message's type; say so where it will happen,
    /// since a rule matching on detail-type may then not see those events.
    public static func warnings(_ s: EventBridgeSettings, admits types: [MessageType]) -> [SettingsProblem] {
        guard let template = try? Template(s.detailType) else { return [] }
        var affected: [MessageType] = []
        var fields: [String] = []
        for type in types {
            guard let missing = template.fieldsMissing(for: type) else { continue }
            affected.append(type)
            for field in missing where !fields.contains(field) { fields.append(field) }
        }
        guard !affected.isEmpty else { return [] }
        let names = affected.map(\.rawValue)
        let quoted = names.map { "\"\($0)\"" }.joined(separator: ", ")
        let example = fields.first ?? "event"
        return [
            SettingsProblem(
                path: ["detailType"],
                message: """
                    detailType "\(s.detailType)" renders empty for \(names.joined(separator: ", ")) events (they have no \(fields.joined(separator: ", "))): \
                    they are sent with their type as DetailType (\(quoted)); give the template a fallback, like {{ \(example) | "other" }}, to choose another
                    """
            )
        ]
    }
}

extension EventBridgePlugin {
    public static func makeDestination(
        _ settings: EventBridgeSettings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination {
        let access = try await settings.resolveAccess(for: .eventBridge, context: context)
        let transform: EventBridgeTransform
        do {
            transform = try EventBridgeTransform(settings: settings, rules: context.rules)
        } catch {
            throw DestinationSetupError(destination: context.name, message: "\(error)")
        }
        context.logger.info(
            "EventBridge destination ready",
            metadata: [
                "destination": "\(context.name)", "endpoint": "\(access.endpoint.url)", "region": "\(access.region)",
                "bus": "\(settings.eventBusName ?? "default")", "credentials": "\(access.credentials.provider.description)",
            ]
        )
        context.addService(CredentialRefresher(sources: [access.credentials]))
        let client = AWSJSONClient(
            endpoint: access.endpoint,
            credentials: access.credentials,
            region: access.region,
            service: AWSService.eventBridge.signingName,
            httpClient: context.httpClient,
            timeout: .milliseconds(policy.timeout.milliseconds)
        )
        return EventBridgeDestination(
            name: context.name,
            transform: transform,
            client: client,
            logger: context.logger,
            metricsFactory: context.metricsFactory
        )
    }

    public static func describe(_ settings: EventBridgeSettings, context: DestinationContext) async -> [(String, String)] {
        await settings.describeCredentials(context: context)
    }
}

extension EventBridgePlugin {
    public static var supportsRules: Bool { true }

    public static func busEvents(_ settings: EventBridgeSettings, payload: [UInt8], rule: DestinationRule?) -> BusEvents? {
        do {
            let transform = try EventBridgeTransform(settings: settings, rules: rule.map { [$0] } ?? [])
            let entry = try transform.entry(forEvent: payload, rule: rule)
            guard case .object(let wire) = entry.json, case .object(let detail)? = try? JSONParser.parse(Array(entry.detail.utf8)) else {
                return .drop(reason: "MalformedDetail: Detail must be a JSON object")
            }
            let region = settings.access.region ?? "us-east-1"
            return .events([
                EventBridgeEnvelope.make(
                    entry: wire,
                    detail: detail,
                    id: UUIDv4.make(),
                    account: EventBridgeEnvelope.exampleAccount,
                    region: region,
                    now: .now()
                )
            ])
        } catch let error as EventBridgeTransform.Drop {
            return .drop(reason: error.description)
        } catch {
            return .drop(reason: "\(error)")
        }
    }

    public static func preview(_ settings: EventBridgeSettings, payload: [UInt8], rule: DestinationRule?) -> Preview {
        do {
            let transform = try EventBridgeTransform(settings: settings, rules: rule.map { [$0] } ?? [])
            return .entry(try transform.entry(forEvent: payload, rule: rule).json)
        } catch let error as EventBridgeTransform.Drop {
            return .drop(reason: error.description)
        } catch {
            return .drop(reason: "\(error)")
        }
    }
}
