import AWSEmulator
import Hummingbird
import SwitchyardCore

/// One shard's records as a consumer reads them: the newest `maxRetainedPerShard`, and the
/// position (1-based, as the sequence number's counter) of the oldest one kept.
struct ShardLog: Sendable {
    struct Record: Sendable {
        var sequence: String
        var partitionKey: String
        var data: [UInt8]
        var arrival: Timestamp
    }

    var records: [Record] = []
    /// The counter of `records[0]`; counters start at 1.
    var first: UInt64 = 1
    /// Data and partition keys kept.
    var bytes = 0

    var next: UInt64 { first + UInt64(records.count) }
}

extension KinesisEmulator {
    static let operations: Set<String> = ["PutRecords", "PutRecord", "ListShards", "DescribeStream", "GetShardIterator", "GetRecords"]

    /// GetRecords' largest answer, as Kinesis caps it.
    static let maxRecordsPerRead = 10_000

    /// Gives the record the shard's next sequence number and keeps it for readers, in one step,
    /// so a shard's records are kept in sequence order.
    func append(_ record: Incoming, stream: (name: String, shards: Int), shard: Int) -> String {
        retained.withLockedValue { all in
            if all[stream.name] == nil { all[stream.name] = Array(repeating: ShardLog(), count: stream.shards) }
            // In place: a copy of the shard's log taken out of the dictionary and put back made
            // every put copy all the records kept (a put cost grew with the retained count).
            return Self.append(record, to: &all[stream.name]![shard], shard: shard)
        }
    }

    private static func append(_ record: Incoming, to log: inout ShardLog, shard: Int) -> String {
        let sequence = Self.sequence(counter: log.next, shard: shard)
        log.records.append(.init(sequence: sequence, partitionKey: record.partitionKey, data: record.data, arrival: .now()))
        log.bytes += record.data.count + record.partitionKey.utf8.count
        // The oldest go first, as a stream's retention period drops them; a tenth at a time, so a
        // full shard does not shift all its records on every put.
        guard log.records.count > Self.maxRetainedPerShard || log.bytes > Self.maxRetainedBytesPerShard else { return sequence }
        var drop = 0
        while log.records.count - drop > Self.maxRetainedPerShard * 9 / 10
            || (log.bytes > Self.maxRetainedBytesPerShard * 9 / 10 && drop < log.records.count - 1)
        {
            log.bytes -= log.records[drop].data.count + log.records[drop].partitionKey.utf8.count
            drop += 1
        }
        if drop > 0 {
            log.records.removeFirst(drop)
            log.first += UInt64(drop)
        }
        return sequence
    }

    func read(_ operation: String, _ body: JSONObject) throws(Failure) -> Response {
        switch operation {
        case "ListShards": return try listShards(body)
        case "DescribeStream": return try describeStream(body)
        case "GetShardIterator": return try shardIterator(body)
        default: return try getRecords(body)
        }
    }

    func shardDescriptions(_ shards: Int) -> JSONValue {
        .array(
            (0..<shards).map { n in
                .object(
                    JSONObject([
                        ("ShardId", .string(Self.shardID(n))),
                        (
                            "HashKeyRange",
                            .object(
                                JSONObject([
                                    ("StartingHashKey", .string(Self.decimal(Self.rangeStart(n, of: shards)))),
                                    ("EndingHashKey", .string(Self.decimal(Self.rangeEnd(n, of: shards)))),
                                ])
                            )
                        ),
                        (
                            "SequenceNumberRange",
                            .object(JSONObject([("StartingSequenceNumber", .string(Self.sequence(counter: 0, shard: n)))]))
                        ),
                    ])
                )
            }
        )
    }

    func streamARN(_ name: String) -> String { "arn:aws:kinesis:\(options.region):\(options.account):stream/\(name)" }

    func listShards(_ body: JSONObject) throws(Failure) -> Response {
        let stream = try stream(body)
        return AWSEmulator.json(.ok, .object(JSONObject([("Shards", shardDescriptions(stream.shards))])))
    }

    func describeStream(_ body: JSONObject) throws(Failure) -> Response {
        let stream = try stream(body)
        return AWSEmulator.json(
            .ok,
            .object(
                JSONObject([
                    (
                        "StreamDescription",
                        .object(
                            JSONObject([
                                ("StreamName", .string(stream.name)), ("StreamARN", .string(streamARN(stream.name))),
                                ("StreamStatus", .string("ACTIVE")),
                                ("Shards", shardDescriptions(stream.shards)), ("HasMoreShards", .bool(false)),
                                ("RetentionPeriodHours", .number("24")),
                                ("EncryptionType", .string("NONE")), ("EnhancedMonitoring", .array([])),
                            ])
                        )
                    )
                ])
            )
        )
    }

    /// A shard iterator is the stream, the shard and the counter of the next record to read.
    func shardIterator(_ body: JSONObject) throws(Failure) -> Response {
        let stream = try stream(body)
        guard let id = body["ShardId"]?.stringValue, let shard = Self.shardNumber(id), shard < stream.shards else {
            throw Failure(
                type: "ResourceNotFoundException",
                message:
                    "Shard \(body["ShardId"]?.stringValue ?? "") in stream \(stream.name) under account \(options.account) does not exist"
            )
        }
        let log = retained.withLockedValue { $0[stream.name]?[shard] } ?? ShardLog()
        let position: UInt64
        switch body["ShardIteratorType"]?.stringValue {
        case "TRIM_HORIZON": position = log.first
        case "LATEST": position = log.next
        case let type? where type == "AT_SEQUENCE_NUMBER" || type == "AFTER_SEQUENCE_NUMBER":
            guard let text = body["StartingSequenceNumber"]?.stringValue, let counter = Self.counter(of: text) else {
                throw Failure(
                    type: "InvalidArgumentException",
                    message: "StartingSequenceNumber is required for \(type) and must be one this stream handed out"
                )
            }
            position = max(log.first, type == "AT_SEQUENCE_NUMBER" ? counter : counter + 1)
        case "AT_TIMESTAMP":
            guard case .number(let text)? = body["Timestamp"], let seconds = Double(text) else {
                throw Failure(type: "InvalidArgumentException", message: "Timestamp is required for AT_TIMESTAMP")
            }
            let at = Int64(seconds * 1000)
            position = log.records.firstIndex { $0.arrival.millisecondsSinceEpoch >= at }.map { log.first + UInt64($0) } ?? log.next
        default:
            throw Failure(
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at 'shardIteratorType' failed to satisfy constraint: Member must satisfy enum value set: [AFTER_SEQUENCE_NUMBER, AT_SEQUENCE_NUMBER, AT_TIMESTAMP, TRIM_HORIZON, LATEST]"
            )
        }
        return AWSEmulator.json(
            .ok,
            .object(JSONObject([("ShardIterator", .string(Self.iterator(stream: stream.name, shard: shard, position: position)))]))
        )
    }

    func getRecords(_ body: JSONObject) throws(Failure) -> Response {
        guard let iterator = body["ShardIterator"]?.stringValue, let (name, shard, position) = Self.parseIterator(iterator) else {
            throw Failure(type: "InvalidArgumentException", message: "ShardIterator is not one this stream handed out")
        }
        var limit = Self.maxRecordsPerRead
        if case .number(let text)? = body["Limit"] {
            guard let n = Int(text), (1...Self.maxRecordsPerRead).contains(n) else {
                throw Failure(
                    type: "ValidationException",
                    message:
                        "1 validation error detected: Value at 'limit' failed to satisfy constraint: Member must have value between 1 and 10000"
                )
            }
            limit = n
        }
        let log = retained.withLockedValue { $0[name]?[shard] } ?? ShardLog()
        let start = Int(max(position, log.first) - log.first)
        let slice = start < log.records.count ? Array(log.records[start..<min(log.records.count, start + limit)]) : []
        let records: [JSONValue] = slice.map { record in
            .object(
                JSONObject([
                    ("SequenceNumber", .string(record.sequence)),
                    ("ApproximateArrivalTimestamp", .number(String(Double(record.arrival.millisecondsSinceEpoch) / 1000))),
                    ("Data", .string(Base64.encode(record.data))), ("PartitionKey", .string(record.partitionKey)),
                ])
            )
        }
        let nextPosition = max(position, log.first) + UInt64(slice.count)
        let behind = log.records.last.map { max(0, Timestamp.now().millisecondsSinceEpoch - $0.arrival.millisecondsSinceEpoch) } ?? 0
        return AWSEmulator.json(
            .ok,
            .object(
                JSONObject([
                    ("Records", .array(records)),
                    ("NextShardIterator", .string(Self.iterator(stream: name, shard: shard, position: nextPosition))),
                    ("MillisBehindLatest", .number(String(nextPosition >= log.next ? 0 : behind))),
                ])
            )
        )
    }

    static func iterator(stream: String, shard: Int, position: UInt64) -> String {
        Base64.encode(Array("\(shard)/\(position)/\(stream)".utf8))
    }

    static func parseIterator(_ text: String) -> (String, Int, UInt64)? {
        guard let bytes = Base64.decode(text), let decoded = String(validating: bytes, as: UTF8.self) else { return nil }
        let parts = decoded.split(separator: "/", maxSplits: 2)
        guard parts.count == 3, let shard = Int(parts[0]), let position = UInt64(parts[1]) else { return nil }
        return (String(parts[2]), shard, position)
    }

    static func shardNumber(_ id: String) -> Int? {
        guard id.hasPrefix("shardId-") else { return nil }
        return Int(id.dropFirst("shardId-".count))
    }

    /// The counter inside a sequence number `sequence(counter:shard:)` made.
    static func counter(of sequence: String) -> UInt64? {
        guard sequence.count == 56, sequence.hasPrefix("49") else { return nil }
        return UInt64(sequence.suffix(48))
    }

    /// The first hash key whose shard is `n`: ceil(n × 2^128 / shards).
    static func rangeStart(_ n: Int, of shards: Int) -> (high: UInt64, low: UInt64) {
        let d = UInt64(shards)
        let (q1, r1) = d.dividingFullWidth((high: UInt64(n) % d, low: 0))
        let (q0, r0) = d.dividingFullWidth((high: r1, low: 0))
        guard r0 != 0 else { return (q1, q0) }
        let (low, carry) = q0.addingReportingOverflow(1)
        return (q1 + (carry ? 1 : 0), low)
    }

    static func rangeEnd(_ n: Int, of shards: Int) -> (high: UInt64, low: UInt64) {
        guard n + 1 < shards else { return (.max, .max) }
        let next = rangeStart(n + 1, of: shards)
        return next.low == 0 ? (next.high - 1, .max) : (next.high, next.low - 1)
    }

    static func decimal(_ value: (high: UInt64, low: UInt64)) -> String {
        var (high, low) = value
        if high == 0 { return String(low) }
        var digits: [Character] = []
        while high != 0 || low != 0 {
            let (qh, rh) = high.quotientAndRemainder(dividingBy: 10)
            let (ql, rl) = UInt64(10).dividingFullWidth((high: rh, low: low))
            (high, low) = (qh, ql)
            digits.append(Character(String(rl)))
        }
        return String(digits.reversed())
    }
}
