import ArgumentParser
import Foundation
import SwitchyardCore

struct Schema: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Work with JSON Schemas (draft-07), as tracking plans use them.",
        subcommands: [SchemaValidate.self]
    )
}

struct SchemaValidate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a JSON value against a JSON Schema (draft-07), as a tracking plan would.",
        discussion: """
            Prints "valid" (exit 0); or each violation on a line, its place in the value (a JSON Pointer), the keyword and \
            the message (exit 1); or "invalid schema: <reason>" with the place in the schema (exit 65). Either file may be - \
            for standard input. $refs resolve within the schema; nothing is fetched.
            """
    )

    @Option(help: "The schema, a JSON file (- for standard input).") var schema: String
    @Option(help: "The value to check, a JSON file (- for standard input).") var instance: String

    func validate() throws {
        guard !(schema == "-" && instance == "-") else {
            throw ValidationError("only one of --schema and --instance can be standard input")
        }
    }

    func run() async throws {
        let compiled: JSONSchema
        do {
            compiled = try JSONSchema(try JSONParser.parse(try readInput(schema, what: "schema")))
        } catch let error as JSONParseError {
            print("invalid schema: not JSON: \(error)")
            throw ExitCode(65)
        } catch let error as JSONSchemaError {
            print("invalid schema: \(error)")
            throw ExitCode(65)
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(try readInput(instance, what: "instance"))
        } catch let error as JSONParseError {
            printError("invalid instance: not JSON: \(error)")
            throw ExitCode(65)
        }
        let violations = compiled.validate(value)
        guard !violations.isEmpty else {
            print("valid")
            return
        }
        for v in violations {
            print("\(v.instancePath.isEmpty ? "/" : v.instancePath): \(v.keyword): \(v.message)")
        }
        throw ExitCode(1)
    }
}
