import Testing

@testable import SwitchyardCore

@Suite("Query parameters of browser requests", .timeLimit(.minutes(2)))
struct QueryParametersTests {
    func parse(_ query: String) throws(IngestError) -> QueryParameters {
        try QueryParameters.parse(Substring(query))
    }

    @Test("form decoding: + is a space, %XX a byte, the result UTF-8; a repeated name keeps its first value")
    func decoding() throws {
        let q = try parse("a=1+2&b=%E2%9C%93%20ok&c&=skipped&a=second&&d=x%3Dy")
        #expect(q.parameters.map(\.name) == ["a", "b", "c", "d"])
        #expect(q.value("a") == "1 2")
        #expect(q.value("b") == "✓ ok")
        #expect(q.value("c") == "")
        #expect(q.value("d") == "x=y")
        #expect(try parse("").parameters.isEmpty)
    }

    @Test("broken escapes and bytes that are not UTF-8 are refused", arguments: ["a=%", "a=%4", "a=%zz", "a=%ff", "%c3%28=1"])
    func malformed(_ query: String) {
        #expect(throws: IngestError.invalidQuery("a parameter is not valid percent-encoded UTF-8")) { try parse(query) }
    }

    @Test("bounds: parameters are counted before anything is decoded, then bytes, names and depth")
    func bounds() {
        #expect(throws: IngestError.tooManyQueryParameters(count: 10_000, limit: 128)) {
            try parse(Array(repeating: "a=1", count: 10_000).joined(separator: "&"))
        }
        #expect(throws: IngestError.queryTooLarge(bytes: 16_387, limit: 16_384)) { try parse("a=" + String(repeating: "x", count: 16_385)) }
        #expect(throws: IngestError.self) { try parse(String(repeating: "n", count: 257) + "=1") }
        #expect(throws: IngestError.self) { try parse("a.b.c.d.e.f.g.h.i=1") }
        #expect((try? parse("a.b.c.d.e.f.g.h=1")) != nil)
    }

    @Test("a pixel becomes rudder-server's payload: defaults first, parameters at their dotted paths, the type last")
    func pixelEvent() throws {
        let q = try parse("writeKey=k&anonymousId=%22a-1%22&event=Opened&context.page.url=u&properties.n=3&context.page.title=T")
        let event = try q.pixelEvent(type: .track, now: "2026-01-01T00:00:00.000Z")
        #expect(
            event.jsonString
                == #"{"channel":"web","integrations":{"All":true},"originalTimestamp":"2026-01-01T00:00:00.000Z","sentAt":"2026-01-01T00:00:00.000Z","anonymousId":"a-1","event":"Opened","context":{"page":{"url":"u","title":"T"}},"properties":{"n":"3"},"type":"track"}"#
        )
    }

    @Test("a dotted path through a value replaces it with an object; digits are object keys, never array indexes")
    func paths() throws {
        let q = try parse("anonymousId=a&context=plain&context.ip=1.2.3.4&properties.items.999999=x")
        let event = try q.pixelEvent(type: .page, now: "t")
        #expect(event[path: "context"]?.jsonString == #"{"ip":"1.2.3.4"}"#)
        #expect(event[path: "properties"]?.jsonString == #"{"items":{"999999":"x"}}"#)
    }

    @Test("a pixel needs anonymousId, and a track pixel its event")
    func pixelRequirements() throws {
        #expect(throws: IngestError.pixelNeedsAnonymousId) { try parse("userId=u").pixelEvent(type: .page, now: "t") }
        #expect(throws: IngestError.pixelNeedsAnonymousId) { try parse("anonymousId=%22%22").pixelEvent(type: .page, now: "t") }
        #expect(throws: IngestError.pixelTrackNeedsEvent) { try parse("anonymousId=a").pixelEvent(type: .track, now: "t") }
        #expect(throws: IngestError.pixelTrackNeedsEvent) { try parse("anonymousId=a&event=").pixelEvent(type: .track, now: "t") }
        #expect(try parse("anonymousId=a&name=").pixelEvent(type: .page, now: "t")[path: "name"] == .string("Unknown Page"))
        #expect(try parse("anonymousId=a&type=identify").pixelEvent(type: .page, now: "t")[path: "type"] == .string("page"))
    }
}
