/// A free-form value in the configuration (an event pattern, a payload mapping), read as JSON:
/// a mapping is an object (keys in order), a list an array, a quoted scalar a string, and a plain
/// scalar null, a boolean or a number when it reads as one, else a string. It remembers where it
/// stands, so a problem with it points at its line.
public struct ConfigJSON: Codable, Sendable, Hashable {
    public var value: JSONValue
    public var location: SourceLocation?

    public init(_ value: JSONValue, location: SourceLocation? = nil) {
        self.value = value
        self.location = location
    }

    public init(from decoder: any Decoder) throws {
        guard let node = decoder.configNode else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "only read from a configuration file")
            )
        }
        value = Self.json(node)
        location = node.location
    }

    public func encode(to encoder: any Encoder) throws {
        try EncodableJSON(value).encode(to: encoder)
    }

    static func json(_ node: ConfigNode) -> JSONValue {
        switch node {
        case .mapping(let entries, _):
            return .object(JSONObject(entries.map { ($0.key, json($0.value)) }))
        case .sequence(let items, _):
            return .array(items.map(json))
        case .scalar(let s):
            guard s.isPlain else { return .string(s.value) }
            if node.isNull { return .null }
            switch s.value {
            case "true", "True", "TRUE": return .bool(true)
            case "false", "False", "FALSE": return .bool(false)
            default: break
            }
            if let number = try? JSONParser.parse(Array(s.value.utf8)), case .number = number { return number }
            return .string(s.value)
        }
    }
}

/// A `JSONValue` written through any `Encoder` (for `validate --print`).
struct EncodableJSON: Encodable {
    let value: JSONValue

    init(_ value: JSONValue) {
        self.value = value
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var c = encoder.singleValueContainer()
            try c.encodeNil()
        case .bool(let b):
            var c = encoder.singleValueContainer()
            try c.encode(b)
        case .number(let n):
            var c = encoder.singleValueContainer()
            if let i = Int(n) { try c.encode(i) } else { try c.encode(Double(n) ?? 0) }
        case .string(let s):
            var c = encoder.singleValueContainer()
            try c.encode(s)
        case .array(let items):
            var c = encoder.unkeyedContainer()
            for item in items { try c.encode(EncodableJSON(item)) }
        case .object(let object):
            var c = encoder.container(keyedBy: Key.self)
            for (key, item) in object { try c.encode(EncodableJSON(item), forKey: Key(stringValue: key)) }
        }
    }
}
