/// A JSON document that keeps what the client sent: object keys stay in their original order and
/// numbers keep their original text, so an event can be forwarded to a destination byte-for-byte.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    /// The number's literal text, already checked against the JSON grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    case object(JSONObject)

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// A number written as a whole number (`42`, not `42.0` or `4e1`), as stored documents write counts and ids.
    public var integerValue: Int? {
        if case .number(let text) = self { return Int(text) }
        return nil
    }

    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// Reads a dotted path such as `properties.category`; nil when any step is missing.
    ///
    /// Takes a `String`, not any `StringProtocol`: a generic subscript called from another module
    /// resolved type metadata at run time on every entry a destination built.
    public subscript(path path: String) -> JSONValue? {
        if case .object(let object) = self, !path.utf8.contains(UInt8(ascii: ".")) { return object[path] }
        var current = self
        for part in path.split(separator: ".", omittingEmptySubsequences: false) {
            switch current {
            case .object(let object):
                guard let next = object[String(part)] else { return nil }
                current = next
            case .array(let array):
                guard let index = Int(part), array.indices.contains(index) else { return nil }
                current = array[index]
            default:
                return nil
            }
        }
        return current
    }
}

/// An ordered JSON object. Lookups are linear, which beats hashing for the dozen keys an event has.
public struct JSONObject: Sendable, Hashable, Sequence {
    public typealias Element = (key: String, value: JSONValue)

    public private(set) var keys: [String]
    public private(set) var values: [JSONValue]

    public init() {
        keys = []
        values = []
    }

    public init(_ pairs: [(String, JSONValue)]) {
        self.init()
        keys.reserveCapacity(pairs.count)
        values.reserveCapacity(pairs.count)
        for (key, value) in pairs { self[key] = value }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }

    public func index(of key: String) -> Int? {
        // Comparing lengths first skips the out-of-line string comparison for nearly every key.
        let length = key.utf8.count
        return keys.firstIndex { $0.utf8.count == length && $0 == key }
    }

    /// Setting an existing key replaces its value in place; a new key goes at the end, as a client's
    /// JSON library would write it. Setting nil removes the key.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let i = index(of: key) else { return nil }
            return values[i]
        }
        set {
            if let i = index(of: key) {
                if let newValue {
                    values[i] = newValue
                } else {
                    keys.remove(at: i)
                    values.remove(at: i)
                }
            } else if let newValue {
                keys.append(key)
                values.append(newValue)
            }
        }
    }

    /// Appends without looking for an existing key; only for parsers that already know the key is new.
    mutating func appendUnchecked(_ key: String, _ value: JSONValue) {
        keys.append(key)
        values.append(value)
    }

    public func makeIterator() -> AnyIterator<Element> {
        var i = 0
        return AnyIterator {
            guard i < keys.count else { return nil }
            defer { i += 1 }
            return (keys[i], values[i])
        }
    }
}
