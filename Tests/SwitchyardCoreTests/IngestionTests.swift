import Testing

@testable import SwitchyardCore

@Suite("Ingestion enriches events like rudder-server", .timeLimit(.minutes(2)))
struct IngestionTests {
    let receivedAt = Timestamp(rfc3339: "2024-05-01T10:00:00.000Z")!
    var context: IngestContext { IngestContext(receivedAt: receivedAt, requestIP: "203.0.113.7", maxEventBytes: 32768) }

    func ingest(_ route: IngestRoute, _ body: String) throws -> IngestBatch {
        try Ingestion.events(route: route, body: Array(body.utf8), context: context)
    }

    func object(_ event: Event) throws -> JSONObject {
        try #require(JSONParser.parse(event.payload).objectValue)
    }

    @Test("the route sets the type, and the client's keys keep their order ahead of the added ones")
    func singleEvent() throws {
        let batch = try ingest(.track, #"{"userId":"u1","type":"identify","event":"Order Completed","properties":{"total":9.90}}"#)
        let event = try #require(batch.events.first)
        #expect(event.type == .track)
        #expect(event.name == "Order Completed")
        let o = try object(event)
        #expect(Array(o.keys.prefix(4)) == ["userId", "type", "event", "properties"])
        #expect(o["type"] == .string("track"))
        #expect(o["properties"]?[path: "total"] == .number("9.90"))
        #expect(Array(o.keys.dropFirst(4)) == ["messageId", "request_ip", "receivedAt", "originalTimestamp", "sentAt", "timestamp"])
        #expect(o["request_ip"] == .string("203.0.113.7"))
        #expect(o["receivedAt"] == .string("2024-05-01T10:00:00.000Z"))
    }

    @Test("messageId is kept trimmed, or made when missing or blank")
    func messageId() throws {
        #expect(try ingest(.track, #"{"userId":"u","messageId":"  m-1 "}"#).events[0].messageId == "m-1")
        let made = try ingest(.track, #"{"userId":"u","messageId":"  "}"#).events[0].messageId
        #expect(made.count == 36 && made.split(separator: "-").count == 5)
        #expect(try ingest(.track, #"{"userId":"u"}"#).events[0].messageId != made)
    }

    @Test("a client's request_ip and receivedAt are kept")
    func keptFields() throws {
        let o = try object(ingest(.track, #"{"userId":"u","request_ip":"10.0.0.1","receivedAt":"2020-01-01T00:00:00.000Z"}"#).events[0])
        #expect(o["request_ip"] == .string("10.0.0.1"))
        #expect(o["receivedAt"] == .string("2020-01-01T00:00:00.000Z"))
    }

    @Test("clock skew: timestamp = receivedAt - (sentAt - originalTimestamp) when the client sent none")
    func clockSkew() throws {
        // The device clock is an hour fast; it recorded the event 2 s before sending it.
        let o = try object(
            ingest(.track, #"{"userId":"u","originalTimestamp":"2024-05-01T10:59:58.000Z","sentAt":"2024-05-01T11:00:00.000Z"}"#).events[0]
        )
        #expect(o["timestamp"] == .string("2024-05-01T09:59:58.000Z"))
        #expect(o["originalTimestamp"] == .string("2024-05-01T10:59:58.000Z"))
    }

    @Test("an existing timestamp is kept exactly as sent")
    func keepsTimestamp() throws {
        let o = try object(
            ingest(.track, #"{"userId":"u","timestamp":"2024-05-01T12:00:00+02:00","sentAt":"2030-01-01T00:00:00Z"}"#).events[0]
        )
        #expect(o["timestamp"] == .string("2024-05-01T12:00:00+02:00"))
    }

    @Test("missing or unparsable originalTimestamp and sentAt default to receivedAt")
    func timeDefaults() throws {
        let o = try object(ingest(.track, #"{"userId":"u","originalTimestamp":"yesterday"}"#).events[0])
        #expect(o["originalTimestamp"] == .string("2024-05-01T10:00:00.000Z"))
        #expect(o["sentAt"] == .string("2024-05-01T10:00:00.000Z"))
        #expect(o["timestamp"] == .string("2024-05-01T10:00:00.000Z"))
    }

    @Test("a batch's sentAt, context and integrations reach every event; the event's own keys win")
    func batchDefaults() throws {
        let batch = try ingest(
            .batch,
            """
            {"batch":[
              {"type":"track","userId":"u","event":"A","context":{"ip":"1.1.1.1"},"originalTimestamp":"2024-05-01T10:59:59.000Z"},
              {"type":"identify","anonymousId":"x","sentAt":"2024-05-01T11:00:05.000Z"}
            ],
            "sentAt":"2024-05-01T11:00:00.000Z","context":{"ip":"9.9.9.9","library":{"name":"lib"}},"integrations":{"All":true},
            "writeKey":"secret-key"}
            """
        )
        #expect(batch.bodyWriteKey == "secret-key")
        #expect(batch.events.map(\.type) == [.track, .identify])
        let first = try object(batch.events[0])
        #expect(first["context"] != nil)
        #expect(JSONValue.object(first)[path: "context.ip"] == .string("1.1.1.1"))
        #expect(JSONValue.object(first)[path: "context.library.name"] == .string("lib"))
        #expect(first["integrations"] == .object(JSONObject([("All", .bool(true))])))
        #expect(first["sentAt"] == .string("2024-05-01T11:00:00.000Z"))
        #expect(first["timestamp"] == .string("2024-05-01T09:59:59.000Z"))
        let second = try object(batch.events[1])
        #expect(second["sentAt"] == .string("2024-05-01T11:00:05.000Z"))
        for event in batch.events {
            #expect(!String(decoding: event.payload, as: UTF8.self).contains("secret-key"))
        }
    }

    @Test("the write key in a single event's body is taken out before storing")
    func writeKeyRemoved() throws {
        let batch = try ingest(.identify, #"{"writeKey":"k","userId":"u"}"#)
        #expect(batch.bodyWriteKey == "k")
        #expect(try object(batch.events[0])["writeKey"] == nil)
    }

    @Test("identity may be a string or a number; blank strings do not count")
    func identity() throws {
        #expect(try ingest(.track, #"{"userId":42}"#).events[0].userId == "42")
        #expect(throws: IngestError.noIdentity) { try ingest(.track, #"{"userId":"  ","anonymousId":""}"#) }
    }

    @Test("refusals carry rudder-server's status and text")
    func refusals() {
        func refused(_ route: IngestRoute, _ body: String) -> IngestError? {
            do {
                _ = try ingest(route, body)
                return nil
            } catch { return error as? IngestError }
        }
        #expect(refused(.track, "")?.body == "request body is nil")
        #expect(refused(.track, "{")?.body == "invalid json")
        #expect(refused(.track, "[1]")?.body == "event is not a valid rudder event")
        #expect(refused(.batch, #"{"batch":[]}"#)?.body == "empty batch payload")
        #expect(refused(.batch, #"{"sentAt":"x"}"#)?.body == "empty batch payload")
        #expect(refused(.batch, #"{"batch":[{"type":"track","userId":"u"},"x"]}"#)?.body == "event is not a valid rudder event")
        #expect(
            refused(.batch, #"{"batch":[{"type":"track","userId":"u"},{"type":"track"}]}"#)?.body
                == "request neither has anonymousId nor userId"
        )
        #expect(refused(.batch, #"{"batch":[{"type":"trak","userId":"u"}]}"#) == .invalidType("trak"))
        #expect(refused(.batch, #"{"batch":[{"userId":"u"}]}"#) == .invalidType(nil))
        for error in [IngestError.emptyBody, .invalidJSON(""), .notAnEvent, .noIdentity, .emptyBatch] {
            #expect(error.status == 400)
        }
    }

    @Test("an event over maxEventBytes refuses the request with 413")
    func eventTooLarge() {
        let big = String(repeating: "x", count: 40_000)
        let error = #expect(throws: IngestError.self) { try ingest(.track, "{\"userId\":\"u\",\"p\":\"\(big)\"}") }
        #expect(error?.status == 413)
    }
}

@Suite("Filters and routing", .timeLimit(.minutes(2)))
struct RoutingTests {
    @Test("allow and deny lists and message types decide who gets a job")
    func filters() {
        let allow = EventFilter(types: [.track, .identify], events: .init(allow: ["Order Completed"]))
        #expect(allow.admits(type: .track, name: "Order Completed"))
        #expect(!allow.admits(type: .track, name: "Cart Viewed"))
        #expect(allow.admits(type: .identify, name: nil))
        #expect(!allow.admits(type: .page, name: "Home"))
        let deny = EventFilter(events: .init(deny: ["Debug"]))
        #expect(!deny.admits(type: .track, name: "Debug"))
        #expect(deny.admits(type: .page, name: "Home"))
    }

    @Test("a source's events go to its connected, enabled destinations")
    func routing() {
        let config = SwitchyardConfig(
            sources: [SourceConfig(name: "web", writeKeys: ["k1", "k2"]), SourceConfig(name: "ios", writeKeys: ["k3"])],
            destinations: [
                DestinationConfig(name: "a", type: "eventbridge"),
                DestinationConfig(name: "b", type: "eventbridge", enabled: false),
                DestinationConfig(name: "c", type: "eventbridge", filter: EventFilter(types: [.identify])),
            ],
            connections: [ConnectionConfig(from: "web", to: ["a", "b", "c"])]
        )
        let routing = Routing(config)
        let event = Event(messageId: "m", type: .track, name: "X", userId: "u", anonymousId: nil, receivedAt: .now(), payload: [])
        let web = routing.source(writeKey: "k2")!
        #expect(web.name == "web")
        #expect(routing.destinations(for: event, from: web) == ["a"])
        #expect(routing.destinations(for: event, from: routing.source(writeKey: "k3")!) == [])
        #expect(routing.source(writeKey: "nope") == nil)
    }
}
