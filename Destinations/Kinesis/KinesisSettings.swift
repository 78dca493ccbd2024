import AWSClient
import AWSCredentialProviders
import AWSSigV4
import SwitchyardCore

/// The `config:` block of a `kinesis` destination. `region`, the keys, `stream` and `useMessageId`
/// follow RudderStack's Kinesis destination, so existing settings carry over; the rest are ours.
public struct KinesisSettings: Codable, Sendable, Hashable, AWSDestinationSettings {
    /// `region`, the keys, `endpoint` (moto, LocalStack, `switchyard emulate kinesis`) and `credentials` (a role to assume).
    public var access: AWSAccessSettings
    /// A stream name, or its ARN.
    public var stream: String
    /// Partition by `messageId`, as RudderStack does with this switch (spreads load, drops per-user order).
    public var useMessageId: Bool
    /// A template over the event; without it, `userId`, else `anonymousId`.
    public var partitionKey: String?
    /// The stream's largest record, data and partition key together (1 MiB unless the stream was raised, up to 10 MiB).
    public var maxRecordBytes: Int
    /// `perKey` (the default): each partition key's records reach the stream in acceptance order.
    public var ordering: Ordering
    /// Each record's data as a JSON template over the event; nil sends the event's JSON as stored.
    public var data: ConfigJSON?

    public enum Ordering: String, Codable, Sendable, Hashable, CaseIterable {
        case perKey, none
    }

    public static let defaultMaxRecordBytes = 1024 * 1024
    public static let largestRecordBytes = 10 * 1024 * 1024

    enum CodingKeys: String, CodingKey {
        case region, accessKeyID, accessKey, sessionToken, stream, useMessageId, endpoint, partitionKey, maxRecordBytes, ordering,
            credentials, data
    }

    public init(region: String?, stream: String, endpoint: String? = nil) {
        access = AWSAccessSettings(region: region, endpoint: endpoint)
        self.stream = stream
        useMessageId = false
        maxRecordBytes = Self.defaultMaxRecordBytes
        ordering = .perKey
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        access = try AWSAccessSettings(from: c)
        stream = try c.decode(String.self, forKey: .stream)
        useMessageId = try c.decodeIfPresent(Bool.self, forKey: .useMessageId) ?? false
        partitionKey = try c.decodeIfPresent(String.self, forKey: .partitionKey)
        maxRecordBytes = try c.decodeIfPresent(Int.self, forKey: .maxRecordBytes) ?? Self.defaultMaxRecordBytes
        ordering = try c.decodeEnum(Ordering.self, forKey: .ordering) ?? .perKey
        data = try c.decodeIfPresent(ConfigJSON.self, forKey: .data)
        // Empty strings from `${VAR:-}` mean "not set".
        if partitionKey?.isEmpty == true { partitionKey = nil }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try access.encode(into: &c)
        try c.encode(stream, forKey: .stream)
        try c.encode(useMessageId, forKey: .useMessageId)
        try c.encodeIfPresent(partitionKey, forKey: .partitionKey)
        try c.encode(maxRecordBytes, forKey: .maxRecordBytes)
        try c.encode(ordering, forKey: .ordering)
        try c.encodeIfPresent(data, forKey: .data)
    }

    /// The value each record is partitioned (and, with `perKey`, ordered) by.
    public var key: EventKey {
        get throws(Template.ParseError) {
            if useMessageId { return .messageId }
            if let partitionKey { return .template(try Template(partitionKey)) }
            return .userOrAnonymousId
        }
    }
}

/// Amazon Kinesis Data Streams: each event becomes one record, sent with PutRecords.
public enum KinesisPlugin: DestinationPlugin {
    public typealias Settings = KinesisSettings
    public static let typeName = "kinesis"

    public static func validate(_ s: KinesisSettings, environment: [String: String]) -> [SettingsProblem] {
        var problems = s.accessProblems(environment: environment)
        if let problem = KinesisStream.problem(s.stream) {
            problems.append(.init(path: ["stream"], message: problem))
        }
        if let template = s.partitionKey {
            if s.useMessageId {
                problems.append(
                    .init(path: ["partitionKey"], message: "partitionKey and useMessageId both choose the partition key: set one")
                )
            }
            do {
                _ = try Template(template)
            } catch {
                problems.append(.init(path: ["partitionKey"], message: "partitionKey: \(error)"))
            }
        }
        if let data = s.data {
            do {
                _ = try JSONTemplate(data.value)
            } catch {
                problems.append(.init(path: ["data"], message: "data: \(error)"))
            }
        }
        if s.maxRecordBytes < 1024 || s.maxRecordBytes > KinesisSettings.largestRecordBytes {
            problems.append(
                .init(
                    path: ["maxRecordBytes"],
                    message:
                        "maxRecordBytes must be between 1024 and \(KinesisSettings.largestRecordBytes) (10 MiB, the largest a stream can be raised to)"
                )
            )
        }
        return problems
    }

    public static func ordering(_ settings: KinesisSettings) -> DeliveryOrdering {
        guard settings.ordering == .perKey, let key = try? settings.key else { return .none }
        return .perKey(key)
    }

    public static func makeDestination(
        _ settings: KinesisSettings,
        policy: DeliveryPolicy,
        context: DestinationContext
    ) async throws(DestinationSetupError) -> any Destination {
        let access = try await settings.resolveAccess(for: .kinesis, context: context)
        let records: KinesisRecords
        do {
            records = try KinesisRecords(settings: settings)
        } catch {
            throw DestinationSetupError(destination: context.name, message: "\(error)")
        }
        context.logger.info(
            "Kinesis destination ready",
            metadata: [
                "destination": "\(context.name)", "endpoint": "\(access.endpoint.url)", "region": "\(access.region)",
                "stream": "\(settings.stream)",
                "ordering": "\(settings.ordering.rawValue)", "credentials": "\(access.credentials.provider.description)",
            ]
        )
        context.addService(CredentialRefresher(sources: [access.credentials]))
        let client = AWSJSONClient(
            endpoint: access.endpoint,
            credentials: access.credentials,
            region: access.region,
            service: AWSService.kinesis.signingName,
            httpClient: context.httpClient,
            timeout: .milliseconds(policy.timeout.milliseconds)
        )
        return KinesisDestination(
            name: context.name,
            records: records,
            client: client,
            logger: context.logger,
            metricsFactory: context.metricsFactory
        )
    }

    public static func describe(_ settings: KinesisSettings, context: DestinationContext) async -> [(String, String)] {
        await settings.describeCredentials(context: context)
    }

    public static func preview(_ settings: KinesisSettings, payload: [UInt8], rule: DestinationRule?) -> Preview {
        do {
            let records = try KinesisRecords(settings: settings)
            let record = try records.record(data: try records.data(for: payload), key: try settings.key.value(forPayload: payload))
            return .entry(records.wireJSON(record))
        } catch let drop as KinesisRecords.Drop {
            return .drop(reason: drop.description)
        } catch {
            return .drop(reason: "\(error)")
        }
    }
}

extension EventKey {
    /// The key of a stored event, from its JSON alone (the `transform` command has no job).
    func value(forPayload payload: [UInt8]) -> String? {
        guard let event = try? JSONParser.parse(payload) else { return nil }
        switch self {
        case .userOrAnonymousId:
            for field in ["userId", "anonymousId"] {
                switch event[path: field] {
                case .string(let s)? where !s.isEmpty: return s
                case .number(let n)?: return n
                default: continue
                }
            }
            return nil
        case .messageId: return event[path: "messageId"]?.stringValue
        case .template(let template):
            let text = template.render(event)
            return text.isEmpty ? nil : text
        }
    }
}

/// Stream names and ARNs as Kinesis accepts them.
enum KinesisStream {
    static func isARN(_ s: String) -> Bool { s.hasPrefix("arn:") }

    static func problem(_ s: String) -> String? {
        if isARN(s) {
            let parts = s.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
            guard parts.count == 6, parts[2] == "kinesis", parts[5].hasPrefix("stream/"), isName(parts[5].dropFirst(7)) else {
                return "stream \"\(s)\" is not a stream ARN like arn:aws:kinesis:us-east-1:123456789012:stream/name"
            }
            return nil
        }
        return isName(Substring(s)) ? nil : "stream \"\(s)\" must be a stream name (1 to 128 letters, digits, _ . -) or a stream ARN"
    }

    static func isName(_ s: Substring) -> Bool {
        (1...128).contains(s.count) && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == "-") }
    }
}
