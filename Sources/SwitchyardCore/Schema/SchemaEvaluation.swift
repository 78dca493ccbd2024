/// Checks a value against compiled nodes. With `collected` nil it only answers valid or not and
/// stops at the first failure; otherwise it collects up to `limit` violations.
struct SchemaEvaluation {
    let nodes: [SchemaNode]
    let limit: Int
    var collected: [SchemaViolation]?
    /// Deeper than this is a `$ref` cycle that never reaches a check (`{"$ref": "#"}`); twice the
    /// parser's nesting limit leaves room for a recursive schema walking the deepest event.
    static let maxDepth = 400
    private var depth = 0

    init(nodes: [SchemaNode], limit: Int, collecting: Bool) {
        self.nodes = nodes
        self.limit = limit
        collected = collecting ? [] : nil
    }

    /// Whether to stop at this failure: when only validity is asked, or the limit is reached.
    var stops: Bool { collected.map { $0.count >= limit } ?? true }

    mutating func check(_ node: Int, _ value: JSONValue, at path: [String]) -> Bool {
        switch nodes[node] {
        case .always(true), .pending: return true
        case .always(false):
            return report("false schema", path, "#", "boolean schema is false")
        case .checks(let checks):
            depth += 1
            defer { depth -= 1 }
            if depth > Self.maxDepth {
                return report("$ref", path, checks.first?.path ?? "#", "the schema's references nest more than \(Self.maxDepth) deep")
            }
            var valid = true
            for check in checks {
                if !self.check(check, value, at: path) {
                    valid = false
                    if stops { return false }
                }
            }
            return valid
        }
    }

    /// Records a violation (when collecting, under the limit); always false, the check's answer.
    mutating func report(_ keyword: String, _ path: [String], _ schemaPath: String, _ message: String, property: String? = nil) -> Bool {
        if let count = collected?.count, count < limit {
            collected!.append(
                SchemaViolation(
                    keyword: keyword,
                    instancePath: JSONPointer.string(path),
                    schemaPath: schemaPath,
                    message: message,
                    property: property
                )
            )
        }
        return false
    }

    /// Whether `value` is valid against `node`, reporting nothing (inside combinators).
    mutating func passes(_ node: Int, _ value: JSONValue, at path: [String]) -> Bool {
        let saved = collected
        collected = nil
        defer { collected = saved }
        return check(node, value, at: path)
    }

    private mutating func check(_ check: SchemaCheck, _ value: JSONValue, at path: [String]) -> Bool {
        let p = check.path
        func fail(_ keyword: String, _ message: String, property: String? = nil) -> Bool {
            report(keyword, path, p, message, property: property)
        }
        switch check.kind {
        case .ref(let target):
            return self.check(target, value, at: path)
        case .type(let types):
            if types.contains(where: { $0.admits(value) }) { return true }
            return fail("type", "must be " + types.map(\.rawValue).joined(separator: ","))
        case .enumeration(let options):
            return options.contains { schemaEqual($0, value) } || fail("enum", "must be equal to one of the allowed values")
        case .constant(let constant):
            return schemaEqual(constant, value) || fail("const", "must be equal to constant")
        case .format(let format):
            guard case .string(let s) = value else { return true }
            return format.accepts(s) || fail("format", "must match format \"\(format.rawValue)\"")
        case .multipleOf, .maximum, .minimum:
            guard case .number(let text) = value else { return true }
            return checkNumber(check, text, at: path)
        case .maxLength, .minLength, .pattern:
            guard case .string(let s) = value else { return true }
            return checkString(check, s, at: path)
        case .items, .tuple, .maxItems, .minItems, .uniqueItems, .contains:
            guard case .array(let items) = value else { return true }
            return checkArray(check, items, at: path)
        case .maxProperties, .minProperties, .required, .properties, .dependencies, .propertyNames:
            guard case .object(let object) = value else { return true }
            return checkObject(check, object, at: path)
        case .condition, .allOf, .anyOf, .oneOf, .not:
            return checkCombinator(check, value, at: path)
        }
    }

    private mutating func checkNumber(_ check: SchemaCheck, _ text: String, at path: [String]) -> Bool {
        func fail(_ keyword: String, _ message: String, _: String?) -> Bool { report(keyword, path, check.path, message) }
        let n = SchemaNumber.value(text)
        switch check.kind {
        case .multipleOf(let divisor):
            return SchemaNumber.isMultiple(text, of: divisor) || fail("multipleOf", "must be multiple of \(divisor)", nil)
        case .maximum(let limit, let exclusive):
            if exclusive { return n < limit || fail("exclusiveMaximum", "must be < \(format(limit))", nil) }
            return n <= limit || fail("maximum", "must be <= \(format(limit))", nil)
        case .minimum(let limit, let exclusive):
            if exclusive { return n > limit || fail("exclusiveMinimum", "must be > \(format(limit))", nil) }
            return n >= limit || fail("minimum", "must be >= \(format(limit))", nil)
        default: return true
        }
    }

    private func format(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    private mutating func checkString(_ check: SchemaCheck, _ s: String, at path: [String]) -> Bool {
        func fail(_ keyword: String, _ message: String, _: String?) -> Bool { report(keyword, path, check.path, message) }
        switch check.kind {
        case .maxLength(let max):
            return s.unicodeScalars.count <= max || fail("maxLength", "must NOT have more than \(max) characters", nil)
        case .minLength(let min):
            return s.unicodeScalars.count >= min || fail("minLength", "must NOT have fewer than \(min) characters", nil)
        case .pattern(let regex):
            return regex.matches(s) || fail("pattern", "must match pattern \"\(regex.source)\"", nil)
        default: return true
        }
    }
}
