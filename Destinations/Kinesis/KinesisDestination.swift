import AWSClient
import Logging
import Metrics
import SwitchyardCore

/// One Kinesis record: the stored event's JSON exactly as stored (key order and number text
/// kept, as RudderStack maps it), and its partition key.
public struct KinesisRecord: Sendable, Hashable {
    public var partitionKey: String
    public var data: [UInt8]

    /// Kinesis's own measure against the record and request limits: data plus partition key.
    public var size: Int { data.count + partitionKey.utf8.count }
}

/// Builds records, separate from sending so `switchyard transform` and the tests run it alone.
public struct KinesisRecords: Sendable {
    public let settings: KinesisSettings
    public let key: EventKey
    /// `"StreamName": "…"` or `"StreamARN": "…"`, as it opens every request.
    let streamField: [UInt8]
    let dataTemplate: JSONTemplate?

    public static let maxPartitionKeyCharacters = 256
    public static let maxRecordsPerRequest = 500
    public static let maxRequestBytes = 5 * 1024 * 1024

    public init(settings: KinesisSettings) throws(Template.ParseError) {
        self.settings = settings
        key = try settings.key
        var field = JSONObject()
        field[KinesisStream.isARN(settings.stream) ? "StreamARN" : "StreamName"] = .string(settings.stream)
        streamField = Array(JSONValue.object(field).serialized().dropFirst().dropLast())
        dataTemplate = try settings.data.map { mapping throws(Template.ParseError) in try JSONTemplate(mapping.value) }
    }

    /// A record's data: the stored event's JSON as is, or the `data:` mapping rendered over it.
    public func data(for payload: [UInt8]) throws(Drop) -> [UInt8] {
        guard let dataTemplate else { return payload }
        guard let event = try? JSONParser.parse(payload) else { throw .invalidEventJSON }
        return dataTemplate.render(event).serialized()
    }

    /// Why an event can never become a record; such events are dead-lettered when prepared.
    public enum Drop: Error, Sendable, Hashable, CustomStringConvertible {
        case emptyPartitionKey
        case invalidEventJSON
        case partitionKeyTooLong(Int)
        case recordTooLarge(size: Int, limit: Int)

        public var description: String {
            switch self {
            case .emptyPartitionKey:
                return
                    "InvalidArgument: the partition key rendered empty (give partitionKey a fallback, like {{ context.traits.accountId | \"unknown\" }})"
            case .invalidEventJSON:
                return "InvalidArgument: the stored event is not valid JSON, so data cannot be rendered from it"
            case .partitionKeyTooLong(let n):
                return "InvalidArgument: the partition key is \(n) characters, Kinesis allows \(KinesisRecords.maxPartitionKeyCharacters)"
            case .recordTooLarge(let size, let limit):
                return
                    "InvalidArgument: the record is \(size) bytes (data and partition key), over the \(limit)-byte limit (maxRecordBytes)"
            }
        }
    }

    public func record(data: [UInt8], key value: String?) throws(Drop) -> KinesisRecord {
        guard let value, !value.isEmpty else { throw .emptyPartitionKey }
        let characters = value.unicodeScalars.count
        if characters > Self.maxPartitionKeyCharacters { throw .partitionKeyTooLong(characters) }
        let record = KinesisRecord(partitionKey: value, data: data)
        let limit = min(settings.maxRecordBytes, Self.maxRequestBytes)
        if record.size > limit { throw .recordTooLarge(size: record.size, limit: limit) }
        return record
    }

    /// The record as PutRecords carries it: `Data` in base64.
    public func wire(_ record: KinesisRecord) -> [UInt8] {
        var out: [UInt8] = Array(#"{"Data":""#.utf8)
        Base64.encode(record.data, into: &out)
        out += Array(#"","PartitionKey":"#.utf8)
        JSONValue.string(record.partitionKey).write(to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    public func wireJSON(_ record: KinesisRecord) -> JSONValue {
        .object(
            JSONObject([
                (KinesisStream.isARN(settings.stream) ? "StreamARN" : "StreamName", .string(settings.stream)),
                ("PartitionKey", .string(record.partitionKey)),
                ("Data", .string(Base64.encode(record.data))),
            ])
        )
    }

    /// The record as the delivery log shows it: `Data` decoded, as the event's JSON text (the bytes
    /// sent are exactly this text's), so the log can store it without a second copy of the event.
    public func logJSON(_ record: KinesisRecord) -> JSONValue {
        .object(
            JSONObject([
                (KinesisStream.isARN(settings.stream) ? "StreamARN" : "StreamName", .string(settings.stream)),
                ("PartitionKey", .string(record.partitionKey)),
                ("Data", .string(String(decoding: record.data, as: UTF8.self))),
            ])
        )
    }

    /// A PutRecords body: the stream, then the prepared records joined, never re-encoded.
    public func body(for entries: [PreparedEntry]) -> [UInt8] {
        var body: [UInt8] = [UInt8(ascii: "{")]
        body.reserveCapacity(entries.reduce(streamField.count + 16) { $0 + $1.body.count + 1 })
        body += streamField
        body += Array(#","Records":["#.utf8)
        for (n, entry) in entries.enumerated() {
            if n > 0 { body.append(UInt8(ascii: ",")) }
            body += entry.body
        }
        body += Array("]}".utf8)
        return body
    }
}

/// Sends batches of up to 500 records with PutRecords and reads the answer record by record:
/// throttled and internally failed records are retried alone, each delivered record's shard and
/// sequence number go to the delivery log.
public struct KinesisDestination: Destination {
    public let name: String
    public let records: KinesisRecords
    public let call: AWSBatchCall

    public var credentialStatus: CredentialStatus? { call.client.credentials.status }

    /// - Parameter metricsFactory: where its latency and alarm are reported (the server's `/metrics`).
    public init(name: String, records: KinesisRecords, client: AWSJSONClient, logger: Logger, metricsFactory: any MetricsFactory) {
        self.name = name
        self.records = records
        call = AWSBatchCall(
            client: client,
            codes: Self.codes,
            destination: name,
            service: "Kinesis",
            latencyMetric: "switchyard_putrecords_duration_seconds",
            logger: logger,
            metricsFactory: metricsFactory
        )
    }

    public var batchLimits: BatchLimits {
        BatchLimits(maxEntries: KinesisRecords.maxRecordsPerRequest, maxBytes: KinesisRecords.maxRequestBytes)
    }

    public func prepare(_ job: Job) -> Prepared {
        do {
            let record = try records.record(data: try records.data(for: job.payload), key: records.key.value(for: job))
            let log = records.logJSON(record)
            return .entry(PreparedEntry(job: job, body: records.wire(record), size: record.size, display: log, logText: log.serialized()))
        } catch {
            return .drop(reason: error.description)
        }
    }

    public func send(_ entries: [PreparedEntry]) async -> SendResult {
        await call.send("Kinesis_20131202.PutRecords", body: records.body(for: entries), count: entries.count) {
            Self.recordOutcomes($0, count: entries.count)
        }
    }

    func outcomes(_ response: AWSResponse, count: Int) -> [EntryOutcome] {
        call.outcomes(response, count: count) { Self.recordOutcomes($0, count: count) }
    }

    /// Per-record codes are only these two; any other would be new, and is not retried blindly.
    static let retryableRecordCodes: Set<String> = ["ProvisionedThroughputExceededException", "InternalFailure"]

    /// Kinesis's whole-request codes beside the shared ones: a missing stream and the KMS errors
    /// fail every request until fixed; KMS throttling and too many concurrent calls pass.
    static let codes = AWSErrorCodes.common.adding(
        retryable: ["LimitExceededException", "KMSThrottlingException"],
        misconfigured: [
            "ResourceNotFoundException", "KMSAccessDeniedException", "KMSDisabledException", "KMSInvalidStateException",
            "KMSNotFoundException", "KMSOptInRequired",
        ]
    )

    /// A 200's results, record by record: a delivered record's reference is `ShardId/SequenceNumber`.
    static func recordOutcomes(_ response: AWSResponse, count: Int) -> [EntryOutcome] {
        guard case .object(let o)? = try? JSONParser.parse(response.body), case .array(let results)? = o["Records"], results.count == count
        else {
            let failure = EntryOutcome.Failure(
                code: "InvalidResponse",
                message: "PutRecords answered 200 with a body that does not list one result per record",
                httpStatus: 200
            )
            return Array(repeating: .retry(failure), count: count)
        }
        return results.map { result in
            if case .string(let sequence)? = result[path: "SequenceNumber"], case .string(let shard)? = result[path: "ShardId"] {
                return .delivered(reference: "\(shard)/\(sequence)")
            }
            let code = result[path: "ErrorCode"]?.stringValue ?? "UnknownError"
            let failure = EntryOutcome.Failure(code: code, message: result[path: "ErrorMessage"]?.stringValue ?? "")
            return retryableRecordCodes.contains(code) ? .retry(failure) : .reject(failure)
        }
    }
}
