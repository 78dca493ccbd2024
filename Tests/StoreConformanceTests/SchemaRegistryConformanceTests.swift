import SwitchyardCore
import SwitchyardTestSupport
import Testing

@Suite("Every store: the registry of discovered schemas", .timeLimit(.minutes(2)))
struct SchemaRegistryConformanceTests {
    static func shape(_ json: String) throws -> InferredShape {
        InferredShape.infer(try JSONParser.parse(json))
    }

    /// What one node saw of `name` at `at`: `count` events, each of the given shapes once.
    static func observation(_ name: String, at: Timestamp, count: Int64 = 1, shapes: [InferredShape]) -> SchemaObservation {
        var o = SchemaObservation(key: SchemaKey(source: "web", type: .track, name: name), events: count, firstSeen: at, lastSeen: at)
        for shape in shapes { o.shapes[shape.digest] = .init(shape: shape, events: 1, firstSeen: at, lastSeen: at) }
        return o
    }

    @Test(
        "flushes add up: counts summed, a version per new shape numbered as first seen, kept across a restart",
        arguments: StoreFixture.all
    )
    func versionsAddUp(_ fixture: StoreFixture) async throws {
        try await fixture.withEmptyStorage { open in
            let v1 = try Self.shape(#"{"event":"Order","properties":{"total":1}}"#)
            let v2 = try Self.shape(#"{"event":"Order","properties":{"total":1,"coupon":"x"}}"#)
            let v3 = try Self.shape(#"{"event":"Order","properties":{"total":"1","coupon":"x"}}"#)
            let first = try await open()
            try await first.store.recordSchemas([Self.observation("Order", at: ago(3000), count: 5, shapes: [v1])], limits: .init())
            try await first.store.recordSchemas([Self.observation("Order", at: ago(2000), count: 2, shapes: [v1, v2])], limits: .init())
            try await first.close()
            let second = try await open()
            try await second.store.recordSchemas([Self.observation("Order", at: ago(1000), shapes: [v3])], limits: .init())
            let models = try await second.store.discoveredSchemas(source: "web")
            let model = try #require(models.first)
            #expect(models.count == 1)
            #expect(model.events == 8 && model.inferred == 4)
            #expect(model.versions.map(\.number) == [1, 2, 3])
            #expect(model.versions.map(\.digest) == [v1.digest, v2.digest, v3.digest])
            #expect(model.versions.map(\.events) == [2, 1, 1])
            #expect(model.firstSeen == ago(3000) && model.lastSeen == ago(1000))
            #expect(model.merged?.properties["properties"]?.properties["total"]?.kinds == [.integer, .string])
            #expect(model.merged?.properties["properties"]?.required == ["total"])
            #expect(try await second.store.discoveredSchemas(source: "app").isEmpty)
            try await second.close()
        }
    }

    @Test("past the limits the least recently seen models and versions go, and numbers are never reused", arguments: StoreFixture.all)
    func bounded(_ fixture: StoreFixture) async throws {
        try await fixture.withStore { store in
            let limits = SchemaRegistryLimits(maxModelsPerSource: 3, maxVersionsPerModel: 2)
            for n in 1...5 {
                let shape = try Self.shape(#"{"n\#(n)":1}"#)
                try await store.recordSchemas(
                    [Self.observation("E\(n)", at: ago(Int64(10_000 - n * 100)), shapes: [shape])],
                    limits: limits
                )
            }
            // E2 is seen again: now more recent than E3 and E4.
            try await store.recordSchemas([Self.observation("E2", at: ago(100), shapes: [try Self.shape(#"{"n2":1}"#)])], limits: limits)
            #expect(try await store.discoveredSchemas(source: nil).map(\.key.name) == ["E2", "E4", "E5"])

            for n in 1...3 {
                let shape = try Self.shape(#"{"v\#(n)":1}"#)
                try await store.recordSchemas([Self.observation("E5", at: ago(Int64(50 - n)), shapes: [shape])], limits: limits)
            }
            let e5 = try #require(try await store.discoveredSchemas(source: "web").first { $0.key.name == "E5" })
            #expect(e5.versions.map(\.number) == [3, 4])
            #expect(e5.nextVersion == 5)
        }
    }

    @Test("two nodes add to one registry: one model, every node's counts and shapes", arguments: NodesConformanceTests.shared)
    func sharedAcrossNodes(_ fixture: StoreFixture) async throws {
        try await fixture.withTwoNodes { a, b in
            let v1 = try Self.shape(#"{"properties":{"total":1}}"#)
            let v2 = try Self.shape(#"{"properties":{"total":1.5}}"#)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for n in 0..<10 {
                    let node = n % 2 == 0 ? a : b
                    let shape = n < 5 ? v1 : v2
                    group.addTask {
                        try await node.recordSchemas(
                            [Self.observation("Order", at: ago(Int64(1000 - n)), count: 3, shapes: [shape])],
                            limits: .init()
                        )
                    }
                }
                try await group.waitForAll()
            }
            for node in [a, b] {
                let model = try #require(try await node.discoveredSchemas(source: "web").first)
                #expect(model.events == 30 && model.inferred == 10)
                #expect(Set(model.versions.map(\.digest)) == [v1.digest, v2.digest])
                #expect(model.versions.map(\.number).sorted() == [1, 2])
            }
        }
    }
}
