import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import SwitchyardCore
import Testing

@testable import KinesisEmulator

func kinesisHeaders(
    _ body: String,
    target: String = "Kinesis_20131202.PutRecords",
    secret: String = "emu-secret",
    service: String = "kinesis"
) -> HTTPFields {
    let signer = SigV4Signer(
        credentials: AWSCredentials(accessKeyID: "AKIDEMU", secretAccessKey: secret),
        region: "us-east-1",
        service: service
    )
    let signature = signer.sign(
        .init(
            method: "POST",
            host: "localhost",
            path: "/",
            headers: [
                ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", target),
            ],
            body: Array(body.utf8)
        ),
        amzDate: Timestamp.now().amzDate
    )
    var fields: HTTPFields = [.contentType: "application/x-amz-json-1.1", HTTPField.Name("X-Amz-Target")!: target]
    for (name, value) in signature.headers { fields[HTTPField.Name(name)!] = value }
    return fields
}

func record(_ data: String, key: String) -> String {
    #"{"Data":"\#(Base64.encode(Array(data.utf8)))","PartitionKey":"\#(key)"}"#
}

@Suite("The Kinesis emulator behaves like Kinesis where it matters", .timeLimit(.minutes(2)))
struct KinesisEmulatorTests {
    func withEmulator(
        configure: (inout KinesisEmulatorOptions) -> Void = { _ in },
        _ body: @escaping @Sendable (any TestClientProtocol, String) async throws -> Void
    ) async throws {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("kinesis-\(UUID().uuidString)/records.jsonl").path
        defer { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
        var options = KinesisEmulatorOptions()
        options.credentials = ["AKIDEMU": "emu-secret"]
        options.recordsOut = out
        options.streams = ["agent-events": 4]
        configure(&options)
        let emulator = try KinesisEmulator(options: options)
        try await Application(router: emulator.router()).test(.router) { client in try await body(client, out) }
    }

    func put(_ client: any TestClientProtocol, _ body: String, headers: HTTPFields? = nil) async throws -> (Int, JSONValue) {
        let response = try await client.execute(
            uri: "/",
            method: .post,
            headers: headers ?? kinesisHeaders(body),
            body: ByteBuffer(string: body)
        )
        return (Int(response.status.code), try JSONParser.parse(Array(response.body.readableBytesView)))
    }

    func lines(_ path: String) throws -> [JSONValue] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map { try JSONParser.parse(Array($0.utf8)) }
    }

    @Test("a consumer reads each shard back in sequence order, from the start, after a sequence number, or from the latest")
    func consumerReads() async throws {
        try await withEmulator { client, _ in
            let records = (0..<5).map { record(#"{"n":\#($0)}"#, key: "agent-7") }.joined(separator: ",")
            let (status, _) = try await self.put(client, #"{"StreamName":"agent-events","Records":[\#(records)]}"#)
            #expect(status == 200)
            func call(_ operation: String, _ body: String) async throws -> JSONValue {
                let (status, answer) = try await self.put(
                    client,
                    body,
                    headers: kinesisHeaders(body, target: "Kinesis_20131202.\(operation)")
                )
                #expect(status == 200, "\(operation): \(answer.jsonString)")
                return answer
            }
            let shards = try await call("ListShards", #"{"StreamName":"agent-events"}"#)[path: "Shards"]?.arrayValue ?? []
            #expect(shards.count == 4)
            #expect(shards.first?[path: "HashKeyRange.StartingHashKey"] == .string("0"))
            #expect(shards.last?[path: "HashKeyRange.EndingHashKey"] == .string("340282366920938463463374607431768211455"))
            #expect(shards[1][path: "HashKeyRange.StartingHashKey"] == .string("85070591730234615865843651857942052864"))
            let shard = KinesisEmulator.shardID(KinesisEmulator.shard(for: .init(data: [], partitionKey: "agent-7"), of: 4))
            func read(_ type: String, after sequence: String? = nil) async throws -> (data: [String], next: String) {
                let start = sequence.map { #","StartingSequenceNumber":"\#($0)""# } ?? ""
                let iterator = try await call(
                    "GetShardIterator",
                    #"{"StreamName":"agent-events","ShardId":"\#(shard)","ShardIteratorType":"\#(type)"\#(start)}"#
                )
                let answer = try await call(
                    "GetRecords",
                    #"{"ShardIterator":"\#(iterator[path: "ShardIterator"]?.stringValue ?? "")","Limit":3}"#
                )
                let data = (answer[path: "Records"]?.arrayValue ?? []).map {
                    String(decoding: Base64.decode($0[path: "Data"]?.stringValue ?? "") ?? [], as: UTF8.self)
                }
                return (data, answer[path: "NextShardIterator"]?.stringValue ?? "")
            }
            let first = try await read("TRIM_HORIZON")
            #expect(first.data == [#"{"n":0}"#, #"{"n":1}"#, #"{"n":2}"#], "at most Limit records, oldest first")
            let rest = try await call("GetRecords", #"{"ShardIterator":"\#(first.next)"}"#)[path: "Records"]?.arrayValue ?? []
            #expect(rest.count == 2)
            let sequence = try #require(rest.first?[path: "SequenceNumber"]?.stringValue)
            #expect(try await read("AFTER_SEQUENCE_NUMBER", after: sequence).data == [#"{"n":4}"#])
            #expect(try await read("AT_SEQUENCE_NUMBER", after: sequence).data == [#"{"n":3}"#, #"{"n":4}"#])
            #expect(try await read("LATEST").data.isEmpty)
        }
    }

    @Test("accepted records get a shard (the MD5 of the key's) and growing sequence numbers, and are written down decoded")
    func accepted() async throws {
        try await withEmulator { client, out in
            let body =
                #"{"StreamName":"agent-events","Records":[\#(record(#"{"n":1}"#, key: "agent-1")),\#(record(#"{"n":2}"#, key: "agent-1")),\#(record(#"{"n":3}"#, key: "agent-2"))]}"#
            let (status, answer) = try await self.put(client, body)
            #expect(status == 200)
            #expect(answer[path: "FailedRecordCount"] == .number("0"))
            let shard1 = try #require(answer[path: "Records.0.ShardId"]?.stringValue)
            #expect(answer[path: "Records.1.ShardId"]?.stringValue == shard1, "one key, one shard")
            let seq0 = try #require(answer[path: "Records.0.SequenceNumber"]?.stringValue)
            let seq1 = try #require(answer[path: "Records.1.SequenceNumber"]?.stringValue)
            #expect(seq0.count == 56 && seq0 < seq1)
            let written = try self.lines(out)
            #expect(written.map { $0[path: "data"] } == [.string(#"{"n":1}"#), .string(#"{"n":2}"#), .string(#"{"n":3}"#)])
            #expect(written[0][path: "partitionKey"] == .string("agent-1") && written[0][path: "stream"] == .string("agent-events"))
            #expect(written[0][path: "sequenceNumber"]?.stringValue == seq0)
        }
    }

    @Test("shards split the MD5 key space evenly, as CreateStream does")
    func shards() {
        // MD5("agent-1") and friends, checked against Python's int(hashlib.md5(k).hexdigest(), 16) * 4 >> 128.
        #expect(KinesisEmulator.shard(forHashKey: (0, 0), of: 4) == 0)
        #expect(KinesisEmulator.shard(forHashKey: (UInt64.max, UInt64.max), of: 4) == 3)
        #expect(KinesisEmulator.shard(forHashKey: (0x4000_0000_0000_0000, 0), of: 4) == 1)
        #expect(KinesisEmulator.shard(forHashKey: (0x3FFF_FFFF_FFFF_FFFF, UInt64.max), of: 4) == 0)
        #expect(
            KinesisEmulator.hashKey(decimal: "340282366920938463463374607431768211455").map { [$0.high, $0.low] } == [
                UInt64.max, UInt64.max,
            ]
        )
        #expect(KinesisEmulator.hashKey(decimal: "340282366920938463463374607431768211456") == nil)
        #expect(KinesisEmulator.hashKey(decimal: "18446744073709551616").map { [$0.high, $0.low] } == [1, 0])
    }

    @Test(
        "requests past Kinesis's limits are refused with its codes",
        arguments: [
            (#"{"StreamName":"nope","Records":[@REC@]}"#, "ResourceNotFoundException"),
            (#"{"Records":[@REC@]}"#, "InvalidArgumentException"),
            (#"{"StreamName":"agent-events","Records":[]}"#, "ValidationException"),
            (#"{"StreamName":"agent-events","Records":[{"Data":"!!","PartitionKey":"k"}]}"#, "SerializationException"),
            (#"{"StreamName":"agent-events","Records":[{"Data":"e30=","PartitionKey":""}]}"#, "ValidationException"),
            ("not json", "SerializationException"),
        ]
    )
    func refused(body: String, code: String) async throws {
        try await withEmulator { client, _ in
            let (status, answer) = try await self.put(client, body.replacingOccurrences(of: "@REC@", with: record("{}", key: "k")))
            #expect(status == 400)
            #expect(answer[path: "__type"] == .string(code))
        }
    }

    @Test("more than 500 records, or a record over the stream's limit, are refused")
    func limits() async throws {
        let configure: (inout KinesisEmulatorOptions) -> Void = { $0.maxRecordBytes = 64 }
        try await withEmulator(configure: configure) { client, _ in
            let many = Array(repeating: record("{}", key: "k"), count: 501).joined(separator: ",")
            let tooMany = try await self.put(client, #"{"StreamName":"agent-events","Records":[\#(many)]}"#).1
            #expect(tooMany[path: "__type"] == .string("ValidationException"))
            let big = record(String(repeating: "x", count: 64), key: "k")
            let tooBig = try await self.put(client, #"{"StreamName":"agent-events","Records":[\#(big)]}"#).1
            #expect(tooBig[path: "__type"] == .string("ValidationException"))
        }
    }

    @Test("signatures are checked: a wrong secret or another service's scope is refused")
    func signatures() async throws {
        try await withEmulator { client, out in
            let body = #"{"StreamName":"agent-events","Records":[\#(record("{}", key: "k"))]}"#
            let wrongSecret = try await self.put(client, body, headers: kinesisHeaders(body, secret: "wrong")).1
            #expect(wrongSecret[path: "__type"] == .string("InvalidSignatureException"))
            let wrongService = try await self.put(client, body, headers: kinesisHeaders(body, service: "events")).1
            #expect(wrongService[path: "__type"] == .string("InvalidSignatureException"))
            let written = FileManager.default.fileExists(atPath: out) ? try self.lines(out) : []
            #expect(written.isEmpty)
        }
    }

    @Test("--throttle-rate fails records one by one with ProvisionedThroughputExceededException; PutRecord works too")
    func throttled() async throws {
        let configure: (inout KinesisEmulatorOptions) -> Void = { $0.throttleRate = 1 }
        try await withEmulator(configure: configure) { client, _ in
            let body = #"{"StreamName":"agent-events","Records":[\#(record("{}", key: "a")),\#(record("{}", key: "b"))]}"#
            let (status, answer) = try await self.put(client, body)
            #expect(status == 200 && answer[path: "FailedRecordCount"] == .number("2"))
            #expect(answer[path: "Records.1.ErrorCode"] == .string("ProvisionedThroughputExceededException"))
        }
        try await withEmulator { client, out in
            let body = #"{"StreamName":"agent-events","Data":"e30=","PartitionKey":"solo"}"#
            let (status, answer) = try await self.put(client, body, headers: kinesisHeaders(body, target: "Kinesis_20131202.PutRecord"))
            #expect(status == 200 && answer[path: "ShardId"]?.stringValue?.hasPrefix("shardId-") == true)
            #expect(try self.lines(out).first?[path: "data"] == .string("{}"))
        }
    }
}
