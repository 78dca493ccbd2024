extension EventPattern {
    /// One alternative for a field's value: a literal or one of EventBridge's operators.
    enum Condition: Sendable, Hashable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        case prefix(String, ignoringCase: Bool)
        case suffix(String, ignoringCase: Bool)
        case equalsIgnoreCase(String)
        case wildcard(Wildcard)
        case numeric([NumericBound])
        case exists(Bool)
        case cidr(CIDR)
        case anythingBut(AnythingBut)

        enum NumericOperator: String, Sendable, Hashable {
            case equal = "="
            case less = "<"
            case lessOrEqual = "<="
            case greater = ">"
            case greaterOrEqual = ">="
        }

        struct NumericBound: Sendable, Hashable {
            var op: NumericOperator
            var value: Double

            func admits(_ x: Double) -> Bool {
                switch op {
                case .equal: return x == value
                case .less: return x < value
                case .lessOrEqual: return x <= value
                case .greater: return x > value
                case .greaterOrEqual: return x >= value
                }
            }
        }

        enum AnythingBut: Sendable, Hashable {
            case strings([String])
            case numbers([Double])
            case prefixes([String])
            case suffixes([String])
            case equalsIgnoreCase([String])
            case wildcards([Wildcard])
        }

        // MARK: Reading a pattern

        init(_ value: JSONValue) throws(EventPattern.Invalid) {
            switch value {
            case .string(let s): self = .string(s)
            case .number(let n): self = .number(Double(n) ?? .nan)
            case .bool(let b): self = .bool(b)
            case .null: self = .null
            case .array: throw Invalid("Match value must be String, number, true, false, or null")
            case .object(let object):
                guard let (op, argument) = object.first(where: { _ in true }) else { throw Invalid("Match expression name not found") }
                guard object.count == 1 else {
                    throw Invalid(
                        op == "numeric" || op == "anything-but"
                            ? "Too many elements in numeric expression" : "Only one key allowed in match expression"
                    )
                }
                self = try Self.operator(op, argument)
            }
        }

        static func string(_ value: JSONValue, _ message: String) throws(Invalid) -> String {
            guard case .string(let s) = value else { throw Invalid(message) }
            return s
        }

        static func `operator`(_ op: String, _ argument: JSONValue) throws(Invalid) -> Condition {
            switch op {
            case "prefix", "suffix":
                let text: String
                var ignoringCase = false
                if case .object(let inner) = argument {
                    guard inner.count == 1, let value = inner["equals-ignore-case"] else {
                        throw Invalid("Unsupported \(op) pattern: \(argument.jsonString)")
                    }
                    text = try string(value, "equals-ignore-case match pattern must be a string")
                    ignoringCase = true
                } else {
                    text = try string(argument, "\(op) match pattern must be a string")
                }
                return op == "prefix" ? .prefix(text, ignoringCase: ignoringCase) : .suffix(text, ignoringCase: ignoringCase)
            case "equals-ignore-case":
                return .equalsIgnoreCase(try string(argument, "equals-ignore-case match pattern must be a string"))
            case "wildcard":
                return .wildcard(try Wildcard(try string(argument, "wildcard match pattern must be a string")))
            case "exists":
                guard case .bool(let b) = argument else { throw Invalid("exists match pattern must be either true or false.") }
                return .exists(b)
            case "cidr":
                // EventBridge names the prefix matcher here: it reads CIDRs through it.
                return .cidr(try CIDR(try string(argument, "prefix match pattern must be a string")))
            case "numeric":
                return .numeric(try numericBounds(argument))
            case "anything-but":
                return .anythingBut(try anythingBut(argument))
            default:
                throw Invalid("Unrecognized match type \(op)")
            }
        }

        static func numericBounds(_ argument: JSONValue) throws(Invalid) -> [NumericBound] {
            guard case .array(let terms) = argument else { throw Invalid("Value of numeric must be an array.") }
            guard case .string(let first)? = terms.first else {
                throw Invalid("Invalid member in numeric match: \(terms.first?.jsonString ?? "]")")
            }
            guard let op = NumericOperator(rawValue: first) else { throw Invalid("Unrecognized numeric range operator: \(first)") }
            func number(at n: Int, for op: NumericOperator) throws(Invalid) -> Double {
                let name = op == .equal ? "equals" : op.rawValue
                guard n < terms.count, case .number(let text) = terms[n], let value = Double(text) else {
                    throw Invalid("Value of \(name) must be numeric")
                }
                // Too large, or so small it rounds to zero: not a number EventBridge can compare.
                let mantissa = text.prefix { $0 != "e" && $0 != "E" }
                guard value.isFinite, value != 0 || !mantissa.contains(where: { ("1"..."9").contains($0) }) else {
                    throw Invalid("Cannot compare number : \(text)")
                }
                return value
            }
            let low = NumericBound(op: op, value: try number(at: 1, for: op))
            if terms.count == 2 { return [low] }
            guard op == .greater || op == .greaterOrEqual else { throw Invalid("Too many elements in numeric expression") }
            guard case .string(let second) = terms[2] else { throw Invalid("Invalid member in numeric match: \(terms[2].jsonString)") }
            guard let top = NumericOperator(rawValue: second), top == .less || top == .lessOrEqual else {
                throw Invalid("Bad numeric range operator: \(second)")
            }
            let high = NumericBound(op: top, value: try number(at: 3, for: top))
            guard terms.count == 4 else { throw Invalid("Too many terms in numeric range expression") }
            guard low.value < high.value else { throw Invalid("Bottom must be less than top") }
            return [low, high]
        }

        static func anythingBut(_ argument: JSONValue) throws(Invalid) -> AnythingBut {
            switch argument {
            case .string(let s): return .strings([s])
            case .number(let n): return .numbers([Double(n) ?? .nan])
            case .array(let values):
                var strings: [String] = []
                var numbers: [Double] = []
                for value in values {
                    switch value {
                    case .string(let s): strings.append(s)
                    case .number(let n): numbers.append(Double(n) ?? .nan)
                    default: throw Invalid("Inside anything but list, start|null|boolean is not supported.")
                    }
                }
                guard strings.isEmpty != numbers.isEmpty else {
                    throw Invalid("Inside anything but list, either all values are number or string, mixed type is not supported")
                }
                return strings.isEmpty ? .numbers(numbers) : .strings(strings)
            case .object(let inner):
                guard inner.count == 1, let (op, value) = inner.first(where: { _ in true }) else {
                    throw Invalid("Value of anything-but must be an array or single string/number value.")
                }
                func texts(_ kind: String) throws(Invalid) -> [String] {
                    let items: [JSONValue]
                    if case .array(let list) = value { items = list } else { items = [value] }
                    var out: [String] = []
                    for item in items {
                        guard case .string(let s) = item else {
                            throw Invalid(
                                kind == "equals-ignore-case"
                                    ? "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported."
                                    : "\(kind) match pattern must be a string"
                            )
                        }
                        out.append(s)
                    }
                    return out
                }
                switch op {
                case "prefix", "suffix":
                    if case .object = value { throw Invalid("Value of anything-but must be an array or single string/number value.") }
                    let list = try texts("prefix/suffix")
                    if list.contains("") { throw Invalid("Null prefix/suffix not allowed") }
                    return op == "prefix" ? .prefixes(list) : .suffixes(list)
                case "equals-ignore-case":
                    return .equalsIgnoreCase(try texts("equals-ignore-case"))
                case "wildcard":
                    var wildcards: [Wildcard] = []
                    for text in try texts("wildcard") { wildcards.append(try Wildcard(text)) }
                    return .wildcards(wildcards)
                default:
                    throw Invalid("Unsupported anything-but pattern: \(op)")
                }
            default:
                throw Invalid("Value of anything-but must be an array or single string/number value.")
            }
        }

        // MARK: Matching one leaf

        func matches(_ value: JSONValue) -> Bool {
            switch self {
            case .string(let s):
                guard case .string(let v) = value else { return false }
                if v == s { return true }
                // An address written another way is the same address (IPv6's zero runs, say).
                guard let a = IPAddress(s), let b = IPAddress(v) else { return false }
                return a == b
            case .number(let n):
                guard case .number(let text) = value, let v = Double(text) else { return false }
                return v == n
            case .bool(let b):
                return value == .bool(b)
            case .null:
                return value == .null
            case .prefix(let p, let ignoringCase):
                guard case .string(let v) = value else { return false }
                return ignoringCase ? v.lowercased().hasPrefix(p.lowercased()) : v.unicodeScalars.starts(with: p.unicodeScalars)
            case .suffix(let p, let ignoringCase):
                guard case .string(let v) = value else { return false }
                return ignoringCase
                    ? v.lowercased().hasSuffix(p.lowercased()) : v.unicodeScalars.reversed().starts(with: p.unicodeScalars.reversed())
            case .equalsIgnoreCase(let s):
                guard case .string(let v) = value else { return false }
                return v.lowercased() == s.lowercased()
            case .wildcard(let w):
                guard case .string(let v) = value else { return false }
                return w.matches(v)
            case .numeric(let bounds):
                guard case .number(let text) = value, let v = Double(text) else { return false }
                return bounds.allSatisfy { $0.admits(v) }
            case .exists:
                return true
            case .cidr(let range):
                guard case .string(let v) = value, let address = IPAddress(v) else { return false }
                return range.contains(address)
            case .anythingBut(let excluded):
                return Self.anythingBut(excluded, admits: value)
            }
        }

        static func anythingBut(_ excluded: AnythingBut, admits value: JSONValue) -> Bool {
            switch excluded {
            case .strings(let list):
                if case .string(let v) = value { return !list.contains(v) }
                return true
            case .numbers(let list):
                if case .number(let text) = value, let v = Double(text) { return !list.contains(v) }
                return true
            case .prefixes(let list):
                guard case .string(let v) = value else { return true }
                return !list.contains { v.unicodeScalars.starts(with: $0.unicodeScalars) }
            case .suffixes(let list):
                guard case .string(let v) = value else { return true }
                return !list.contains { v.unicodeScalars.reversed().starts(with: $0.unicodeScalars.reversed()) }
            case .equalsIgnoreCase(let list):
                guard case .string(let v) = value else { return true }
                return !list.contains { $0.lowercased() == v.lowercased() }
            case .wildcards(let list):
                guard case .string(let v) = value else { return true }
                return !list.contains { $0.matches(v) }
            }
        }
    }
}

/// A `wildcard` operand: `*` stands for any run of characters (none included), `\*` for a star
/// and `\\` for a backslash.
struct Wildcard: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case literal([Unicode.Scalar])
        case star
    }

    let pieces: [Piece]

    init(_ text: String) throws(EventPattern.Invalid) {
        var pieces: [Piece] = []
        var literal: [Unicode.Scalar] = []
        var escapedAt: Int?
        var previousStar = false
        // Positions as EventBridge reports them: UTF-8 byte offsets in the quoted JSON string.
        var position = 1
        for c in text.unicodeScalars {
            defer { position += String(c).utf8.count }
            if let backslash = escapedAt {
                guard c == "*" || c == "\\" else { throw EventPattern.Invalid("Invalid escape character at pos \(backslash)") }
                literal.append(c)
                escapedAt = nil
                previousStar = false
                continue
            }
            switch c {
            case "\\":
                escapedAt = position
            case "*":
                if previousStar { throw EventPattern.Invalid("Consecutive wildcard characters at pos \(position - 1)") }
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = []
                pieces.append(.star)
                previousStar = true
                continue
            default:
                literal.append(c)
            }
            previousStar = false
        }
        if let backslash = escapedAt { throw EventPattern.Invalid("Invalid escape character at pos \(backslash)") }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// The most prefixes of these patterns (a prefix being the pattern cut after a literal
    /// character or a star, as event-ruler counts them) that one input can match at the same time,
    /// found by walking the patterns' joint subset automaton; stops counting at `cap`.
    static func complexity(of patterns: [Wildcard], cap: Int) -> Int {
        // Each pattern as tokens: a scalar, or nil for a star.
        let tokens: [[Unicode.Scalar?]] = patterns.map { w in
            w.pieces.flatMap { piece -> [Unicode.Scalar?] in
                switch piece {
                case .star: return [nil]
                case .literal(let scalars): return scalars.map { Optional($0) }
                }
            }
        }
        // A state: per pattern, the set of positions (tokens consumed) reachable.
        func close(_ set: Set<Int>, _ t: [Unicode.Scalar?]) -> Set<Int> {
            var out = set
            var stack = Array(set)
            while let k = stack.popLast() {
                if k < t.count, t[k] == nil, out.insert(k + 1).inserted { stack.append(k + 1) }
            }
            return out
        }
        func size(_ state: [Set<Int>]) -> Int { state.reduce(0) { $0 + $1.subtracting([0]).count } }
        var alphabet = Set<Unicode.Scalar?>(tokens.flatMap { $0 }.compactMap { $0 }.map { Optional($0) })
        alphabet.insert(Unicode.Scalar(0))  // a character no pattern names
        let start = tokens.map { close([0], $0) }
        var seen: Set<[Set<Int>]> = [start]
        var queue = [start]
        var worst = size(start)
        while let state = queue.popLast(), seen.count < 100_000 {
            for c in alphabet {
                var next: [Set<Int>] = []
                for (n, t) in tokens.enumerated() {
                    var moved = Set<Int>()
                    for k in state[n] {
                        if k > 0, t[k - 1] == nil { moved.insert(k) }
                        if k < t.count, let s = t[k], s == c { moved.insert(k + 1) }
                    }
                    next.append(close(moved, t))
                }
                guard next.contains(where: { !$0.isEmpty }), seen.insert(next).inserted else { continue }
                worst = max(worst, size(next))
                if worst >= cap { return worst }
                queue.append(next)
            }
        }
        return worst
    }

    /// Greedy matching with backtracking to the last star, linear in practice.
    func matches(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        // Expand to one scalar per step for the classic two-pointer glob match.
        var p: [Unicode.Scalar?] = []  // nil is a star
        for piece in pieces {
            switch piece {
            case .star: p.append(nil)
            case .literal(let scalars): p += scalars.map { Optional($0) }
            }
        }
        var i = 0
        var j = 0
        var star = -1
        var mark = 0
        while i < s.count {
            if j < p.count, let c = p[j], c == s[i] {
                i += 1
                j += 1
            } else if j < p.count, p[j] == nil {
                star = j
                mark = i
                j += 1
            } else if star >= 0 {
                j = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while j < p.count, p[j] == nil { j += 1 }
        return j == p.count
    }
}

/// An IPv4 or IPv6 address, as 4 or 16 bytes.
struct IPAddress: Sendable, Hashable {
    let bytes: [UInt8]

    init?(_ text: String) {
        if let v4 = Self.v4(Substring(text)) {
            bytes = v4
        } else if let v6 = Self.v6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    static func v4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(part), n <= 255 else {
                return nil
            }
            out.append(UInt8(n))
        }
        return out
    }

    static func v6(_ text: String) -> [UInt8]? {
        guard text.contains(":"), text.utf8.count <= 45 else { return nil }
        let halves = text.components(separatedByString: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (n, part) in parts.enumerated() {
                if n == parts.count - 1, part.contains("."), let v4 = v4(part) {
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard (1...4).contains(part.count), let g = UInt16(part, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// A `cidr` operand: an address and a number of leading bits (the address need not be the
/// network's own).
struct CIDR: Sendable, Hashable {
    let network: IPAddress
    let bits: Int

    init(_ text: String) throws(EventPattern.Invalid) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw EventPattern.Invalid("Malformed CIDR, one '/' required") }
        guard let bits = Int(parts[1]) else { throw EventPattern.Invalid("Malformed CIDR, mask bits must be an integer") }
        guard let address = IPAddress(String(parts[0])) else { throw EventPattern.Invalid("Nonstandard IP address: \(parts[0])") }
        guard bits >= 0 else { throw EventPattern.Invalid("Malformed CIDR, mask bits must not be negative") }
        guard bits <= address.bytes.count * 8 else {
            throw EventPattern.Invalid(address.bytes.count == 4 ? "IPv4 mask bits must be < 32" : "IPv6 mask bits must be < 128")
        }
        network = address
        self.bits = bits
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = bits
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if a & mask != b & mask { return false }
            remaining -= take
        }
        return true
    }
}

extension String {
    /// Splits on a separator string (no Foundation here).
    func components(separatedByString separator: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            out.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
