import SwitchyardEventBridge
import SwitchyardMemory
import SwitchyardTestSupport
import Testing

@testable import SwitchyardCore

@Suite("Schema discovery", .timeLimit(.minutes(1)))
struct SchemaDiscoveryTests {
    static func value(_ json: String) throws -> JSONValue { try JSONParser.parse(json) }
    static func shape(_ json: String) throws -> InferredShape { InferredShape.infer(try value(json)) }

    static func event(_ json: String, type: MessageType = .track, name: String? = "Order Completed", n: Int = 1) -> Event {
        Event(
            messageId: "m-\(n)",
            type: type,
            name: name,
            userId: "u",
            anonymousId: nil,
            receivedAt: Timestamp(millisecondsSinceEpoch: 0),
            payload: Array(json.utf8)
        )
    }

    @Test("ingestion leaves its tree on the event for plans and discovery, and a changed payload drops it")
    func documentFollowsPayload() throws {
        let context = IngestContext(receivedAt: Timestamp(millisecondsSinceEpoch: 0), requestIP: nil, maxEventBytes: 32 * 1024)
        let body = Array(#"{"userId":"u","event":"Order","properties":{"total":1}}"#.utf8)
        var event = try #require(try Ingestion.events(route: .track, body: body, context: context).events.first)
        #expect(event.document?["properties"] == .object(JSONObject([("total", .number("1"))])))
        #expect(event.message == (try JSONParser.parse(event.payload)).objectValue)
        event.payload = Array(#"{"type":"track"}"#.utf8)
        #expect(event.document == nil && event.message?["type"] == .string("track"))
    }

    @Test("a shape records types, every property seen, those every object had, and arrays' items; never a value")
    func inference() throws {
        let shape = try Self.shape(
            #"{"a":1,"b":1.5,"c":"secret@example.com","d":null,"e":true,"items":[{"sku":"x","qty":1},{"sku":"y"}],"empty":[]}"#
        )
        #expect(shape.kinds == .object && shape.required == ["a", "b", "c", "d", "e", "items", "empty"])
        #expect(shape.properties["a"]?.kinds == .integer && shape.properties["b"]?.kinds == .number)
        #expect(shape.properties["d"]?.kinds == .null && shape.properties["e"]?.kinds == .boolean)
        let items = try #require(shape.properties["items"]?.items)
        #expect(items.required == ["sku"] && Set(items.properties.keys) == ["sku", "qty"])
        #expect(shape.properties["empty"]?.items == nil && shape.properties["empty"]?.partialItems == false)
        #expect(!String(decoding: shape.json.serialized(), as: UTF8.self).contains("secret"))
        #expect(InferredShape(json: shape.json) == shape)
        #expect(shape.places.map(\.path).contains("items[].sku"))
    }

    @Test("the same shape has the same digest whatever the key order; a new property or a type change is another")
    func digests() throws {
        let a = try Self.shape(#"{"x":1,"y":"s"}"#)
        #expect(try Self.shape(#"{"y":"t","x":2}"#).digest == a.digest)
        #expect(try Self.shape(#"{"x":1,"y":"s","z":true}"#).digest != a.digest)
        #expect(try Self.shape(#"{"x":"1","y":"s"}"#).digest != a.digest)
        #expect(a.digest.count == 16)
    }

    @Test("what one event may cost is bounded: depth, places and array items")
    func limits() throws {
        var deep = "1"
        for _ in 0..<100 { deep = #"{"a":\#(deep)}"# }
        let shape = try Self.shape(deep)
        #expect(shape.placeCount <= ShapeLimits().maxDepth + 1)
        let wide = "{" + (0..<5000).map { #""p\#($0)":1"# }.joined(separator: ",") + "}"
        #expect(try Self.shape(wide).placeCount <= ShapeLimits().maxPlaces + 1)
        let long = "[" + (0..<1000).map { $0 == 999 ? #""text""# : "1" }.joined(separator: ",") + "]"
        let array = try Self.shape(long)
        #expect(array.partialItems, "items past the limit were not looked at, so the export leaves items out")
        #expect(array.jsonSchema == .object(JSONObject([("type", .string("array"))])))
    }

    @Test("an exported schema accepts every event it was inferred from, and the merged one all of them")
    func exportedSchemasValidate() throws {
        let seen = [
            #"{"type":"track","event":"Order Completed","properties":{"total":10,"items":[{"sku":"a"}]}}"#,
            #"{"type":"track","event":"Order Completed","properties":{"total":10.5,"items":[],"coupon":"X"}}"#,
            #"{"type":"track","event":"Order Completed","properties":{"total":"10","items":[{"sku":"b","qty":2}]},"context":null}"#,
        ]
        var merged: InferredShape?
        for json in seen {
            let shape = try Self.shape(json)
            #expect(try JSONSchema(shape.jsonSchema).isValid(try Self.value(json)))
            merged = merged.map { $0.merged(with: shape) } ?? shape
        }
        let all = try JSONSchema(try #require(merged).jsonSchema)
        for json in seen { #expect(all.isValid(try Self.value(json)), "\(json)") }
        #expect(!all.isValid(try Self.value(#"{"type":"track","event":"Order Completed"}"#)), "properties was in every event")
        #expect(merged?.properties["properties"]?.required == ["items", "total"])
    }

    @Test("three shapes in a stream make three versions, each with what changed")
    func versions() throws {
        let key = SchemaKey(source: "web", type: .track, name: "Order Completed")
        var model = DiscoveredSchema(
            key: key,
            firstSeen: Timestamp(millisecondsSinceEpoch: 0),
            lastSeen: Timestamp(millisecondsSinceEpoch: 0)
        )
        let shapes = try [
            #"{"properties":{"total":1}}"#, #"{"properties":{"total":1,"coupon":"c"}}"#, #"{"properties":{"total":"1","coupon":"c"}}"#,
        ].map(Self.shape)
        for (n, shape) in shapes.enumerated() {
            let at = Timestamp(millisecondsSinceEpoch: Int64(n * 1000))
            var o = SchemaObservation(key: key, events: 2, firstSeen: at, lastSeen: at)
            o.shapes[shape.digest] = .init(shape: shape, events: 2, firstSeen: at, lastSeen: at)
            model.record(o, limits: .init())
        }
        #expect(model.versions.map(\.number) == [1, 2, 3] && model.events == 6 && !model.sampled)
        #expect(model.versions[1].changes(from: model.versions[0])[path: "added"] == .array([.string("properties.coupon")]))
        let retyped = model.versions[2].changes(from: model.versions[1])[path: "retyped"]?.arrayValue?.first
        #expect(retyped?[path: "path"] == .string("properties.total") && retyped?[path: "to"] == .string("string"))
        #expect(DiscoveredSchema(json: model.json) == model)
        let entry = model.planEntry(try #require(model.merged))
        #expect(entry[path: "event"] == .string("Order Completed"))
        #expect(entry[path: "properties.properties.total.type"] == .array([.string("integer"), .string("string")]))
    }

    @Test("past maxEventsPerSecond a model's events are counted, not inferred, until the next second")
    func sampling() throws {
        var config = SchemaDiscoveryConfig()
        config.maxEventsPerSecond = 3
        let clock = ManualWallClock()
        let discovery = SchemaDiscovery(config: config, clock: clock)
        let events = (1...10).map { Self.event(#"{"type":"track","event":"Order Completed","properties":{"n":\#($0)}}"#, n: $0) }
        discovery.observe(events, source: "web")
        clock.advance(by: .seconds(1))
        discovery.observe(Array(events.prefix(2)), source: "web")
        let taken = discovery.take()
        #expect(taken.count == 1)
        #expect(taken.first?.events == 12)
        #expect(taken.first?.shapes.values.map(\.events).reduce(0, +) == 5)
        #expect(discovery.take().isEmpty)
    }

    @Test("a flood of distinct event names cannot grow what discovery holds or the registry past its limits")
    func floodIsBounded() async throws {
        var config = SchemaDiscoveryConfig()
        config.maxModelsPerSource = 50
        let discovery = SchemaDiscovery(config: config, clock: ManualWallClock())
        let store = try MemoryJobStore(storage: MemoryStorage())
        for round in 0..<5 {
            let events = (0..<1000).map { n in
                Self.event(#"{"type":"track","event":"E\#(round)-\#(n)","properties":{"p\#(n)":1}}"#, name: "E\(round)-\(n)", n: n)
            }
            discovery.observe(events, source: "web")
            let taken = discovery.take()
            #expect(taken.count == 50)
            try await store.recordSchemas(taken, limits: config.limits)
        }
        #expect(try await store.discoveredSchemas(source: "web").count == 50)
    }

    @Test("EventBridge's registry format: AWSEvent with the detail and each nested object as components")
    func openAPI() throws {
        let shape = try Self.shape(
            #"{"type":"track","event":"Order Completed","properties":{"order_id":"1","customer":{"name":"n"}},"tags":["a"]}"#
        )
        let doc = EventBridgeSchemaExport(source: "rudderstack", detailType: "Order Completed").document(detail: shape)
        #expect(doc[path: "openapi"] == .string("3.0.0"))
        let schemas = try #require(doc[path: "components.schemas"]?.objectValue)
        #expect(schemas.keys == ["AWSEvent", "OrderCompleted", "Properties", "Customer"])
        #expect(doc[path: "components.schemas.AWSEvent.x-amazon-events-detail-type"] == .string("Order Completed"))
        #expect(doc[path: "components.schemas.AWSEvent.properties.detail.$ref"] == .string("#/components/schemas/OrderCompleted"))
        #expect(doc[path: "components.schemas.Properties.properties.customer.$ref"] == .string("#/components/schemas/Customer"))
        #expect(doc[path: "components.schemas.OrderCompleted.properties.tags.items.type"] == .string("string"))
    }

    @Test("schemaDiscovery settings out of range stop the configuration, at their line")
    func configuration() throws {
        let registry = DestinationRegistry([EventBridgePlugin.self])
        let yaml = """
            sources: [{ name: web, writeKeys: [k] }]
            schemaDiscovery:
              maxEventsPerSecond: 0
              maxVersionsPerModel: 5
            """
        do {
            _ = try ConfigLoader(registry: registry, environment: [:]).load(text: yaml, file: "s.yaml")
            Issue.record("loaded")
        } catch {
            #expect(error.problems.map(\.description) == ["s.yaml:3:23: schemaDiscovery.maxEventsPerSecond must be at least 1"])
        }
        let loaded = try ConfigLoader(registry: registry, environment: [:]).load(
            text: "sources: [{ name: web, writeKeys: [k] }]",
            file: "s.yaml"
        )
        #expect(loaded.config.schemaDiscovery.enabled && loaded.config.schemaDiscovery.maxModelsPerSource == 200)
    }
}
