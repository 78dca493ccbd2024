extension SchemaCompiler {
    /// The checks of one schema object's keywords, each keyword's value checked first.
    mutating func checks(_ object: JSONObject, at location: Location) throws(JSONSchemaError) -> [SchemaCheck] {
        var out: [SchemaCheck] = []
        func add(_ keyword: String, _ kind: SchemaCheck.Kind) { out.append(SchemaCheck(path: path(location, keyword), kind: kind)) }
        for (keyword, value) in object {
            switch keyword {
            case "type":
                add(keyword, .type(try types(value, at: location)))
            case "enum":
                guard case .array(let options) = value else { throw failure(location, keyword, "enum must be an array") }
                add(keyword, .enumeration(options))
            case "const":
                add(keyword, .constant(value))
            case "multipleOf":
                guard case .number(let text) = value, SchemaNumber.value(text) > 0 else {
                    throw failure(location, keyword, "multipleOf must be a number above 0")
                }
                add(keyword, .multipleOf(text))
            case "maximum": add(keyword, .maximum(try number(location, keyword, value), exclusive: false))
            case "exclusiveMaximum": add(keyword, .maximum(try number(location, keyword, value), exclusive: true))
            case "minimum": add(keyword, .minimum(try number(location, keyword, value), exclusive: false))
            case "exclusiveMinimum": add(keyword, .minimum(try number(location, keyword, value), exclusive: true))
            case "maxLength": add(keyword, .maxLength(try count(location, keyword, value)))
            case "minLength": add(keyword, .minLength(try count(location, keyword, value)))
            case "maxItems": add(keyword, .maxItems(try count(location, keyword, value)))
            case "minItems": add(keyword, .minItems(try count(location, keyword, value)))
            case "maxProperties": add(keyword, .maxProperties(try count(location, keyword, value)))
            case "minProperties": add(keyword, .minProperties(try count(location, keyword, value)))
            case "pattern":
                guard case .string(let pattern) = value else { throw failure(location, keyword, "pattern must be a string") }
                add(keyword, .pattern(try regex(location, [keyword], pattern)))
            case "format":
                guard case .string(let name) = value else { throw failure(location, keyword, "format must be a string") }
                if let format = SchemaFormat(rawValue: name) { add(keyword, .format(format)) }
            case "uniqueItems":
                guard case .bool(let unique) = value else { throw failure(location, keyword, "uniqueItems must be a boolean") }
                if unique { add(keyword, .uniqueItems) }
            case "required":
                add(keyword, .required(try names(value, keyword, at: location)))
            case "items":
                if case .array(let list) = value {
                    var tuple: [Int] = []
                    for (i, item) in list.enumerated() { tuple.append(try sub(location, [keyword, String(i)], item)) }
                    let additional = try object["additionalItems"].map { v throws(JSONSchemaError) in
                        try sub(location, ["additionalItems"], v)
                    }
                    add(keyword, .tuple(tuple, additional: additional))
                } else {
                    add(keyword, .items(try sub(location, [keyword], value)))
                }
            case "contains": add(keyword, .contains(try sub(location, [keyword], value)))
            case "propertyNames": add(keyword, .propertyNames(try sub(location, [keyword], value)))
            case "not": add(keyword, .not(try sub(location, [keyword], value)))
            case "allOf": add(keyword, .allOf(try subs(location, keyword, value)))
            case "anyOf": add(keyword, .anyOf(try subs(location, keyword, value)))
            case "oneOf": add(keyword, .oneOf(try subs(location, keyword, value)))
            case "if":
                let then = try object["then"].map { v throws(JSONSchemaError) in try sub(location, ["then"], v) }
                let otherwise = try object["else"].map { v throws(JSONSchemaError) in try sub(location, ["else"], v) }
                add(keyword, .condition(if: try sub(location, [keyword], value), then: then, else: otherwise))
            case "properties", "patternProperties", "additionalProperties":
                // One check for the three: additionalProperties depends on the other two.
                guard !out.contains(where: { if case .properties = $0.kind { return true } else { return false } }) else { continue }
                out.append(try objectShape(object, at: location))
            case "dependencies":
                add(keyword, .dependencies(try dependencies(value, at: location)))
            case "definitions":
                guard case .object(let definitions) = value else { throw failure(location, keyword, "definitions must be an object") }
                for (name, schema) in definitions { _ = try sub(location, [keyword, name], schema) }
            default:
                continue  // annotations ($comment, title, default, examples, …) and unknown keywords
            }
        }
        return out
    }

    private func types(_ value: JSONValue, at location: Location) throws(JSONSchemaError) -> [SchemaType] {
        let list: [JSONValue]
        switch value {
        case .string: list = [value]
        case .array(let items): list = items
        default: throw failure(location, "type", "type must be a type name or an array of them")
        }
        var out: [SchemaType] = []
        for item in list {
            guard case .string(let name) = item, let type = SchemaType(rawValue: name) else {
                throw failure(
                    location,
                    "type",
                    "unknown type \(item.jsonString); the types are \(SchemaType.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            out.append(type)
        }
        return out
    }

    private func names(_ value: JSONValue, _ keyword: String, at location: Location) throws(JSONSchemaError) -> [String] {
        guard case .array(let items) = value else { throw failure(location, keyword, "\(keyword) must be an array of property names") }
        var out: [String] = []
        for item in items {
            guard case .string(let name) = item else { throw failure(location, keyword, "\(keyword) must hold only strings") }
            out.append(name)
        }
        return out
    }

    private mutating func objectShape(_ object: JSONObject, at location: Location) throws(JSONSchemaError) -> SchemaCheck {
        var properties: [(String, Int)] = []
        var patterns: [(SchemaRegex, Int)] = []
        if let value = object["properties"] {
            guard case .object(let map) = value else { throw failure(location, "properties", "properties must be an object") }
            for (name, schema) in map { properties.append((name, try sub(location, ["properties", name], schema))) }
        }
        if let value = object["patternProperties"] {
            guard case .object(let map) = value else { throw failure(location, "patternProperties", "patternProperties must be an object") }
            for (pattern, schema) in map {
                patterns.append(
                    (
                        try regex(location, ["patternProperties", pattern], pattern),
                        try sub(location, ["patternProperties", pattern], schema)
                    )
                )
            }
        }
        let additional = try object["additionalProperties"].map { v throws(JSONSchemaError) in
            try sub(location, ["additionalProperties"], v)
        }
        return SchemaCheck(path: schemaPath(location, []), kind: .properties(properties, patterns: patterns, additional: additional))
    }

    private mutating func dependencies(
        _ value: JSONValue,
        at location: Location
    ) throws(JSONSchemaError) -> [(String, SchemaCheck.Dependency)] {
        guard case .object(let map) = value else { throw failure(location, "dependencies", "dependencies must be an object") }
        var out: [(String, SchemaCheck.Dependency)] = []
        for (name, dependency) in map {
            if case .array = dependency {
                out.append((name, .properties(try names(dependency, "dependencies", at: location))))
            } else {
                out.append((name, .schema(try sub(location, ["dependencies", name], dependency))))
            }
        }
        return out
    }
}
