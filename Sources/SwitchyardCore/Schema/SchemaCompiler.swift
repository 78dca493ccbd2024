/// Turns a schema document into `SchemaNode`s: checks each keyword's value (a plan that is not
/// valid JSON Schema is refused with its place), resolves `$ref`s and compiles patterns.
struct SchemaCompiler {
    /// A subschema in its document: where `$ref`s inside it resolve from, and where it sits.
    struct Location {
        var value: JSONValue
        var base: String
        var document: String
        var pointer: [String]
    }

    private(set) var nodes: [SchemaNode] = []
    private var compiled: [String: Int] = [:]
    private var ids: [String: Location] = [:]
    private let remotes: [String: JSONValue]
    private var registeredRemotes: Set<String> = []
    private let root: Location

    init(document: JSONValue, remotes: [String: JSONValue]) {
        root = Location(value: document, base: "", document: "", pointer: [])
        self.remotes = remotes
        registerIds(in: root)
    }

    mutating func compileRoot() throws(JSONSchemaError) -> Int {
        try compile(root)
    }

    /// Records every `$id` in the document, so `$ref`s can name them.
    private mutating func registerIds(in location: Location) {
        var location = location
        guard case .object(let object) = location.value else { return }
        if object["$ref"] == nil, case .string(let id)? = object["$id"] {
            location.base = SchemaURI.resolve(id, against: location.base)
            if ids[location.base] == nil { ids[location.base] = location }
        }
        for (keyword, value) in object {
            let child = { (tokens: [String], v: JSONValue) -> Location in
                Location(value: v, base: location.base, document: location.document, pointer: location.pointer + tokens)
            }
            switch keyword {
            case "items" where value.arrayValue != nil, "allOf", "anyOf", "oneOf":
                for (i, item) in (value.arrayValue ?? []).enumerated() { registerIds(in: child([keyword, String(i)], item)) }
            case "items", "additionalItems", "additionalProperties", "contains", "propertyNames", "if", "then", "else", "not":
                registerIds(in: child([keyword], value))
            case "properties", "patternProperties", "definitions", "dependencies":
                for (name, item) in value.objectValue ?? JSONObject() where item.arrayValue == nil {
                    registerIds(in: child([keyword, name], item))
                }
            default: break
            }
        }
    }

    private func fail(_ location: Location, _ tokens: [String] = [], _ reason: String) -> JSONSchemaError {
        let pointer = JSONPointer.string(location.pointer + tokens)
        return JSONSchemaError(path: location.document.isEmpty ? pointer : location.document + "#" + pointer, reason: reason)
    }

    func schemaPath(_ location: Location, _ tokens: [String]) -> String {
        "#" + JSONPointer.string(location.pointer + tokens)
    }

    mutating func compile(_ location: Location) throws(JSONSchemaError) -> Int {
        let key = location.document + "#" + JSONPointer.string(location.pointer)
        if let done = compiled[key] { return done }
        let index = nodes.count
        nodes.append(.pending)
        compiled[key] = index
        switch location.value {
        case .bool(let b): nodes[index] = .always(b)
        case .object(let object):
            var location = location
            if let ref = object["$ref"] {
                guard case .string(let reference) = ref else { throw fail(location, ["$ref"], "$ref must be a string") }
                let target = try resolve(reference, from: location)
                nodes[index] = .checks([SchemaCheck(path: schemaPath(location, ["$ref"]), kind: .ref(try compile(target)))])
                return index
            }
            if let id = object["$id"] {
                guard case .string(let s) = id else { throw fail(location, ["$id"], "$id must be a string") }
                location.base = SchemaURI.resolve(s, against: location.base)
            }
            nodes[index] = .checks(try checks(object, at: location))
        default:
            throw fail(location, [], "a schema must be an object or a boolean, not \(location.value.schemaTypeName)")
        }
        return index
    }

    /// The subschema `reference` names, seen from `location`.
    private mutating func resolve(_ reference: String, from location: Location) throws(JSONSchemaError) -> Location {
        let uri = SchemaURI.resolve(reference, against: location.base)
        if let known = ids[uri] { return known }
        let (document, fragment) = SchemaURI.split(uri)
        var start: Location
        if let known = ids[document] {
            start = known
        } else if document == root.base || document.isEmpty {
            start = root
        } else if let remote = remotes[document] {
            start = Location(value: remote, base: document, document: document, pointer: [])
            if registeredRemotes.insert(document).inserted { registerIds(in: start) }
            if let known = ids[uri] { return known }
        } else {
            throw fail(
                location,
                ["$ref"],
                "$ref \"\(reference)\" names \(document), which is not in this schema (Switchyard does not fetch schemas)"
            )
        }
        guard let fragment, !fragment.isEmpty else { return start }
        guard let tokens = JSONPointer.tokens(fragment) else {
            throw fail(location, ["$ref"], "$ref \"\(reference)\": no subschema has $id \"#\(fragment)\"")
        }
        for token in tokens {
            if case .object(let object) = start.value, object["$ref"] == nil, case .string(let id)? = object["$id"], !start.pointer.isEmpty
            {
                start.base = SchemaURI.resolve(id, against: start.base)
            }
            let next: JSONValue?
            switch start.value {
            case .object(let object): next = object[token]
            case .array(let array): next = Int(token).flatMap { array.indices.contains($0) ? array[$0] : nil }
            default: next = nil
            }
            guard let next else { throw fail(location, ["$ref"], "$ref \"\(reference)\" points to nothing") }
            start.value = next
            start.pointer.append(token)
        }
        return start
    }

    private func child(_ location: Location, _ tokens: [String], _ value: JSONValue) -> Location {
        Location(value: value, base: location.base, document: location.document, pointer: location.pointer + tokens)
    }

    mutating func sub(_ location: Location, _ tokens: [String], _ value: JSONValue) throws(JSONSchemaError) -> Int {
        try compile(child(location, tokens, value))
    }

    mutating func subs(_ location: Location, _ keyword: String, _ value: JSONValue) throws(JSONSchemaError) -> [Int] {
        guard case .array(let items) = value, !items.isEmpty else {
            throw fail(location, [keyword], "\(keyword) must be a non-empty array of schemas")
        }
        var out: [Int] = []
        for (i, item) in items.enumerated() { out.append(try sub(location, [keyword, String(i)], item)) }
        return out
    }

    func count(_ location: Location, _ keyword: String, _ value: JSONValue) throws(JSONSchemaError) -> Int {
        guard case .number(let text) = value, SchemaNumber.isInteger(text), let n = Double(text), n >= 0 else {
            throw fail(location, [keyword], "\(keyword) must be a non-negative integer")
        }
        return n > Double(Int.max) ? Int.max : Int(n)
    }

    func number(_ location: Location, _ keyword: String, _ value: JSONValue) throws(JSONSchemaError) -> Double {
        guard case .number(let text) = value else { throw fail(location, [keyword], "\(keyword) must be a number") }
        return SchemaNumber.value(text)
    }

    func regex(_ location: Location, _ tokens: [String], _ pattern: String) throws(JSONSchemaError) -> SchemaRegex {
        do {
            return try SchemaRegex(pattern)
        } catch {
            throw fail(location, tokens, "pattern \"\(pattern)\" is not usable: \(error)")
        }
    }

    func path(_ location: Location, _ keyword: String) -> String { schemaPath(location, [keyword]) }
    func failure(_ location: Location, _ keyword: String, _ reason: String) -> JSONSchemaError { fail(location, [keyword], reason) }
}
