import AWSClient
import AWSSigV4
import AsyncHTTPClient
import Foundation
import Logging
import Metrics
import SwitchyardCore
import Testing

@testable import SwitchyardKinesis

func kinesisSettings(
    stream: String = "agent-events",
    partitionKey: String? = nil,
    useMessageId: Bool = false,
    maxRecordBytes: Int = 1024 * 1024
) -> KinesisSettings {
    var s = KinesisSettings(region: "us-east-1", stream: stream)
    s.partitionKey = partitionKey
    s.useMessageId = useMessageId
    s.maxRecordBytes = maxRecordBytes
    return s
}

func job(_ payload: String, userId: String? = "u1", messageId: String = "m-1") -> Job {
    Job(
        id: 1,
        lease: 1,
        destination: "stream",
        attempt: 1,
        source: "web",
        messageId: messageId,
        type: .track,
        name: "E",
        userId: userId,
        receivedAt: .now(),
        payload: Array(payload.utf8)
    )
}

@Suite("Kinesis records", .timeLimit(.minutes(2)))
struct KinesisRecordTests {
    let event = #"{"userId":"u1","anonymousId":"a1","event":"Agent Logged In","properties":{"n":1.50},"messageId":"m-1"}"#

    @Test("Data is the stored event byte for byte, in base64; the partition key is userId, else anonymousId")
    func record() throws {
        let records = try KinesisRecords(settings: kinesisSettings())
        let destination = KinesisDestination(
            name: "stream",
            records: records,
            client: testClient(),
            logger: Logger(label: "test"),
            metricsFactory: NOOPMetricsHandler.instance
        )
        guard case .entry(let entry) = destination.prepare(job(event)) else {
            Issue.record("dropped")
            return
        }
        let wire = try JSONParser.parse(entry.body)
        #expect(wire[path: "PartitionKey"] == .string("u1"))
        #expect(Base64.decode(try #require(wire[path: "Data"]?.stringValue)) == Array(event.utf8))
        #expect(entry.size == event.utf8.count + 2, "Kinesis counts data and partition key")
        // The log shows Data decoded, so it stores the event's text once.
        #expect(entry.display?[path: "Data"] == .string(event))
        #expect(entry.display?[path: "StreamName"] == .string("agent-events"))
        guard case .entry(let anonymous) = destination.prepare(job(#"{"anonymousId":"a1"}"#, userId: "a1")) else {
            Issue.record("dropped")
            return
        }
        #expect(
            try JSONParser.parse(anonymous.body)[path: "PartitionKey"] == .string("a1"),
            "the stored job's key is userId, else anonymousId"
        )
    }

    @Test("useMessageId and partitionKey choose other keys; a stream ARN is sent as StreamARN")
    func keys() throws {
        let byMessage = try KinesisRecords(settings: kinesisSettings(useMessageId: true))
        #expect(try byMessage.record(data: Array(event.utf8), key: byMessage.key.value(for: job(event))).partitionKey == "m-1")
        let byTemplate = try KinesisRecords(settings: kinesisSettings(partitionKey: "agent-{{ properties.n }}"))
        #expect(try byTemplate.record(data: Array(event.utf8), key: byTemplate.key.value(for: job(event))).partitionKey == "agent-1.50")
        let arn = "arn:aws:kinesis:us-east-1:123456789012:stream/agent-events"
        let byARN = try KinesisRecords(settings: kinesisSettings(stream: arn))
        let record = try byARN.record(data: [UInt8(ascii: "{"), UInt8(ascii: "}")], key: "k")
        let body = try JSONParser.parse(byARN.body(for: [PreparedEntry(job: job("{}"), body: byARN.wire(record), size: record.size)]))
        #expect(body[path: "StreamARN"] == .string(arn) && body[path: "StreamName"] == nil)
        #expect(body[path: "Records.0.PartitionKey"] == .string("k") && body[path: "Records.0.Data"] == .string("e30="))
    }

    @Test("records that can never be sent are dead-lettered when prepared, with the reason")
    func drops() throws {
        let records = try KinesisRecords(settings: kinesisSettings(partitionKey: "{{ properties.account }}", maxRecordBytes: 1024))
        #expect(throws: KinesisRecords.Drop.emptyPartitionKey) {
            try records.record(data: Array(event.utf8), key: records.key.value(for: job(event)))
        }
        #expect(throws: KinesisRecords.Drop.partitionKeyTooLong(257)) {
            try records.record(data: [1], key: String(repeating: "é", count: 257))
        }
        #expect(throws: KinesisRecords.Drop.recordTooLarge(size: 1025, limit: 1024)) {
            try records.record(data: Array(repeating: 0x61, count: 1024), key: "k")
        }
        #expect(
            KinesisRecords.Drop.recordTooLarge(size: 1025, limit: 1024).description
                == "InvalidArgument: the record is 1025 bytes (data and partition key), over the 1024-byte limit (maxRecordBytes)"
        )
        #expect((try? records.record(data: [1], key: String(repeating: "é", count: 256))) != nil, "256 characters, whatever their bytes")
    }

    @Test("data: maps each record's Data as a JSON template over the event, keeping whole values' types")
    func dataMapping() throws {
        var s = kinesisSettings(partitionKey: "{{ properties.agent }}")
        s.data = ConfigJSON(
            try JSONParser.parse(
                #"{"EventType":"{{ event }}","EventId":"{{ messageId }}","Count":"{{ properties.n }}","Snapshot":"{{ properties.snapshot }}"}"#
            )
        )
        let records = try KinesisRecords(settings: s)
        let destination = KinesisDestination(
            name: "stream",
            records: records,
            client: testClient(),
            logger: Logger(label: "test"),
            metricsFactory: NOOPMetricsHandler.instance
        )
        let payload = #"{"event":"LOGIN","messageId":"m-9","properties":{"agent":"a-1","n":2,"snapshot":{"State":"Available"}}}"#
        guard case .entry(let entry) = destination.prepare(job(payload)) else {
            Issue.record("dropped")
            return
        }
        let data = Base64.decode(try #require(try JSONParser.parse(entry.body)[path: "Data"]?.stringValue))
        #expect(
            String(decoding: data ?? [], as: UTF8.self)
                == #"{"EventType":"LOGIN","EventId":"m-9","Count":2,"Snapshot":{"State":"Available"}}"#
        )
        #expect(entry.display?[path: "PartitionKey"] == .string("a-1"))
        s.data = ConfigJSON(try JSONParser.parse(#"{"a":"{{ event"}"#))
        #expect(KinesisPlugin.validate(s, environment: [:]).contains { $0.path == ["data"] })
    }

    @Test("per-key order is the default, keyed as the partition key; ordering: none asks for none")
    func ordering() {
        #expect(KinesisPlugin.ordering(kinesisSettings()) == .perKey(.userOrAnonymousId))
        #expect(KinesisPlugin.ordering(kinesisSettings(useMessageId: true)) == .perKey(.messageId))
        var none = kinesisSettings()
        none.ordering = .none
        #expect(KinesisPlugin.ordering(none) == .none)
    }
}

func testClient() -> AWSJSONClient {
    AWSJSONClient(
        endpoint: AWSEndpoint("http://127.0.0.1:4567")!,
        signer: SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"),
            region: "us-east-1",
            service: "kinesis"
        ),
        httpClient: HTTPClient.shared,
        timeout: .seconds(1)
    )
}

@Suite("Reading Kinesis's answers", .timeLimit(.minutes(2)))
struct KinesisAnswerTests {
    let destination = KinesisDestination(
        name: "stream",
        records: try! KinesisRecords(settings: kinesisSettings()),
        client: testClient(),
        logger: Logger(label: "test"),
        metricsFactory: NOOPMetricsHandler.instance
    )

    func outcomes(_ status: Int, _ body: String, count: Int) -> [EntryOutcome] {
        destination.outcomes(AWSResponse(status: status, body: Array(body.utf8)), count: count)
    }

    @Test("per-record results: a sequence number delivers (with its shard), throttled and internal failures retry alone")
    func perRecord() {
        let body =
            #"{"FailedRecordCount":2,"Records":[{"SequenceNumber":"49590338271490256608559692538361571095921575989136588898","ShardId":"shardId-000000000001"},{"ErrorCode":"ProvisionedThroughputExceededException","ErrorMessage":"Rate exceeded for shard shardId-000000000001"},{"ErrorCode":"InternalFailure","ErrorMessage":"Internal service failure."}],"EncryptionType":"NONE"}"#
        #expect(
            outcomes(200, body, count: 3) == [
                .delivered(reference: "shardId-000000000001/49590338271490256608559692538361571095921575989136588898"),
                .retry(.init(code: "ProvisionedThroughputExceededException", message: "Rate exceeded for shard shardId-000000000001")),
                .retry(.init(code: "InternalFailure", message: "Internal service failure.")),
            ]
        )
        #expect(
            outcomes(200, #"{"Records":[{"ShardId":"s"}]}"#, count: 2).allSatisfy { if case .retry = $0 { true } else { false } },
            "a 200 that does not list every record is not trusted"
        )
    }

    @Test(
        "whole requests: throttling and 5xx retry; a missing stream, KMS, access and signature errors are final",
        arguments: [
            (
                400, #"{"__type":"ProvisionedThroughputExceededException","message":"Rate exceeded"}"#,
                "ProvisionedThroughputExceededException", true
            ),
            (400, #"{"__type":"LimitExceededException","message":"too many requests"}"#, "LimitExceededException", true),
            (500, #"{"__type":"InternalFailure"}"#, "InternalFailure", true),
            (503, "", "HTTP503", true),
            (
                400, #"{"__type":"ResourceNotFoundException","message":"Stream agent-events under account 123456789012 not found."}"#,
                "ResourceNotFoundException", false
            ),
            (400, #"{"__type":"KMSDisabledException","message":"key disabled"}"#, "KMSDisabledException", false),
            (400, #"{"__type":"KMSAccessDeniedException","message":"no access"}"#, "KMSAccessDeniedException", false),
            (
                400, #"{"__type":"AccessDeniedException","message":"not authorized to perform kinesis:PutRecords"}"#,
                "AccessDeniedException", false
            ),
            (400, #"{"__type":"ValidationException","message":"1 validation error detected"}"#, "ValidationException", false),
            (
                403,
                #"<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>"#,
                "SignatureDoesNotMatch", false
            ),
        ] as [(Int, String, String, Bool)]
    )
    func wholeRequest(status: Int, body: String, code: String, retried: Bool) {
        let results = outcomes(status, body, count: 2)
        #expect(results.count == 2)
        for result in results {
            switch result {
            case .retry(let f): #expect(retried && f.code == code && f.httpStatus == status)
            case .reject(let f): #expect(!retried && f.code == code && f.httpStatus == status)
            case .delivered: Issue.record("delivered")
            }
        }
    }
}

@Suite("Kinesis configuration", .timeLimit(.minutes(2)))
struct KinesisConfigTests {
    func problems(_ config: String, env: [String: String] = [:]) -> [String] {
        let yaml = """
            destinations:
              - name: agent-stream
                type: kinesis
                config: \(config)
            """
        do {
            _ = try ConfigLoader(registry: DestinationRegistry([KinesisPlugin.self]), environment: env).load(
                text: yaml,
                file: "switchyard.yaml"
            )
            return []
        } catch {
            return error.problems.map(\.message)
        }
    }

    @Test("the issue's example loads, with per-key order")
    func example() throws {
        #expect(problems("{ region: us-east-1, stream: agent-events, endpoint: http://127.0.0.1:4567 }") == [])
    }

    @Test(
        "mistakes are named at their keys",
        arguments: [
            ("{ region: us-east-1 }", "missing"),
            ("{ region: us-east-1, stream: 'bad name' }", #"stream "bad name" must be a stream name"#),
            ("{ region: us-east-1, stream: 'arn:aws:s3:::bucket' }", "is not a stream ARN"),
            ("{ region: us-east-1, stream: s, partitionKey: '{{ userId', }", "partitionKey:"),
            (
                "{ region: us-east-1, stream: s, partitionKey: '{{ userId }}', useMessageId: true }",
                "partitionKey and useMessageId both choose the partition key"
            ),
            ("{ region: us-east-1, stream: s, maxRecordBytes: 20971520 }", "maxRecordBytes must be between 1024 and 10485760"),
            ("{ region: us-east-1, stream: s, ordering: perkey }", #""perkey" is not a valid ordering (did you mean "perKey"?)"#),
            ("{ stream: s }", "region is required"),
            ("{ region: us-east-1, stream: s, accessKeyID: AKID }", "accessKeyID and accessKey go together"),
            ("{ region: us-east-1, stream: s, endpoint: 'ftp://x' }", "must be an http:// or https:// URL"),
            (
                "{ region: us-east-1, stream: s, credentials: { roleArn: publisher } }",
                #"credentials.roleArn "publisher" is not a role ARN"#
            ),
            (
                "{ region: us-east-1, stream: s, credentials: { roleArn: 'arn:aws:iam::123456789012:role/p', durationSeconds: 60 } }",
                "credentials.durationSeconds must be between 900 and 43200"
            ),
            (
                "{ region: us-east-1, stream: s, credentials: { roleArn: 'arn:aws:iam::123456789012:role/p', externalID: x } }",
                #"unknown key "externalID""#
            ),
        ]
    )
    func mistakes(config: String, message: String) {
        let found = problems(config)
        #expect(found.contains { $0.contains(message) }, "\(found)")
    }
}

@Suite("Kinesis example and preview", .timeLimit(.minutes(2)))
struct KinesisExampleTests {
    @Test("Examples/kinesis.yaml loads, and transform shows the record as PutRecords gets it")
    func example() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Examples/kinesis.yaml").path
        let loaded = try ConfigLoader(registry: DestinationRegistry([KinesisPlugin.self]), environment: [:]).load(path: path)
        let destination = try #require(loaded.destinations.first)
        #expect(destination.ordering == .perKey(.userOrAnonymousId))
        let event = #"{"userId":"agent-7","type":"track","event":"State Changed"}"#
        guard case .entry(let record) = destination.preview(payload: Array(event.utf8)) else {
            Issue.record("dropped")
            return
        }
        #expect(record[path: "StreamName"] == .string("agent-events") && record[path: "PartitionKey"] == .string("agent-7"))
        #expect(Base64.decode(try #require(record[path: "Data"]?.stringValue)) == Array(event.utf8))
        #expect(
            destination.preview(payload: Array(#"{"type":"track"}"#.utf8))
                == .drop(reason: KinesisRecords.Drop.emptyPartitionKey.description)
        )
    }
}
