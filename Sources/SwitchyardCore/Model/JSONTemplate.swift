/// A JSON document whose strings may be templates over the event, as EventBridge's input
/// transformers map an event: `{"agent": "{{ userId }}", "state": "{{ properties.state | \"unknown\" }}"}`.
/// A string that is only one placeholder keeps the value's JSON type (a number stays a number,
/// an object stays an object); when that value is missing it becomes the fallback (a string) if
/// one is given, else `null`. Placeholders inside longer text render as text, a missing value as
/// its fallback or nothing.
public struct JSONTemplate: Sendable, Hashable {
    indirect enum Node: Sendable, Hashable {
        case literal(JSONValue)
        case text(Template)
        case value(path: String, fallback: String?)
        case object([Entry])
        case array([Node])
    }

    struct Entry: Sendable, Hashable {
        var key: String
        var node: Node
    }

    let root: Node

    public init(_ value: JSONValue) throws(Template.ParseError) {
        root = try Self.compile(value)
    }

    static func compile(_ value: JSONValue) throws(Template.ParseError) -> Node {
        switch value {
        case .string(let s):
            guard s.contains("{{") || s.contains("}}") else { return .literal(value) }
            let template = try Template(s)
            if template.parts.count == 1, case .value(let path, let fallback) = template.parts[0] {
                return .value(path: path, fallback: fallback)
            }
            return .text(template)
        case .array(let items):
            var nodes: [Node] = []
            for item in items { nodes.append(try compile(item)) }
            return .array(nodes)
        case .object(let object):
            var entries: [Entry] = []
            for (key, item) in object { entries.append(Entry(key: key, node: try compile(item))) }
            return .object(entries)
        default:
            return .literal(value)
        }
    }

    public func render(_ event: JSONValue) -> JSONValue {
        Self.render(root, TemplateScope(event: event))
    }

    public func render(_ scope: TemplateScope) -> JSONValue {
        Self.render(root, scope)
    }

    /// Whether the document is a JSON object (what EventBridge's `Detail` must be).
    public var isObject: Bool {
        if case .object = root { return true }
        return false
    }

    /// Whether a top-level key is set by the template itself.
    public func setsKey(_ key: String) -> Bool {
        guard case .object(let entries) = root else { return false }
        return entries.contains { $0.key == key }
    }

    static func render(_ node: Node, _ scope: TemplateScope) -> JSONValue {
        switch node {
        case .literal(let value): return value
        case .text(let template): return .string(template.render(scope))
        case .value(let path, let fallback):
            if let value = scope.value(path), !value.isNull { return value }
            return fallback.map { .string($0) } ?? .null
        case .array(let items): return .array(items.map { render($0, scope) })
        case .object(let entries): return .object(JSONObject(entries.map { ($0.key, render($0.node, scope)) }))
        }
    }
}
