extension SchemaEvaluation {
    mutating func checkArray(_ check: SchemaCheck, _ items: [JSONValue], at path: [String]) -> Bool {
        func fail(_ keyword: String, _ message: String, _ property: String?) -> Bool {
            report(keyword, path, check.path, message, property: property)
        }
        switch check.kind {
        case .items(let schema):
            return all(items.indices) { $0.check(schema, items[$1], at: path + [String($1)]) }
        case .tuple(let schemas, let additional):
            return all(items.indices) { this, i in
                if i < schemas.count { return this.check(schemas[i], items[i], at: path + [String(i)]) }
                guard let additional else { return true }
                return this.check(additional, items[i], at: path + [String(i)])
            }
        case .maxItems(let max):
            return items.count <= max || fail("maxItems", "must NOT have more than \(max) items", nil)
        case .minItems(let min):
            return items.count >= min || fail("minItems", "must NOT have fewer than \(min) items", nil)
        case .uniqueItems:
            for i in items.indices {
                for j in items.indices where j > i && schemaEqual(items[i], items[j]) {
                    return fail("uniqueItems", "must NOT have duplicate items (items ## \(j) and \(i) are identical)", nil)
                }
            }
            return true
        case .contains(let schema):
            return items.indices.contains { passes(schema, items[$0], at: path + [String($0)]) }
                || fail("contains", "must contain at least 1 valid item(s)", nil)
        default: return true
        }
    }

    mutating func checkObject(_ check: SchemaCheck, _ object: JSONObject, at path: [String]) -> Bool {
        func fail(_ keyword: String, _ message: String, _ property: String?) -> Bool {
            report(keyword, path, check.path, message, property: property)
        }
        switch check.kind {
        case .maxProperties(let max):
            return object.count <= max || fail("maxProperties", "must NOT have more than \(max) properties", nil)
        case .minProperties(let min):
            return object.count >= min || fail("minProperties", "must NOT have fewer than \(min) properties", nil)
        case .required(let names):
            var valid = true
            for name in names where object[name] == nil {
                valid = false
                if !fail("required", "must have required property '\(name)'", name), stops { return false }
            }
            return valid
        case .properties(let properties, let patterns, let additional):
            let base = check.path
            return all(object.keys.indices) { this, i in
                let key = object.keys[i]
                let value = object.values[i]
                var matched = false
                var valid = true
                for (name, schema) in properties where name == key {
                    matched = true
                    valid = this.check(schema, value, at: path + [key]) && valid
                }
                for (regex, schema) in patterns where regex.matches(key) {
                    matched = true
                    valid = this.check(schema, value, at: path + [key]) && valid
                }
                guard !matched, let additional else { return valid }
                if case .always(false) = this.nodes[additional] {
                    return this.report(
                        "additionalProperties",
                        path,
                        base + "/additionalProperties",
                        "must NOT have additional properties",
                        property: key
                    )
                }
                return this.check(additional, value, at: path + [key])
            }
        case .dependencies(let dependencies):
            var valid = true
            for (name, dependency) in dependencies where object[name] != nil {
                switch dependency {
                case .properties(let required):
                    for missing in required where object[missing] == nil {
                        valid = false
                        let message = "must have property \(missing) when property \(name) is present"
                        if !fail("dependencies", message, missing), stops { return false }
                    }
                case .schema(let schema):
                    valid = self.check(schema, .object(object), at: path) && valid
                    if !valid, stops { return false }
                }
            }
            return valid
        case .propertyNames(let schema):
            for key in object.keys where !passes(schema, .string(key), at: path) {
                return fail("propertyNames", "property name '\(key)' is invalid", key)
            }
            return true
        default: return true
        }
    }

    mutating func checkCombinator(_ check: SchemaCheck, _ value: JSONValue, at path: [String]) -> Bool {
        func fail(_ keyword: String, _ message: String, _ property: String?) -> Bool {
            report(keyword, path, check.path, message, property: property)
        }
        switch check.kind {
        case .allOf(let schemas):
            return all(schemas.indices) { $0.check(schemas[$1], value, at: path) }
        case .anyOf(let schemas):
            return schemas.contains { passes($0, value, at: path) } || fail("anyOf", "must match a schema in anyOf", nil)
        case .oneOf(let schemas):
            var matches = 0
            for schema in schemas where passes(schema, value, at: path) {
                matches += 1
                if matches > 1 { break }
            }
            return matches == 1 || fail("oneOf", "must match exactly one schema in oneOf", nil)
        case .not(let schema):
            return !passes(schema, value, at: path) || fail("not", "must NOT be valid", nil)
        case .condition(let condition, let then, let otherwise):
            if passes(condition, value, at: path) {
                guard let then else { return true }
                return passes(then, value, at: path) || fail("if", "must match \"then\" schema", nil)
            }
            guard let otherwise else { return true }
            return passes(otherwise, value, at: path) || fail("if", "must match \"else\" schema", nil)
        default: return true
        }
    }

    /// Runs `body` for each index: all of them when collecting, stopping at the first failure when not.
    private mutating func all(_ indices: Range<Int>, _ body: (inout SchemaEvaluation, Int) -> Bool) -> Bool {
        var valid = true
        for i in indices where !body(&self, i) {
            valid = false
            if stops { return false }
        }
        return valid
    }
}
