/// An Amazon EventBridge event pattern, with EventBridge's semantics and its validation: a
/// pattern that EventBridge would refuse is refused here with the reason EventBridge gives.
///
/// A pattern's fields must all match (AND); the values listed for a field are alternatives
/// (OR); `$or` lists alternative sub-patterns. A field matches the event's leaves at its dotted
/// path; an array in the event matches when any of its elements does, and fields of one pattern
/// must be satisfied by values from the same element of an array they share (EventBridge's array
/// consistency). Objects are never leaves: an object-valued field is "missing" to every operator.
public struct EventPattern: Sendable, Hashable {
    /// One alternative of the pattern (the product of its `$or`s): every field must match.
    struct Branch: Sendable, Hashable {
        var fields: [Field]
    }

    struct Field: Sendable, Hashable {
        var path: String
        /// Alternatives.
        var conditions: [Condition]

        var onlyAbsence: Bool { conditions.allSatisfy { if case .exists(false) = $0 { return true } else { return false } } }
    }

    let branches: [Branch]
    /// The pattern as written, for messages.
    public let source: JSONValue

    /// Rule combinations a pattern's `$or`s may make, as EventBridge counts them.
    public static let maxCombinations = 1000

    /// Why EventBridge would refuse a pattern; `description` is the reason it gives
    /// (`Event pattern is not valid. Reason: <description>`).
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }

        public init(_ reason: String) {
            self.reason = reason
        }
    }

    public init(json text: String) throws(Invalid) {
        let value: JSONValue
        do {
            value = try JSONParser.parse(Array(text.utf8))
        } catch {
            throw Invalid("the pattern is not valid JSON: \(error)")
        }
        try self.init(value)
    }

    public init(_ pattern: JSONValue) throws(Invalid) {
        guard case .object(let object) = pattern else { throw Invalid("Filter is not an object") }
        guard !object.isEmpty else { throw Invalid("Empty objects are not allowed") }
        source = pattern
        var branches = [Branch(fields: [])]
        try Self.compile(object, prefix: "", into: &branches)
        branches = branches.map { branch in
            // Fields that only ask for absence go last, so the others bind array elements first.
            Branch(fields: branch.fields.filter { !$0.onlyAbsence } + branch.fields.filter(\.onlyAbsence))
        }
        self.branches = branches
        try Self.checkComplexity(branches)
    }

    /// EventBridge refuses wildcard patterns whose matching would be too non-deterministic: the
    /// number of wildcard-pattern prefixes a worst-case value can match at once (event-ruler's
    /// `MachineComplexityEvaluator`, over the rule's wildcards on each field) may not pass this.
    public static let maxComplexity = 10

    static func checkComplexity(_ branches: [Branch]) throws(Invalid) {
        var byPath: [String: Set<Wildcard>] = [:]
        for branch in branches {
            for field in branch.fields {
                for condition in field.conditions {
                    switch condition {
                    case .wildcard(let w): byPath[field.path, default: []].insert(w)
                    case .anythingBut(.wildcards(let list)): byPath[field.path, default: []].formUnion(list)
                    default: continue
                    }
                }
            }
        }
        for wildcards in byPath.values where Wildcard.complexity(of: Array(wildcards), cap: maxComplexity + 1) > maxComplexity {
            throw Invalid(
                "Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character"
            )
        }
    }

    static func compile(_ object: JSONObject, prefix: String, into branches: inout [Branch]) throws(Invalid) {
        // A key written twice: the last one counts, as EventBridge reads it.
        var seen: [String: JSONValue] = [:]
        var order: [String] = []
        for (key, value) in object {
            if seen[key] == nil { order.append(key) }
            seen[key] = value
        }
        for key in order {
            let value = seen[key]!
            if key == "$or" {
                guard case .array(let alternatives) = value else { throw Invalid("It must be an Array followed with $or.") }
                guard alternatives.count >= 2 else { throw Invalid("There must have at least 2 Objects in $or relationship.") }
                var combined: [Branch] = []
                for alternative in alternatives {
                    guard case .object(let sub) = alternative else {
                        throw Invalid("Only JSON object is allowed in array of $or relationship.")
                    }
                    for reserved in ["prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"]
                    where sub[reserved] != nil {
                        throw Invalid("\(reserved) is Ruler reserved fieldName which cannot be used inside $or.")
                    }
                    guard !sub.isEmpty else { throw Invalid("Empty objects are not allowed") }
                    var alternativeBranches = branches
                    try compile(sub, prefix: prefix, into: &alternativeBranches)
                    combined += alternativeBranches
                    if combined.count > maxCombinations {
                        throw Invalid("the pattern's $or makes more than \(maxCombinations) rule combinations")
                    }
                }
                branches = combined
                continue
            }
            let path = prefix.isEmpty ? key : prefix + "." + key
            switch value {
            case .object(let nested):
                guard !nested.isEmpty else { throw Invalid("Empty objects are not allowed") }
                try compile(nested, prefix: path, into: &branches)
            case .array(let values):
                guard !values.isEmpty else { throw Invalid("Empty arrays are not allowed") }
                var conditions: [Condition] = []
                for value in values { conditions.append(try Condition(value)) }
                for n in branches.indices { branches[n].fields.append(Field(path: path, conditions: conditions)) }
            default:
                throw Invalid("\"\(key)\" must be an object or an array")
            }
        }
    }

    /// What matching an event found.
    public enum Match: Sendable, Hashable {
        case match
        /// `field` is the first field of the pattern that no value of the event satisfied.
        case noMatch(field: String)

        public var matched: Bool { self == .match }
    }

    public func matches(_ event: JSONValue) -> Bool {
        match(event).matched
    }

    public func match(_ event: JSONValue) -> Match {
        let leaves = Leaves(event)
        var firstMiss: String?
        for branch in branches {
            var deepest = -1
            var missed: String?
            if search(branch.fields, 0, context: [], leaves: leaves, deepest: &deepest, missed: &missed) { return .match }
            if firstMiss == nil { firstMiss = missed ?? branch.fields.first?.path }
        }
        return .noMatch(field: firstMiss ?? "")
    }

    /// Backtracking over the fields: each binds one leaf whose array elements agree with those
    /// the earlier fields bound.
    func search(
        _ fields: [Field],
        _ index: Int,
        context: [ArrayPosition],
        leaves: Leaves,
        deepest: inout Int,
        missed: inout String?
    ) -> Bool {
        if index == fields.count { return true }
        let field = fields[index]
        if index > deepest {
            deepest = index
            missed = field.path
        }
        let candidates = (leaves.byPath[field.path] ?? []).filter { Leaves.compatible(context, $0.context) }
        for condition in field.conditions {
            if case .exists(false) = condition {
                if candidates.isEmpty, search(fields, index + 1, context: context, leaves: leaves, deepest: &deepest, missed: &missed) {
                    return true
                }
            }
        }
        for leaf in candidates {
            for condition in field.conditions {
                switch condition {
                case .exists(true):
                    break
                case .exists(false):
                    continue
                default:
                    guard condition.matches(leaf.value) else { continue }
                }
                if search(fields, index + 1, context: context + leaf.context, leaves: leaves, deepest: &deepest, missed: &missed) {
                    return true
                }
            }
        }
        return false
    }
}

/// Where a leaf sits inside arrays: which array (numbered as met) and which element.
struct ArrayPosition: Sendable, Hashable {
    var array: Int
    var index: Int
}

/// An event's leaves (strings, numbers, booleans, null) by dotted path, each with the array
/// elements it sits in. Empty arrays and objects have none.
struct Leaves {
    struct Leaf {
        var value: JSONValue
        var context: [ArrayPosition]
    }

    private(set) var byPath: [String: [Leaf]] = [:]
    private var arrays = 0

    init(_ event: JSONValue) {
        collect(event, path: "", context: [])
    }

    private mutating func collect(_ node: JSONValue, path: String, context: [ArrayPosition]) {
        switch node {
        case .object(let object):
            for (key, value) in object { collect(value, path: path.isEmpty ? key : path + "." + key, context: context) }
        case .array(let elements):
            arrays += 1
            let id = arrays
            for (n, element) in elements.enumerated() {
                collect(element, path: path, context: context + [ArrayPosition(array: id, index: n)])
            }
        default:
            byPath[path, default: []].append(Leaf(value: node, context: context))
        }
    }

    /// Two leaves can be matched together unless they come from different elements of one array.
    static func compatible(_ a: [ArrayPosition], _ b: [ArrayPosition]) -> Bool {
        for x in a {
            for y in b where x.array == y.array && x.index != y.index { return false }
        }
        return true
    }
}
