/// Discovered shapes written as schemas: JSON Schema (draft-07, what tracking plans take) and the
/// OpenAPI 3 document EventBridge's schema registry exports for an event on a bus.
extension InferredShape {
    /// A draft-07 schema every value the shape was inferred from satisfies: seen types, seen
    /// properties, `required` for those every object had, no `additionalProperties`, so a later
    /// property does not make an event invalid. `format` and bounds are never guessed.
    public var jsonSchema: JSONValue {
        var out = JSONObject()
        let names = kinds.names
        if names.count == 1 { out["type"] = .string(names[0]) } else if !names.isEmpty { out["type"] = .array(names.map(JSONValue.string)) }
        if kinds.contains(.object) {
            if !properties.isEmpty {
                out["properties"] = .object(JSONObject(properties.keys.sorted().map { ($0, properties[$0]!.jsonSchema) }))
            }
            if !required.isEmpty { out["required"] = .array(required.sorted().map(JSONValue.string)) }
        }
        if kinds.contains(.array), !partialItems, let items { out["items"] = items.jsonSchema }
        return .object(out)
    }

    /// The shape at a property of the top-level object (`properties`, `traits`), or nil.
    public func property(_ name: String) -> InferredShape? { properties[name] }
}

/// EventBridge's registry format: an OpenAPI 3 document whose `AWSEvent` is the envelope a rule's
/// target receives, its `detail` a component of the detail type's name, and each nested object a
/// component of its own, as EventBridge's schema discovery writes them.
public struct EventBridgeSchemaExport: Sendable {
    public var source: String
    public var detailType: String

    public init(source: String, detailType: String) {
        self.source = source
        self.detailType = detailType
    }

    public func document(detail: InferredShape) -> JSONValue {
        var components = Components()
        let detailName = components.name(for: detailType, fallback: "Detail")
        components.add(detail, named: detailName)
        var envelope = JSONObject()
        envelope["type"] = .string("object")
        envelope["required"] = .array(
            ["detail-type", "resources", "detail", "id", "source", "time", "region", "version", "account"].map(JSONValue.string)
        )
        envelope["x-amazon-events-detail-type"] = .string(detailType)
        envelope["x-amazon-events-source"] = .string(source)
        var properties = JSONObject()
        properties["detail"] = .object(JSONObject([("$ref", .string("#/components/schemas/" + detailName))]))
        properties["account"] = Self.type("string")
        properties["detail-type"] = Self.type("string")
        properties["id"] = Self.type("string")
        properties["region"] = Self.type("string")
        properties["resources"] = .object(JSONObject([("type", .string("array")), ("items", Self.type("string"))]))
        properties["source"] = Self.type("string")
        properties["time"] = .object(JSONObject([("type", .string("string")), ("format", .string("date-time"))]))
        properties["version"] = Self.type("string")
        envelope["properties"] = .object(properties)
        var schemas = JSONObject([("AWSEvent", .object(envelope))])
        for (name, schema) in components.schemas { schemas[name] = schema }
        return .object(
            JSONObject([
                ("openapi", .string("3.0.0")),
                ("info", .object(JSONObject([("version", .string("1.0.0")), ("title", .string(detailName))]))),
                ("paths", .object(JSONObject())),
                ("components", .object(JSONObject([("schemas", .object(schemas))]))),
            ])
        )
    }

    static func type(_ name: String) -> JSONValue { .object(JSONObject([("type", .string(name))])) }

    /// Named schemas, one per object place, named after the property that holds it.
    struct Components {
        var schemas: [(String, JSONValue)] = []
        private var taken: Set<String> = ["AWSEvent"]

        /// A component name from `text` in EventBridge's style (`order_items` → `OrderItems`),
        /// numbered when already taken.
        mutating func name(for text: String, fallback: String) -> String {
            var base = ""
            var upper = true
            for scalar in text.unicodeScalars {
                guard scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) else {
                    upper = true
                    continue
                }
                base += upper ? String(scalar).uppercased() : String(scalar)
                upper = false
            }
            if base.isEmpty || base.first!.isNumber { base = fallback + base }
            var name = base
            var n = 1
            while taken.contains(name) {
                n += 1
                name = base + String(n)
            }
            taken.insert(name)
            return name
        }

        mutating func add(_ shape: InferredShape, named name: String) {
            let index = schemas.count
            schemas.append((name, .null))
            schemas[index].1 = objectSchema(shape)
        }

        /// OpenAPI 3.0's schema object: one `type` (a second kind makes `anyOf`), `nullable` for null.
        mutating func schema(_ shape: InferredShape, at name: String) -> JSONValue {
            var kinds = shape.kinds
            let nullable = kinds.contains(.null)
            kinds.remove(.null)
            if kinds == .object, !shape.properties.isEmpty {
                let component = self.name(for: name, fallback: "Object")
                add(shape, named: component)
                var ref = JSONObject([("$ref", .string("#/components/schemas/" + component))])
                if nullable { ref = JSONObject([("allOf", .array([.object(ref)])), ("nullable", .bool(true))]) }
                return .object(ref)
            }
            let names = kinds.names
            var out = JSONObject()
            if names.count == 1 {
                out = single(names[0], shape, at: name)
            } else if names.count > 1 {
                out["anyOf"] = .array(names.map { .object(single($0, shape, at: name)) })
            }
            if nullable { out["nullable"] = .bool(true) }
            return .object(out)
        }

        private mutating func single(_ kind: String, _ shape: InferredShape, at name: String) -> JSONObject {
            switch kind {
            case "object": return objectSchema(shape).objectValue ?? JSONObject()
            case "array":
                var out = JSONObject([("type", .string("array"))])
                if !shape.partialItems, let items = shape.items { out["items"] = schema(items, at: name + "Item") }
                return out
            default: return JSONObject([("type", .string(kind))])
            }
        }

        private mutating func objectSchema(_ shape: InferredShape) -> JSONValue {
            var out = JSONObject([("type", .string("object"))])
            if !shape.required.isEmpty { out["required"] = .array(shape.required.sorted().map(JSONValue.string)) }
            if !shape.properties.isEmpty {
                var properties = JSONObject()
                for key in shape.properties.keys.sorted() { properties[key] = schema(shape.properties[key]!, at: key) }
                out["properties"] = .object(properties)
            }
            return .object(out)
        }
    }
}
