import Crypto

/// The shape of JSON values as discovery infers it from events: which JSON types were seen at a
/// place, which properties objects had there and which of them every object had, and the shape
/// of arrays' items. Values never enter it, so a discovered schema holds no customer data and a
/// deletion has nothing to remove from it.
public struct InferredShape: Sendable, Hashable {
    /// JSON's types, with integers apart from other numbers as JSON Schema names them.
    public struct Kinds: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let null = Kinds(rawValue: 1)
        public static let boolean = Kinds(rawValue: 2)
        public static let integer = Kinds(rawValue: 4)
        public static let number = Kinds(rawValue: 8)
        public static let string = Kinds(rawValue: 16)
        public static let object = Kinds(rawValue: 32)
        public static let array = Kinds(rawValue: 64)

        static let named: [(Kinds, String)] = [
            (.null, "null"), (.boolean, "boolean"), (.integer, "integer"), (.number, "number"),
            (.string, "string"), (.object, "object"), (.array, "array"),
        ]

        /// JSON Schema's type names, in a fixed order; `integer` is left out when `number` is in,
        /// since every integer is a number.
        public var names: [String] {
            Self.named.compactMap { kind, name in
                guard contains(kind), kind != .integer || !contains(.number) else { return nil }
                return name
            }
        }
    }

    public var kinds: Kinds
    /// Every property seen on objects here, by name.
    public var properties: [String: InferredShape] = [:]
    /// The properties every object seen here had.
    public var required: Set<String> = []
    /// Arrays' items (nil when every array seen here was empty); held in an array for the indirection.
    private var itemStorage: [InferredShape] = []
    /// Some arrays here had more items than discovery looks at (or sat too deep), so `items`
    /// describes only part of them and an export leaves it out.
    public var partialItems = false

    public init(kinds: Kinds) {
        self.kinds = kinds
    }

    public var items: InferredShape? {
        get { itemStorage.first }
        set { itemStorage = newValue.map { [$0] } ?? [] }
    }

    /// How many places the shape describes, itself included.
    public var placeCount: Int {
        1 + properties.values.reduce(0) { $0 + $1.placeCount } + (items?.placeCount ?? 0)
    }

    /// The shape of both: their kinds, properties and items together; a property is required
    /// when every object of both had it.
    public func merged(with other: InferredShape) -> InferredShape {
        var out = self
        out.kinds.formUnion(other.kinds)
        for (name, shape) in other.properties {
            out.properties[name] = out.properties[name].map { $0.merged(with: shape) } ?? shape
        }
        if kinds.contains(.object), other.kinds.contains(.object) {
            out.required = required.intersection(other.required)
        } else if other.kinds.contains(.object) {
            out.required = other.required
        }
        if let theirs = other.items { out.items = out.items.map { $0.merged(with: theirs) } ?? theirs }
        out.partialItems = partialItems || other.partialItems
        return out
    }
}

/// How much of an event discovery looks at, so that no event costs more than a bounded walk.
public struct ShapeLimits: Sendable, Hashable {
    /// Objects and arrays deeper than this are recorded by kind only.
    public var maxDepth = 12
    /// Places (values) one event's shape may hold; past it, further properties are not recorded.
    public var maxPlaces = 500
    /// Items of one array that are looked at.
    public var maxArrayItems = 50

    public init() {}
}

extension InferredShape {
    /// The shape of one value, within `limits`.
    public static func infer(_ value: JSONValue, limits: ShapeLimits = ShapeLimits()) -> InferredShape {
        var budget = limits.maxPlaces
        return infer(value, depth: 0, budget: &budget, limits: limits)
    }

    private static func infer(_ value: JSONValue, depth: Int, budget: inout Int, limits: ShapeLimits) -> InferredShape {
        budget -= 1
        switch value {
        case .null: return InferredShape(kinds: .null)
        case .bool: return InferredShape(kinds: .boolean)
        case .string: return InferredShape(kinds: .string)
        case .number(let text):
            let fractional = text.utf8.contains { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "e") || $0 == UInt8(ascii: "E") }
            return InferredShape(kinds: fractional ? .number : .integer)
        case .object(let object):
            var shape = InferredShape(kinds: .object)
            guard depth < limits.maxDepth else { return shape }
            for (name, member) in object {
                guard budget > 0 else { break }
                shape.properties[name] = infer(member, depth: depth + 1, budget: &budget, limits: limits)
                shape.required.insert(name)
            }
            return shape
        case .array(let array):
            var shape = InferredShape(kinds: .array)
            guard !array.isEmpty else { return shape }
            guard depth < limits.maxDepth else {
                shape.partialItems = true
                return shape
            }
            var looked = 0
            for element in array.prefix(limits.maxArrayItems) {
                guard budget > 0 else { break }
                let item = infer(element, depth: depth + 1, budget: &budget, limits: limits)
                shape.items = shape.items.map { $0.merged(with: item) } ?? item
                looked += 1
            }
            shape.partialItems = looked < array.count || shape.items?.partialItems == true
            return shape
        }
    }
}

extension InferredShape {
    /// The shape as JSON with sorted keys: what stores keep and what a version's identity is
    /// computed from, so every node names the same shape the same way.
    public var json: JSONValue {
        var out = JSONObject()
        out["kinds"] = .array(Kinds.named.filter { kinds.contains($0.0) }.map { .string($0.1) })
        if !properties.isEmpty {
            out["properties"] = .object(JSONObject(properties.keys.sorted().map { ($0, properties[$0]!.json) }))
        }
        if !required.isEmpty { out["required"] = .array(required.sorted().map(JSONValue.string)) }
        if let items { out["items"] = items.json }
        if partialItems { out["partialItems"] = .bool(true) }
        return .object(out)
    }

    /// Reads what `json` wrote; nil for anything else.
    public init?(json: JSONValue) {
        guard case .object(let object) = json, let names = object["kinds"]?.arrayValue else { return nil }
        var kinds: Kinds = []
        for name in names {
            guard let kind = Kinds.named.first(where: { $0.1 == name.stringValue })?.0 else { return nil }
            kinds.insert(kind)
        }
        self.init(kinds: kinds)
        if case .object(let members)? = object["properties"] {
            for (name, member) in members {
                guard let shape = InferredShape(json: member) else { return nil }
                properties[name] = shape
            }
        }
        required = Set((object["required"]?.arrayValue ?? []).compactMap(\.stringValue))
        if let items = object["items"] {
            guard let shape = InferredShape(json: items) else { return nil }
            self.items = shape
        }
        partialItems = object["partialItems"] == .bool(true)
    }

    /// A short digest of the shape: equal shapes, equal digests, on every node.
    public var digest: String {
        let hash = SHA256.hash(data: json.serialized())
        return hash.prefix(8).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
