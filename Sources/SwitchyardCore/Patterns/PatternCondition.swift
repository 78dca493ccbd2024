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
