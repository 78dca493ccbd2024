/// A text with `{{ path }}` placeholders over the event, like `{{ event }}` or
/// `order.{{ properties.status | "unknown" }}`. A missing value renders as its fallback, or as
/// nothing. Paths starting with `$` are the pipeline's variables (`TemplateScope.variables`).
/// Parsed once when the configuration loads, so a mistake is a config error.
public struct Template: Sendable, Hashable {
    enum Part: Sendable, Hashable {
        case literal(String)
        case value(path: String, fallback: String?)
    }

    let parts: [Part]
    public let source: String

    public var isLiteral: Bool { parts.allSatisfy { if case .literal = $0 { return true } else { return false } } }

    public struct ParseError: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public init(_ text: String) throws(ParseError) {
        source = text
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.literal(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw ParseError(description: "\"{{\" without a closing \"}}\" in \"\(text)\"")
            }
            let inner = rest[open.upperBound..<close.lowerBound]
            let pieces = inner.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
            let path = String(pieces[0]).trimmingWhitespace()
            guard !path.isEmpty, path.allSatisfy({ $0.isLetter || $0.isNumber || "._-$".contains($0) }) else {
                throw ParseError(description: "\"{{\(inner)}}\" is not a path like {{ event }} or {{ properties.category | \"default\" }}")
            }
            if path.hasPrefix("$"), !TemplateScope.variables.contains(path) {
                throw ParseError(
                    description: "\"{{\(inner)}}\" names no variable; templates know \(TemplateScope.variables.joined(separator: ", "))"
                )
            }
            var fallback: String?
            if pieces.count == 2 {
                let f = String(pieces[1]).trimmingWhitespace()
                guard f.count >= 2, (f.first == "\"" && f.last == "\"") || (f.first == "'" && f.last == "'") else {
                    throw ParseError(description: "the fallback in \"{{\(inner)}}\" must be quoted, like | \"other\"")
                }
                fallback = String(f.dropFirst().dropLast())
            }
            parts.append(.value(path: path, fallback: fallback))
            rest = rest[close.upperBound...]
        }
        if rest.contains("}}") { throw ParseError(description: "\"}}\" without an opening \"{{\" in \"\(text)\"") }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    /// The placeholders' paths when nothing else can give the text content for a message of this
    /// type: no literal text, no fallback, and every path starts at a field the type's spec lacks
    /// (`{{ event }}` on an identify). Nil when the template can render something.
    public func fieldsMissing(for type: MessageType) -> [String]? {
        var paths: [String] = []
        for part in parts {
            switch part {
            case .literal(let text):
                if !text.isEmpty { return nil }
            case .value(let path, let fallback):
                if fallback?.isEmpty == false || path.hasPrefix("$") { return nil }
                let field = path.split(separator: ".", maxSplits: 1).first.map(String.init) ?? path
                if type.hasField(field) { return nil }
                paths.append(path)
            }
        }
        return paths.isEmpty ? nil : paths
    }

    /// Renders against an event: strings as they are, numbers and booleans as text, objects and arrays as JSON.
    public func render(_ event: JSONValue) -> String {
        render(TemplateScope(event: event))
    }

    public func render(_ scope: TemplateScope) -> String {
        var out = ""
        for part in parts {
            switch part {
            case .literal(let text):
                out += text
            case .value(let path, let fallback):
                let text: String?
                switch scope.value(path) {
                case .string(let s)?: text = s
                case .number(let n)?: text = n
                case .bool(let b)?: text = b ? "true" : "false"
                case .null?, nil: text = nil
                case let other?: text = other.jsonString
                }
                out += (text?.isEmpty == false ? text : nil) ?? fallback ?? ""
            }
        }
        return out
    }
}

/// What placeholders read: the event's fields, and the variables the pipeline sets for it.
public struct TemplateScope: Sendable {
    public var event: JSONValue
    /// The destination rule the entry is made for (`$rule.name`, `$rule.action`).
    public var rule: RuleTag?
    /// When the template renders (`$now`); the current time when nil.
    public var now: Timestamp?

    /// The `$` paths a template may name.
    public static let variables = ["$rule.name", "$rule.action", "$now"]

    public init(event: JSONValue, rule: RuleTag? = nil, now: Timestamp? = nil) {
        self.event = event
        self.rule = rule
        self.now = now
    }

    public func value(_ path: String) -> JSONValue? {
        guard path.utf8.first == UInt8(ascii: "$") else { return event[path: path] }
        switch path {
        case "$rule.name": return rule.map { .string($0.name) }
        case "$rule.action": return rule.map { .string($0.action) }
        case "$now": return .string((now ?? .now()).rfc3339)
        default: return nil
        }
    }
}

/// The rule an entry is made for, as templates and destinations see it.
public struct RuleTag: Sendable, Hashable {
    public var name: String
    public var action: String

    public init(name: String, action: String) {
        self.name = name
        self.action = action
    }
}
