import AWSSigV4
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import SwitchyardCore
import Testing

@testable import SwitchyardEventBridge

func settings(
    _ detailType: String = "{{ event }}",
    includeTime: Bool = false,
    traceHeader: String? = nil,
    maxRequestBytes: Int = 262_144
) -> EventBridgeSettings {
    var s = EventBridgeSettings(region: "us-east-1", detailType: detailType, eventBusName: "orders")
    s.includeTime = includeTime
    s.traceHeader = traceHeader
    s.maxRequestBytes = maxRequestBytes
    s.resourceID = [.init(arn: arn)]
    return s
}

func event(_ json: String) throws -> JSONValue { try JSONParser.parse(json) }

let arn = "arn:aws:events:us-east-1:123456789012:event-bus/orders"

@Suite("Detail-type templates", .timeLimit(.minutes(2)))
struct TemplateTests {
    @Test("paths, fallbacks and literal text render over the event")
    func render() throws {
        let e = try event(#"{"event":"Order Completed","type":"track","properties":{"category":"shoes","n":3,"ok":true,"tags":["a"]}}"#)
        #expect(try Template("{{ event }}").render(e) == "Order Completed")
        #expect(try Template("{{type}}").render(e) == "track")
        #expect(try Template("shop.{{ properties.category }}.v1").render(e) == "shop.shoes.v1")
        #expect(try Template(#"{{ properties.missing | "other" }}"#).render(e) == "other")
        #expect(try Template("{{ properties.n }}/{{ properties.ok }}/{{ properties.tags }}").render(e) == #"3/true/["a"]"#)
        #expect(try Template("{{ properties.missing }}").render(e) == "")
        #expect(try Template("plain").isLiteral)
    }

    @Test(
        "malformed templates are refused when the configuration loads",
        arguments: [
            "{{ event", "event }}", "{{ }}", "{{ event | other }}", "{{ a b }}",
        ]
    )
    func malformed(_ text: String) {
        #expect(throws: Template.ParseError.self) { try Template(text) }
    }
}

@Suite("The EventBridge transform", .timeLimit(.minutes(2)))
struct TransformTests {
    @Test("an entry carries the configured fields and the event as Detail")
    func entry() throws {
        let transform = try EventBridgeTransform(settings: settings())
        let entry = try transform.entry(forEvent: Array(#"{"type":"track","event":"Paid","userId":"u"}"#.utf8))
        #expect(
            entry.json.jsonString
                == #"{"DetailType":"Paid","Detail":"{\"type\":\"track\",\"event\":\"Paid\",\"userId\":\"u\"}","EventBusName":"orders","Resources":["arn:aws:events:us-east-1:123456789012:event-bus/orders"],"Source":"rudderstack"}"#
        )
        #expect(entry.awsSize == "rudderstack".utf8.count + 4 + entry.detail.utf8.count + arn.utf8.count)
    }

    @Test("a detail type that renders empty becomes the message's type, so every type is delivered")
    func emptyDetailTypeFallsBackToTheType() throws {
        let transform = try EventBridgeTransform(settings: settings("{{ event }}"))
        #expect(try transform.entry(for: event(#"{"type":"identify","userId":"u"}"#)).detailType == "identify")
        #expect(try transform.entry(for: event(#"{"type":"page","name":"Home","event":""}"#)).detailType == "page")
        #expect(try transform.entry(for: event(#"{"type":"track","event":"Paid"}"#)).detailType == "Paid")
        // A fallback the user wrote still wins over the type.
        let withFallback = try EventBridgeTransform(settings: settings(#"{{ event | "other" }}"#))
        #expect(try withFallback.entry(for: event(#"{"type":"identify"}"#)).detailType == "other")
    }

    @Test("Time comes from the event's timestamp when asked, and counts 14 bytes")
    func time() throws {
        let transform = try EventBridgeTransform(settings: settings(includeTime: true))
        let entry = try transform.entry(for: event(#"{"event":"E","timestamp":"2024-01-02T03:04:05.678+01:00"}"#))
        #expect(entry.time == 1_704_161_045)
        #expect(entry.awsSize == 14 + "rudderstack".utf8.count + 1 + entry.detail.utf8.count + arn.utf8.count)
    }

    @Test("a trace header template is rendered, and left out when empty")
    func traceHeader() throws {
        let transform = try EventBridgeTransform(settings: settings(traceHeader: "{{ context.trace }}"))
        #expect(try transform.entry(for: event(#"{"event":"E","context":{"trace":"Root=1-5759e988"}}"#)).traceHeader == "Root=1-5759e988")
        #expect(try transform.entry(for: event(#"{"event":"E"}"#)).traceHeader == nil)
    }

    @Test("events that can never be delivered are dropped with a precise reason")
    func drops() throws {
        let transform = try EventBridgeTransform(settings: settings(maxRequestBytes: 1024))
        #expect(throws: EventBridgeTransform.Drop.emptyDetailType) { try transform.entry(for: event(#"{"userId":"u"}"#)) }
        #expect(throws: EventBridgeTransform.Drop.detailTypeTooLong(129)) {
            try transform.entry(for: event("{\"event\":\"\(String(repeating: "x", count: 129))\"}"))
        }
        #expect(throws: EventBridgeTransform.Drop.detailNotAnObject) { try transform.entry(for: event("[1]")) }
        let big = try event("{\"event\":\"E\",\"p\":\"\(String(repeating: "y", count: 2000))\"}")
        #expect(throws: EventBridgeTransform.Drop.self) { try transform.entry(for: big) }
        #expect(
            EventBridgeTransform.Drop.entryTooLarge(size: 2100, limit: 1024).description
                == "InvalidArgument: entry is 2100 bytes as EventBridge counts it, over the 1024-byte limit"
        )
    }
}

@Suite("Reading EventBridge's answers", .timeLimit(.minutes(2)))
struct ResponseTests {
    let destination: EventBridgeDestination

    init() throws {
        destination = EventBridgeDestination(
            name: "bus",
            transform: try EventBridgeTransform(settings: settings()),
            endpoint: .init("http://127.0.0.1:4010")!,
            signer: SigV4Signer(
                credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s"),
                region: "us-east-1",
                service: "events"
            ),
            httpClient: HTTPClient.shared,
            timeout: .seconds(1),
            logger: Logger(label: "test")
        )
    }

    func outcomes(_ status: Int, _ body: String, count: Int) -> [EntryOutcome] {
        destination.outcomes(status: status, body: ByteBuffer(string: body), count: count)
    }

    @Test("per-entry results: EventId delivers, throttling and internal failures retry, the rest are final")
    func perEntry() {
        let body =
            #"{"FailedEntryCount":3,"Entries":[{"EventId":"e1"},{"ErrorCode":"ThrottlingException","ErrorMessage":"Rate exceeded"},{"ErrorCode":"InternalFailure"},{"ErrorCode":"MalformedDetail","ErrorMessage":"Detail is malformed."}]}"#
        #expect(
            outcomes(200, body, count: 4) == [
                .delivered(reference: "e1"),
                .retry(.init(code: "ThrottlingException", message: "Rate exceeded")),
                .retry(.init(code: "InternalFailure", message: "")),
                .reject(.init(code: "MalformedDetail", message: "Detail is malformed.")),
            ]
        )
    }

    @Test("whole-request failures: throttling, 5xx and expired signatures retry; validation and auth are final")
    func wholeRequest() {
        #expect(
            outcomes(400, #"{"__type":"com.amazon.coral#ThrottlingException","message":"slow down"}"#, count: 1) == [
                .retry(.init(code: "ThrottlingException", message: "slow down", httpStatus: 400))
            ]
        )
        #expect(outcomes(503, "", count: 2) == Array(repeating: .retry(.init(code: "HTTP503", message: "", httpStatus: 503)), count: 2))
        #expect(
            outcomes(400, #"{"__type":"RequestExpired","message":"Signature expired"}"#, count: 1).allSatisfy {
                if case .retry = $0 { true } else { false }
            }
        )
        #expect(
            outcomes(
                400,
                #"{"__type":"ValidationException","message":"Total size of the entries in the request is over the limit."}"#,
                count: 1
            )
                == [
                    .reject(
                        .init(
                            code: "ValidationException",
                            message: "Total size of the entries in the request is over the limit.",
                            httpStatus: 400
                        )
                    )
                ]
        )
        let moto =
            #"<?xml version="1.0"?><ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message></Error></ErrorResponse>"#
        #expect(
            outcomes(403, moto, count: 1) == [
                .reject(
                    .init(
                        code: "SignatureDoesNotMatch",
                        message: "The request signature we calculated does not match",
                        httpStatus: 403,
                        misconfigured: true
                    )
                )
            ]
        )
    }

    @Test("a 200 that does not list one result per entry is retried, not trusted")
    func mismatched() {
        #expect(outcomes(200, #"{"Entries":[{"EventId":"a"}]}"#, count: 2).allSatisfy { if case .retry = $0 { true } else { false } })
    }

    @Test("endpoints sign the Host header with the port only when it is not the default")
    func endpoints() {
        #expect(EventBridgeDestination.Endpoint("https://events.us-east-1.amazonaws.com")?.hostHeader == "events.us-east-1.amazonaws.com")
        #expect(
            EventBridgeDestination.Endpoint("https://events.us-east-1.amazonaws.com:443/")?.hostHeader == "events.us-east-1.amazonaws.com"
        )
        #expect(EventBridgeDestination.Endpoint("http://127.0.0.1:4010")?.hostHeader == "127.0.0.1:4010")
        #expect(EventBridgeDestination.Endpoint("http://127.0.0.1:4010")?.url == "http://127.0.0.1:4010/")
        #expect(EventBridgeDestination.Endpoint("ftp://x") == nil)
        #expect(EventBridgeDestination.Endpoint("http://h:99999") == nil)
    }
}
