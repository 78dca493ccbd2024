/// A JSON Schema (draft-07, the draft RudderStack's and Segment's tracking plans are written in),
/// compiled once and then checked against any number of values. `$ref`s are resolved when it is
/// compiled, within the document or the `remotes` given; nothing is fetched.
public struct JSONSchema: Sendable {
    let nodes: [SchemaNode]
    let root: Int

    /// Compiles `document`; `remotes` are other documents by absolute URI (`$ref` may name them).
    public init(_ document: JSONValue, remotes: [String: JSONValue] = [:]) throws(JSONSchemaError) {
        var compiler = SchemaCompiler(document: document, remotes: remotes)
        root = try compiler.compileRoot()
        nodes = compiler.nodes
    }

    /// Every violation of the schema by `instance` (at most `limit`), in document order; empty when
    /// it is valid. Inside `anyOf`, `oneOf`, `not`, `if` and `contains` only the combinator's own
    /// failure is reported, as Ajv's `allErrors` does.
    public func validate(_ instance: JSONValue, limit: Int = 100) -> [SchemaViolation] {
        var evaluation = SchemaEvaluation(nodes: nodes, limit: limit, collecting: true)
        _ = evaluation.check(root, instance, at: [])
        return evaluation.collected ?? []
    }

    /// Whether `instance` is valid, stopping at the first violation.
    public func isValid(_ instance: JSONValue) -> Bool {
        var evaluation = SchemaEvaluation(nodes: nodes, limit: 0, collecting: false)
        return evaluation.check(root, instance, at: [])
    }
}

/// One way a value breaks a schema, in the terms Ajv (and so RudderStack) reports.
public struct SchemaViolation: Sendable, Hashable, Codable {
    /// The JSON Schema keyword that failed (`required`, `type`, `additionalProperties`, …).
    public var keyword: String
    /// Where in the value, as a JSON Pointer (`/properties/total`).
    public var instancePath: String
    /// Where in the schema (`#/properties/properties/required`).
    public var schemaPath: String
    /// Ajv's message (`must have required property 'total'`).
    public var message: String
    /// The property a `required`, `additionalProperties` or `dependencies` violation is about.
    public var property: String?

    public init(keyword: String, instancePath: String, schemaPath: String, message: String, property: String? = nil) {
        self.keyword = keyword
        self.instancePath = instancePath
        self.schemaPath = schemaPath
        self.message = message
        self.property = property
    }
}

/// Why a schema cannot be compiled: where in it (a JSON Pointer) and what is wrong.
public struct JSONSchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { path.isEmpty ? reason : "at \(path): \(reason)" }
}

/// A compiled schema: a boolean schema or the checks of its keywords.
enum SchemaNode: Sendable {
    case always(Bool)
    case checks([SchemaCheck])
    /// Filled in once the node a `$ref` cycle points back to is compiled.
    case pending
}

/// One keyword's check; subschemas are indices into `JSONSchema.nodes`. `path` is the keyword's
/// place in the schema document, for violations (for `properties`, the schema's own place: the
/// check covers `properties`, `patternProperties` and `additionalProperties`).
struct SchemaCheck: Sendable {
    let path: String
    let kind: Kind

    enum Kind: Sendable {
        case ref(Int)
        case type([SchemaType])
        case enumeration([JSONValue])
        case constant(JSONValue)
        case multipleOf(String)
        case maximum(Double, exclusive: Bool)
        case minimum(Double, exclusive: Bool)
        case maxLength(Int)
        case minLength(Int)
        case pattern(SchemaRegex)
        case format(SchemaFormat)
        case items(Int)
        case tuple([Int], additional: Int?)
        case maxItems(Int)
        case minItems(Int)
        case uniqueItems
        case contains(Int)
        case maxProperties(Int)
        case minProperties(Int)
        case required([String])
        case properties([(String, Int)], patterns: [(SchemaRegex, Int)], additional: Int?)
        case dependencies([(String, Dependency)])
        case propertyNames(Int)
        case condition(if: Int, then: Int?, else: Int?)
        case allOf([Int])
        case anyOf([Int])
        case oneOf([Int])
        case not(Int)
    }

    enum Dependency: Sendable {
        case properties([String])
        case schema(Int)
    }
}
