import AWSEmulator
import AWSSigV4
import Crypto
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore

/// Settings of the local Kinesis endpoint.
public struct KinesisEmulatorOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 4567
    public var region = "us-east-1"
    public var account = "123456789012"
    /// Access key id → secret. Requests signed with anything else are refused as AWS would.
    public var credentials: [String: String] = [:]
    /// Stream name → shard count. Nil: any stream name exists, with `defaultShards` shards.
    public var streams: [String: Int]?
    public var defaultShards = 4
    /// Where each accepted record is written, one JSON line: stream, shard, sequence number,
    /// partition key and the decoded data.
    public var recordsOut: String?
    /// Share of records answered with a per-record `ProvisionedThroughputExceededException`.
    public var throttleRate = 0.0
    /// Share of requests answered with a whole-request 500 `InternalFailure`.
    public var errorRate = 0.0
    /// Delay before each answer.
    public var latencyMilliseconds = 0
    /// The streams' largest record, data and partition key together (Kinesis's default, 1 MiB).
    public var maxRecordBytes = 1024 * 1024
    /// Add the time each record arrived (`x-emulator-received-ms`) to its line, for latency benchmarks.
    public var recordReceiptTime = false

    public init() {}
}

/// A PutRecords (and PutRecord) endpoint on loopback that behaves like Kinesis Data Streams where
/// Switchyard depends on it: the JSON 1.1 protocol, SigV4, the request and record limits and error
/// codes, the shard a partition key's MD5 falls in, increasing sequence numbers per shard, and
/// per-record throttling on demand, which moto never produces. Consumers read the records back
/// with ListShards, DescribeStream, GetShardIterator and GetRecords, as from a stream.
public final class KinesisEmulator: Sendable {
    public let options: KinesisEmulatorOptions
    /// Signing keys derived while checking requests' signatures.
    let signingKeys = SigningKeyCache()
    private let output: JSONLinesFile
    private let counters = NIOLockedValueBox((requests: 0, delivered: 0, failed: 0))
    /// What consumers read back (GetRecords), per stream and shard, oldest dropped past `maxRetainedPerShard`.
    let retained = NIOLockedValueBox([String: [ShardLog]]())
    public static let maxRetainedPerShard = 100_000
    public static let maxRetainedBytesPerShard = 64 * 1024 * 1024

    public static let maxRecordsPerRequest = 500
    public static let maxRequestBytes = 5 * 1024 * 1024

    public init(options: KinesisEmulatorOptions) throws {
        self.options = options
        output = try JSONLinesFile(path: options.recordsOut)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        router.get("/stats") { _, _ in
            let c = self.counters.withLockedValue { $0 }
            return #"{"requests":\#(c.requests),"delivered":\#(c.delivered),"failedRecords":\#(c.failed)}"# + "\n"
        }
        router.post("/") { request, _ in
            try await self.handle(request)
        }
        return router
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "kinesis-emulator"),
            logger: logger
        )
    }

    typealias Failure = AWSEmulator.Failure

    func handle(_ request: Request) async throws -> Response {
        counters.withLockedValue { $0.requests += 1 }
        let bytes = Array(try await request.body.collect(upTo: 16 * 1024 * 1024).readableBytesView)
        if options.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(options.latencyMilliseconds))
        }
        do {
            try AWSEmulator.verifySignature(
                request,
                body: bytes,
                credentials: options.credentials,
                region: options.region,
                service: "kinesis",
                keys: signingKeys
            )
            let target = request.headers[HTTPField.Name("X-Amz-Target")!] ?? ""
            let operation = target.hasPrefix("Kinesis_20131202.") ? String(target.dropFirst("Kinesis_20131202.".count)) : ""
            guard Self.operations.contains(operation) else {
                throw Failure(
                    type: "UnknownOperationException",
                    message: "only \(Self.operations.sorted().joined(separator: ", ")) are emulated"
                )
            }
            if options.errorRate > 0, Double.random(in: 0..<1) < options.errorRate {
                throw Failure(status: .internalServerError, type: "InternalFailure", message: "injected fault (--error-rate)")
            }
            guard case .object(let body)? = try? JSONParser.parse(bytes) else {
                throw Failure(type: "SerializationException", message: "the request body is not valid JSON")
            }
            switch operation {
            case "PutRecords": return try putRecords(body)
            case "PutRecord": return try putRecord(body)
            default: return try read(operation, body)
            }
        } catch let failure as Failure {
            return failure.response
        }
    }

    /// The stream a request names (`StreamName` or `StreamARN`) and its shard count.
    func stream(_ body: JSONObject) throws(Failure) -> (name: String, shards: Int) {
        let name: String
        if let arn = body["StreamARN"]?.stringValue {
            guard let slash = arn.range(of: ":stream/") else {
                throw Failure(
                    type: "ValidationException",
                    message:
                        "1 validation error detected: Value '\(arn)' at 'streamARN' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:aws.*:kinesis:.*:\\d{12}:stream/\\S+"
                )
            }
            name = String(arn[slash.upperBound...])
        } else if let given = body["StreamName"]?.stringValue {
            name = given
        } else {
            throw Failure(type: "InvalidArgumentException", message: "Either StreamName or StreamARN should be provided.")
        }
        let shards = options.streams.map { $0[name] } ?? options.defaultShards
        guard let shards else {
            throw Failure(type: "ResourceNotFoundException", message: "Stream \(name) under account \(options.account) not found.")
        }
        return (name, shards)
    }

    struct Incoming {
        var data: [UInt8]
        var partitionKey: String
        var explicitHashKey: String?
    }

    /// One record of a request, checked as Kinesis checks it; `path` names it in the message.
    func incoming(_ value: JSONValue, path: String) throws(Failure) -> Incoming {
        guard case .object(let o) = value, let encoded = o["Data"]?.stringValue, let data = Base64.decode(encoded) else {
            throw Failure(type: "SerializationException", message: "\(path).data is not valid base64")
        }
        guard let key = o["PartitionKey"]?.stringValue, (1...256).contains(key.unicodeScalars.count) else {
            throw Failure(
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at '\(path).partitionKey' failed to satisfy constraint: Member must have length between 1 and 256"
            )
        }
        if data.count + key.utf8.count > options.maxRecordBytes {
            throw Failure(
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at '\(path).data' failed to satisfy constraint: Member must have length less than or equal to \(options.maxRecordBytes)"
            )
        }
        let explicit = o["ExplicitHashKey"]?.stringValue
        if let explicit, Self.hashKey(decimal: explicit) == nil {
            throw Failure(type: "InvalidArgumentException", message: "ExplicitHashKey \(explicit) is not a decimal between 0 and 2^128 - 1")
        }
        return Incoming(data: data, partitionKey: key, explicitHashKey: explicit)
    }

    func putRecords(_ body: JSONObject) throws(Failure) -> Response {
        guard case .array(let values)? = body["Records"], !values.isEmpty else {
            throw Failure(
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1"
            )
        }
        guard values.count <= Self.maxRecordsPerRequest else {
            throw Failure(
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to \(Self.maxRecordsPerRequest)"
            )
        }
        let stream = try stream(body)
        var records: [Incoming] = []
        for (n, value) in values.enumerated() { records.append(try incoming(value, path: "records.\(n + 1).member")) }
        let total = records.reduce(0) { $0 + $1.data.count + $1.partitionKey.utf8.count }
        guard total <= Self.maxRequestBytes else {
            throw Failure(type: "InvalidArgumentException", message: "Records size exceeds 5 MB limit")
        }
        var results: [JSONValue] = []
        var lines: [UInt8] = []
        var failed = 0
        for record in records {
            let shard = Self.shard(for: record, of: stream.shards)
            if options.throttleRate > 0, Double.random(in: 0..<1) < options.throttleRate {
                failed += 1
                results.append(
                    .object(
                        JSONObject([
                            ("ErrorCode", .string("ProvisionedThroughputExceededException")),
                            (
                                "ErrorMessage",
                                .string(
                                    "Rate exceeded for shard \(Self.shardID(shard)) in stream \(stream.name) under account \(options.account) (injected by --throttle-rate)."
                                )
                            ),
                        ])
                    )
                )
                continue
            }
            let sequence = append(record, stream: stream, shard: shard)
            line(for: record, stream: stream.name, shard: shard, sequence: sequence, into: &lines)
            results.append(.object(JSONObject([("SequenceNumber", .string(sequence)), ("ShardId", .string(Self.shardID(shard)))])))
        }
        // Records it could not write down (a full disk) were not delivered: say so, so they are sent again.
        guard output.append(lines) else {
            counters.withLockedValue { $0.failed += records.count }
            throw Failure(
                status: .internalServerError,
                type: "InternalFailure",
                message: "the emulator could not write its records file (is the disk full?)"
            )
        }
        counters.withLockedValue {
            $0.delivered += records.count - failed
            $0.failed += failed
        }
        return AWSEmulator.json(
            .ok,
            .object(
                JSONObject([
                    ("FailedRecordCount", .number(String(failed))), ("Records", .array(results)), ("EncryptionType", .string("NONE")),
                ])
            )
        )
    }

    func putRecord(_ body: JSONObject) throws(Failure) -> Response {
        let stream = try stream(body)
        let record = try incoming(.object(body), path: "record")
        let shard = Self.shard(for: record, of: stream.shards)
        if options.throttleRate > 0, Double.random(in: 0..<1) < options.throttleRate {
            counters.withLockedValue { $0.failed += 1 }
            throw Failure(
                type: "ProvisionedThroughputExceededException",
                message: "Rate exceeded for shard \(Self.shardID(shard)) (injected by --throttle-rate)."
            )
        }
        let sequence = append(record, stream: stream, shard: shard)
        var lines: [UInt8] = []
        line(for: record, stream: stream.name, shard: shard, sequence: sequence, into: &lines)
        guard output.append(lines) else {
            throw Failure(
                status: .internalServerError,
                type: "InternalFailure",
                message: "the emulator could not write its records file (is the disk full?)"
            )
        }
        counters.withLockedValue { $0.delivered += 1 }
        return AWSEmulator.json(
            .ok,
            .object(
                JSONObject([
                    ("ShardId", .string(Self.shardID(shard))), ("SequenceNumber", .string(sequence)), ("EncryptionType", .string("NONE")),
                ])
            )
        )
    }

    func line(for record: Incoming, stream: String, shard: Int, sequence: String, into lines: inout [UInt8]) {
        var o = JSONObject([
            ("stream", .string(stream)), ("shard", .string(Self.shardID(shard))), ("sequenceNumber", .string(sequence)),
            ("partitionKey", .string(record.partitionKey)),
        ])
        if let text = String(validating: record.data, as: UTF8.self) {
            o["data"] = .string(text)
        } else {
            o["dataBase64"] = .string(Base64.encode(record.data))
        }
        if options.recordReceiptTime { o["x-emulator-received-ms"] = .number(String(Timestamp.now().millisecondsSinceEpoch)) }
        JSONValue.object(o).write(to: &lines)
        lines.append(UInt8(ascii: "\n"))
    }

    /// Sequence numbers grow within a shard and, like Kinesis's, are 56-digit decimals, so they
    /// also sort as text.
    static func sequence(counter n: UInt64, shard: Int) -> String {
        let counter = String(n)
        let shardPart = String(shard)
        return "49" + String(repeating: "0", count: 6 - shardPart.count) + shardPart + String(repeating: "0", count: 48 - counter.count)
            + counter
    }

    static func shardID(_ shard: Int) -> String {
        let digits = String(shard)
        return "shardId-" + String(repeating: "0", count: 12 - digits.count) + digits
    }

    /// The shard whose hash-key range holds the record: the MD5 of its partition key as a 128-bit
    /// number (or its `ExplicitHashKey`), with the key space split evenly between the shards.
    static func shard(for record: Incoming, of shards: Int) -> Int {
        let key = record.explicitHashKey.flatMap(hashKey(decimal:)) ?? md5(record.partitionKey)
        return shard(forHashKey: key, of: shards)
    }

    static func md5(_ partitionKey: String) -> (high: UInt64, low: UInt64) {
        let digest = Array(Insecure.MD5.hash(data: Array(partitionKey.utf8)))
        let high = digest[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = digest[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (high, low)
    }

    /// floor(key × shards / 2^128), in 64-bit halves.
    static func shard(forHashKey key: (high: UInt64, low: UInt64), of shards: Int) -> Int {
        let n = UInt64(shards)
        let high = key.high.multipliedFullWidth(by: n)
        let low = key.low.multipliedFullWidth(by: n)
        let (_, carry) = high.low.addingReportingOverflow(low.high)
        return Int(high.high + (carry ? 1 : 0))
    }

    /// A decimal `ExplicitHashKey` as a 128-bit number; nil when it is not one.
    static func hashKey(decimal: String) -> (high: UInt64, low: UInt64)? {
        guard !decimal.isEmpty, decimal.count <= 39 else { return nil }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for c in decimal.utf8 {
            guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { return nil }
            // (high, low) × 10 + digit, refusing anything past 2^128 - 1.
            let lowProduct = low.multipliedFullWidth(by: 10)
            let highProduct = high.multipliedFullWidth(by: 10)
            guard highProduct.high == 0 else { return nil }
            let (newLow, carryLow) = lowProduct.low.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
            var (newHigh, overflow) = highProduct.low.addingReportingOverflow(lowProduct.high)
            guard !overflow else { return nil }
            if carryLow {
                (newHigh, overflow) = newHigh.addingReportingOverflow(1)
                guard !overflow else { return nil }
            }
            (high, low) = (newHigh, newLow)
        }
        return (high, low)
    }
}
