import Foundation
import SwitchyardCore
import Testing

/// The official JSON-Schema-Test-Suite's draft-07 cases (Tests/Data/JSON-Schema-Test-Suite).
enum JSONSchemaSuite {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Data/JSON-Schema-Test-Suite").standardized

    /// What Switchyard's validator does not do, by file or `file | group`, and why; each is named in
    /// docs/tracking-plans.md. Everything else, optional tests included, must pass.
    static let skipped: [String: String] = [
        "definitions.json | validate definition against metaschema": "refers to the draft-07 meta-schema by URL, which is not fetched",
        "ref.json | remote ref, containing refs itself": "refers to the draft-07 meta-schema by URL, which is not fetched",
        "optional/cross-draft.json": "refers to other drafts' documents, which are not fetched",
        "optional/content.json": "contentMediaType and contentEncoding are annotations",
        "optional/ecmascript-regex.json | patterns always use unicode semantics with pattern": "\\p{…} property escapes are refused",
        "optional/ecmascript-regex.json | pattern with non-ASCII digits": "\\p{…} property escapes are refused",
        "optional/ecmascript-regex.json | patterns always use unicode semantics with patternProperties":
            "\\p{…} property escapes are refused",
        "optional/ecmascript-regex.json | patternProperties with non-ASCII digits": "\\p{…} property escapes are refused",
    ]

    /// Formats checked; the suite's tests of the others expect assertions the specification makes optional.
    static let assertedFormats: Set<String> = ["date-time", "date", "time", "email", "ipv4", "ipv6", "unknown"]

    static func isSkipped(_ file: String, _ group: String) -> Bool {
        if skipped[file] != nil || skipped["\(file) | \(group)"] != nil { return true }
        if file.hasPrefix("optional/format/") {
            let format = String(file.dropFirst("optional/format/".count).dropLast(".json".count))
            return !assertedFormats.contains(format)
        }
        return false
    }

    struct Case {
        var file: String
        var group: String
        var description: String
        var schema: JSONValue
        var data: JSONValue
        var valid: Bool
    }

    static func files() -> [String] {
        let root = folder.appendingPathComponent("tests/draft7")
        let found = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String } ?? []
        return found.filter { $0.hasSuffix(".json") }.sorted()
    }

    static func cases(_ file: String) throws -> [Case] {
        let data = try Data(contentsOf: folder.appendingPathComponent("tests/draft7/" + file))
        guard case .array(let groups) = try JSONParser.parse(Array(data)) else { return [] }
        var out: [Case] = []
        for group in groups {
            let description = group["description"]?.stringValue ?? ""
            for test in group["tests"]?.arrayValue ?? [] {
                guard let schema = group["schema"], let value = test["data"], case .bool(let valid)? = test["valid"] else { continue }
                out.append(
                    Case(
                        file: file,
                        group: description,
                        description: test["description"]?.stringValue ?? "",
                        schema: schema,
                        data: value,
                        valid: valid
                    )
                )
            }
        }
        return out
    }

    /// Every remote document, by the URL the suite serves it at.
    static func remotes() throws -> [String: JSONValue] {
        let root = folder.appendingPathComponent("remotes")
        var out: [String: JSONValue] = [:]
        for path in FileManager.default.enumerator(atPath: root.path)?.compactMap({ $0 as? String }) ?? [] where path.hasSuffix(".json") {
            out["http://localhost:1234/" + path] = try JSONParser.parse(Array(try Data(contentsOf: root.appendingPathComponent(path))))
        }
        return out
    }
}

extension JSONValue {
    fileprivate subscript(_ key: String) -> JSONValue? { objectValue?[key] }
}

@Suite struct JSONSchemaSuiteTests {
    @Test(.timeLimit(.minutes(1))) func draft7() throws {
        let remotes = try JSONSchemaSuite.remotes()
        var passed = 0
        var skipped = 0
        var failures: [String] = []
        for file in JSONSchemaSuite.files() {
            for c in try JSONSchemaSuite.cases(file) {
                let name = "\(c.file) | \(c.group) | \(c.description)"
                if JSONSchemaSuite.isSkipped(c.file, c.group) {
                    skipped += 1
                    continue
                }
                do {
                    let schema = try JSONSchema(c.schema, remotes: remotes)
                    let valid = schema.isValid(c.data)
                    let violations = schema.validate(c.data)
                    if valid == c.valid && violations.isEmpty == c.valid {
                        passed += 1
                    } else {
                        failures.append("\(name): expected \(c.valid), isValid \(valid), \(violations.count) violations")
                    }
                } catch {
                    failures.append("\(name): \(error)")
                }
            }
        }
        print("JSON-Schema-Test-Suite draft-07: \(passed) cases passed, \(failures.count) failed, \(skipped) skipped")
        for f in failures { print("  ✗ \(f)") }
        #expect(failures.isEmpty)
        #expect(passed >= 1286, "fewer cases pass than the docs say")
    }
}
