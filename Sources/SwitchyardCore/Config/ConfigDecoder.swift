/// Decodes `Decodable` configuration structs from a `ConfigNode`. Unlike a plain YAML decoder it
/// knows where every value came from, so errors carry `file:line:column`, and it records which keys
/// each struct asked for, so a key nobody asked for is reported as unknown instead of ignored.
public final class ConfigDecoder {
    /// Keys asked for, per mapping (by its path in the document), to find the unknown ones afterwards.
    private var asked: [String: (node: ConfigNode, keys: Set<String>)] = [:]
    public private(set) var problems: [ConfigProblem] = []

    public init() {}

    /// Decodes a value, returning nil and recording the problem when it does not fit.
    public func decode<T: Decodable>(_ type: T.Type, from node: ConfigNode, path: [any CodingKey] = []) -> T? {
        do {
            return try T(from: NodeDecoder(node: node, codingPath: path, owner: self))
        } catch {
            report(error, root: node)
            return nil
        }
    }

    /// Records a problem; used by `Decodable` initialisers that keep going after a bad element.
    public func report(_ error: any Error, root: ConfigNode) {
        switch error {
        case let problem as ConfigProblem:
            problems.append(problem)
        case let error as DecodingError:
            problems.append(Self.problem(from: error, root: root))
        default:
            problems.append(ConfigProblem(location: root.location, message: "\(error)"))
        }
    }

    public func add(_ problem: ConfigProblem) {
        problems.append(problem)
    }

    /// Every key that no struct asked for, with a suggestion when it looks like a typo.
    public func unknownKeyProblems() -> [ConfigProblem] {
        var found: [ConfigProblem] = []
        for (path, record) in asked {
            guard case .mapping(let entries, _) = record.node else { continue }
            for entry in entries where !record.keys.contains(entry.key) {
                let place = path.isEmpty ? "at the top level" : "in \(path)"
                let known = record.keys.sorted()
                let hint = didYouMean(entry.key, known)
                let list = hint.isEmpty && !known.isEmpty ? " (known keys: \(known.joined(separator: ", ")))" : hint
                found.append(ConfigProblem(location: entry.keyLocation, message: "unknown key \"\(entry.key)\" \(place)\(list)"))
            }
        }
        return found.sorted { ($0.location?.line ?? 0, $0.location?.column ?? 0) < ($1.location?.line ?? 0, $1.location?.column ?? 0) }
    }

    func noteAsked(_ key: String, in node: ConfigNode, path: [any CodingKey]) {
        let name = Self.describe(path)
        if asked[name] == nil { asked[name] = (node, []) }
        asked[name]!.keys.insert(key)
    }

    func noteMapping(_ node: ConfigNode, path: [any CodingKey]) {
        let name = Self.describe(path)
        if asked[name] == nil { asked[name] = (node, []) }
    }

    static func describe(_ path: [any CodingKey]) -> String {
        var out = ""
        for key in path {
            if let i = key.intValue {
                out += "[\(i)]"
            } else {
                out += out.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return out
    }

    static func problem(from error: DecodingError, root: ConfigNode) -> ConfigProblem {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            return ConfigProblem(location: root.location(nearest: context.codingPath), message: context.debugDescription)
        case .keyNotFound(let key, let context):
            let at = describe(context.codingPath)
            return ConfigProblem(
                location: root.location(nearest: context.codingPath),
                message: "missing required key \"\(key.stringValue)\"\(at.isEmpty ? "" : " in \(at)")"
            )
        @unknown default:
            return ConfigProblem(location: root.location, message: "\(error)")
        }
    }
}

/// A key or list index in a path through the configuration (`ConfigNode.node(at:)`).
public struct IndexKey: CodingKey {
    public var stringValue: String
    public var intValue: Int?
    public init(_ i: Int) {
        stringValue = "\(i)"
        intValue = i
    }
    public init?(stringValue: String) {
        self.stringValue = stringValue
        intValue = Int(stringValue)
    }
    public init?(intValue: Int) { self.init(intValue) }
}

struct NodeDecoder: Decoder {
    let node: ConfigNode
    let codingPath: [any CodingKey]
    let owner: ConfigDecoder
    var userInfo: [CodingUserInfoKey: Any] { [.configDecoder: owner] }

    func problem(_ message: String) -> ConfigProblem {
        ConfigProblem(location: node.location, message: message)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .mapping(let entries, _) = node else {
            throw problem(
                "expected a mapping for \(ConfigDecoder.describe(codingPath).nonEmpty ?? "the document"), found \(node.kindDescription)"
            )
        }
        owner.noteMapping(node, path: codingPath)
        return KeyedDecodingContainer(KeyedContainer<Key>(node: node, entries: entries, codingPath: codingPath, owner: owner))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .sequence(let items, _) = node else {
            throw problem("expected a list for \(ConfigDecoder.describe(codingPath)), found \(node.kindDescription)")
        }
        return UnkeyedContainer(items: items, codingPath: codingPath, owner: owner)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleContainer(node: node, codingPath: codingPath, owner: owner)
    }
}

extension CodingUserInfoKey {
    /// Lets a `Decodable` initialiser reach the `ConfigDecoder` to record problems and keep going.
    public static let configDecoder = CodingUserInfoKey(rawValue: "switchyard.configDecoder")!
}

extension Decoder {
    /// The configuration decoder behind this decoder, when decoding configuration.
    public var configDecoder: ConfigDecoder? { userInfo[.configDecoder] as? ConfigDecoder }

    /// The node being decoded, so a plugin can keep its raw block.
    public var configNode: ConfigNode? { (self as? NodeDecoder)?.node }
}

extension String {
    var nonEmpty: String? { isEmpty ? nil : self }
}

private struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let node: ConfigNode
    let entries: [ConfigNode.Entry]
    let codingPath: [any CodingKey]
    let owner: ConfigDecoder

    var allKeys: [Key] { entries.compactMap { Key(stringValue: $0.key) } }

    func entry(_ key: Key) -> ConfigNode.Entry? {
        owner.noteAsked(key.stringValue, in: node, path: codingPath)
        return entries.first { $0.key == key.stringValue }
    }

    func contains(_ key: Key) -> Bool {
        entry(key) != nil
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        guard let e = entry(key) else { return true }
        return e.value.isNull
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        guard let e = entry(key) else {
            let at = ConfigDecoder.describe(codingPath)
            throw ConfigProblem(
                location: node.location,
                message: "missing required key \"\(key.stringValue)\"\(at.isEmpty ? "" : " in \(at)")"
            )
        }
        return try T(from: NodeDecoder(node: e.value, codingPath: codingPath + [key], owner: owner))
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let e = entry(key), !e.value.isNull else { return nil }
        return try T(from: NodeDecoder(node: e.value, codingPath: codingPath + [key], owner: owner))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        guard let e = entry(key) else {
            throw ConfigProblem(location: node.location, message: "missing required key \"\(key.stringValue)\"")
        }
        return try NodeDecoder(node: e.value, codingPath: codingPath + [key], owner: owner).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        guard let e = entry(key) else {
            throw ConfigProblem(location: node.location, message: "missing required key \"\(key.stringValue)\"")
        }
        return try NodeDecoder(node: e.value, codingPath: codingPath + [key], owner: owner).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        NodeDecoder(node: node, codingPath: codingPath, owner: owner)
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        guard let e = entry(key) else {
            throw ConfigProblem(location: node.location, message: "missing required key \"\(key.stringValue)\"")
        }
        return NodeDecoder(node: e.value, codingPath: codingPath + [key], owner: owner)
    }
}

private struct UnkeyedContainer: UnkeyedDecodingContainer {
    let items: [ConfigNode]
    let codingPath: [any CodingKey]
    let owner: ConfigDecoder
    var currentIndex = 0

    init(items: [ConfigNode], codingPath: [any CodingKey], owner: ConfigDecoder) {
        self.items = items
        self.codingPath = codingPath
        self.owner = owner
    }

    var count: Int? { items.count }
    var isAtEnd: Bool { currentIndex >= items.count }

    mutating func next() throws -> NodeDecoder {
        guard !isAtEnd else {
            throw ConfigProblem(location: items.last?.location, message: "list \(ConfigDecoder.describe(codingPath)) has too few items")
        }
        defer { currentIndex += 1 }
        return NodeDecoder(node: items[currentIndex], codingPath: codingPath + [IndexKey(currentIndex)], owner: owner)
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, items[currentIndex].isNull else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: next())
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next().container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next().unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        try next()
    }
}

private struct SingleContainer: SingleValueDecodingContainer {
    let node: ConfigNode
    let codingPath: [any CodingKey]
    let owner: ConfigDecoder

    var name: String { ConfigDecoder.describe(codingPath).nonEmpty ?? "value" }

    func scalar(_ expected: String) throws -> ConfigNode.Scalar {
        guard case .scalar(let s) = node, !node.isNull else {
            throw ConfigProblem(location: node.location, message: "expected \(expected) for \(name), found \(node.kindDescription)")
        }
        return s
    }

    func decodeNil() -> Bool { node.isNull }

    func decode(_ type: Bool.Type) throws -> Bool {
        let s = try scalar("true or false")
        switch s.value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw ConfigProblem(location: s.location, message: "expected true or false for \(name), found \"\(s.written)\"")
        }
    }

    func decode(_ type: String.Type) throws -> String {
        try scalar("a string").value
    }

    func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        let s = try scalar("a whole number")
        guard let v = T(s.value.replacingOccurrences(of: "_", with: "")) else {
            throw ConfigProblem(location: s.location, message: "expected a whole number for \(name), found \"\(s.written)\"")
        }
        return v
    }

    func decode(_ type: Double.Type) throws -> Double {
        let s = try scalar("a number")
        guard let v = Double(s.value) else {
            throw ConfigProblem(location: s.location, message: "expected a number for \(name), found \"\(s.written)\"")
        }
        return v
    }

    func decode(_ type: Float.Type) throws -> Float { Float(try decode(Double.self)) }
    func decode(_ type: Int.Type) throws -> Int { try integer(type) }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer(type) }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer(type) }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer(type) }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer(type) }
    func decode(_ type: UInt.Type) throws -> UInt { try integer(type) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer(type) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer(type) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer(type) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer(type) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: NodeDecoder(node: node, codingPath: codingPath, owner: owner))
    }
}
