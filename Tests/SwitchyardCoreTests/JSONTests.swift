import Testing

@testable import SwitchyardCore

@Suite("JSON keeps what the client sent", .timeLimit(.minutes(2)))
struct JSONTests {
    func roundTrip(_ text: String) throws -> String {
        try JSONParser.parse(text).jsonString
    }

    @Test("object keys keep their order and numbers keep their text")
    func keyOrderAndNumbers() throws {
        #expect(try roundTrip(#"{"z":1,"a":2.50,"m":{"y":1e3,"b":-0.0}}"#) == #"{"z":1,"a":2.50,"m":{"y":1e3,"b":-0.0}}"#)
        #expect(try roundTrip(#"{"big":123456789012345678901234567890}"#) == #"{"big":123456789012345678901234567890}"#)
    }

    @Test("whitespace is dropped, as JSON.stringify writes it")
    func compact() throws {
        #expect(try roundTrip(" { \"a\" : [ 1 , true , null ] } \n") == #"{"a":[1,true,null]}"#)
    }

    @Test("strings are escaped like JavaScript's JSON.stringify")
    func escaping() throws {
        #expect(try roundTrip(#"["\u00e9\/\"\\\n\t\u0001\u2028"]"#) == "[\"é/\\\"\\\\\\n\\t\\u0001\u{2028}\"]")
        #expect(try roundTrip(#"["\ud83d\ude00"]"#) == "[\"😀\"]")
    }

    @Test("a lone surrogate becomes U+FFFD instead of failing the event")
    func loneSurrogate() throws {
        #expect(try roundTrip(#"["a\ud800b"]"#) == "[\"a\u{FFFD}b\"]")
    }

    @Test("a duplicate key keeps its first place and its last value, like JSON.parse")
    func duplicateKeys() throws {
        #expect(try roundTrip(#"{"a":1,"b":2,"a":3}"#) == #"{"a":3,"b":2}"#)
        let many = (0..<40).map { "\"k\($0)\":\($0)" }.joined(separator: ",")
        #expect(try roundTrip("{\(many),\"k5\":\"x\"}").contains(#""k5":"x","k6":6"#))
    }

    @Test(
        "invalid documents are refused",
        arguments: [
            "", "{", "{\"a\":}", "[1,]", "{\"a\" 1}", "01", "1.", "-", "+1", "tru", "\"a", "{\"a\":1}x",
            "\"\u{01}\"", "[\"\\x\"]", "NaN", "{'a':1}",
        ]
    )
    func invalid(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("invalid UTF-8 is refused")
    func invalidUTF8() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xC3, 0x28, 0x22]) }
    }

    @Test("nesting beyond the limit is refused instead of exhausting the stack")
    func depth() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 150) + String(repeating: "]", count: 150)
        _ = try JSONParser.parse(fine)
    }

    @Test("dotted paths read nested values")
    func paths() throws {
        let v = try JSONParser.parse(#"{"properties":{"category":"shoes","items":[{"sku":"a"}]}}"#)
        #expect(v[path: "properties.category"] == .string("shoes"))
        #expect(v[path: "properties.items.0.sku"] == .string("a"))
        #expect(v[path: "properties.missing"] == nil)
    }
}

@Suite("RFC 3339 timestamps", .timeLimit(.minutes(2)))
struct TimestampTests {
    @Test("parses the forms clients send and formats them as rudder-server does")
    func parseAndFormat() {
        #expect(Timestamp(rfc3339: "2020-06-24T12:05:19.394Z")?.rfc3339 == "2020-06-24T12:05:19.394Z")
        #expect(Timestamp(rfc3339: "2020-06-24T12:05:19Z")?.rfc3339 == "2020-06-24T12:05:19.000Z")
        #expect(Timestamp(rfc3339: "2020-06-24T14:05:19.5+02:00")?.rfc3339 == "2020-06-24T12:05:19.500Z")
        #expect(Timestamp(rfc3339: "2020-06-24T12:05:19.123456789-0130")?.rfc3339 == "2020-06-24T13:35:19.123Z")
        #expect(Timestamp(rfc3339: "1969-12-31T23:59:59.999Z")?.millisecondsSinceEpoch == -1)
        #expect(Timestamp(rfc3339: "2024-02-29T00:00:00Z") != nil)
    }

    @Test(
        "refuses what is not RFC 3339",
        arguments: [
            "", "2020-06-24", "2020-13-01T00:00:00Z", "2023-02-29T00:00:00Z", "2020-06-24T25:00:00Z",
            "2020-06-24T12:05:19", "2020-06-24T12:05:19.Z", "yesterday", "2020-06-24T12:05:19Zjunk",
        ]
    )
    func invalid(_ text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }
}

@Suite("Base64", .timeLimit(.minutes(2)))
struct Base64Tests {
    @Test(
        "encodes RFC 4648's test vectors, and decodes them back",
        arguments: [
            ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
        ]
    )
    func vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
    }

    @Test("every byte value round-trips, and stray characters are refused")
    func bytes() {
        let all = (0...255).map(UInt8.init)
        #expect(Base64.decode(Base64.encode(all)) == all)
        #expect(Base64.decode("Zm9v!") == nil)
    }
}
