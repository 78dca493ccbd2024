import SwitchyardJavaScript
import Testing

@Suite struct LibraryTests {
    static let hash = JavaScriptSource(
        name: "My Hash Lib",
        code: """
            export function cyrb(s) { return s.length * 7; }
            export const SALT = "pepper";
            function secret() { return 1; }
            export { secret as hidden };
            export default function main() { return "default!"; }
            """,
        origin: "libs/hash.js",
        firstLine: 1
    )

    @Test(.timeLimit(.minutes(1))) func namedAliasedDefaultAndNamespaceImports() async throws {
        let pool = try Fixture.pool(
            """
            import { cyrb, SALT as salt } from "myHashLib";
            import * as everything from "My Hash Lib";
            import main from "myHashLib";
            export function transformEvent(event) {
              return { h: cyrb(event.id), salt, hidden: everything.hidden(), d: main() };
            }
            """,
            libraries: [Self.hash]
        )
        let out = try #require(Fixture.objects(await Fixture.one(pool, ["id": "abc"]).outcome))
        #expect(out[0]["h"] as? Int == 21)
        #expect(out[0]["salt"] as? String == "pepper")
        #expect(out[0]["hidden"] as? Int == 1)
        #expect(out[0]["d"] as? String == "default!")
    }

    @Test(.timeLimit(.minutes(1))) func librariesImportLibraries() async throws {
        let base = JavaScriptSource(name: "base", code: "export const two = 2;", origin: "base.js", firstLine: 1)
        let mid = JavaScriptSource(
            name: "mid-lib",
            code: "import { two } from \"base\";\nexport function four() { return two * two; }",
            origin: "mid.js",
            firstLine: 1
        )
        let pool = try Fixture.pool(
            "import { four } from \"midLib\";\nexport function transformEvent(e) { e.four = four(); return e; }",
            libraries: [base, mid]
        )
        #expect(Fixture.objects(await Fixture.one(pool).outcome)?.first?["four"] as? Int == 4)
    }

    @Test(.timeLimit(.minutes(1))) func unknownModuleAndCycles() throws {
        let program = Fixture.source("const x = 1;\nimport { f } from \"nope\";\nexport function transformEvent(e) { return e; }")
        let errors = JavaScriptPool.check(programs: [program], libraries: [])
        #expect(errors.map(\.description) == ["t.js:2:19: import from \"nope\" failed. Module not found."])
        #expect(throws: JavaScriptSourceError.self) {
            try JavaScriptPool(programs: [program], libraries: [], limits: Fixture.fast, threads: 1)
        }
        let a = JavaScriptSource(name: "a", code: "import { b } from \"b\";\nexport const a = 1;", origin: "a.js", firstLine: 1)
        let b = JavaScriptSource(name: "b", code: "import { a } from \"a\";\nexport const b = 1;", origin: "b.js", firstLine: 1)
        let cyclic = JavaScriptPool.check(
            programs: [Fixture.source("import { a } from \"a\";\nexport function transformEvent(e) { return e; }")],
            libraries: [a, b]
        )
        #expect(cyclic.contains { $0.message.contains("cycle") })
    }

    @Test(.timeLimit(.minutes(1))) func librarySyntaxErrorPosition() throws {
        let broken = JavaScriptSource(
            name: "broken",
            code: "export function ok() { return 1; }\n\nexport function bad() { return 1 +; }\n",
            origin: "switchyard.yaml",
            firstLine: 40
        )
        let program = Fixture.source("import { ok } from \"broken\";\nexport function transformEvent(e) { return e; }")
        let errors = JavaScriptPool.check(programs: [program], libraries: [broken])
        #expect(errors.count == 1)
        #expect(errors.first?.description == "switchyard.yaml:42:35: SyntaxError: Unexpected token ';'")
        do {
            _ = try JavaScriptPool(programs: [program], libraries: [broken], limits: Fixture.fast, threads: 1)
            Issue.record("expected a source error")
        } catch {
            #expect(error.line == 42)
            #expect(error.column == 35)
            #expect(error.name == "broken")
        }
    }

    @Test(.timeLimit(.minutes(1))) func programSyntaxErrorPositionWithImport() throws {
        let program = Fixture.source(
            "import { cyrb } from \"myHashLib\";\nexport function transformEvent(event) {\n    const x = event.a b;\n  return event;\n}",
            origin: "transforms/t.js"
        )
        let errors = JavaScriptPool.check(programs: [program], libraries: [Self.hash])
        #expect(
            errors.map(\.description) == [
                "transforms/t.js:3:23: SyntaxError: Unexpected identifier 'b'. Expected ';' after variable declaration."
            ]
        )
        do {
            _ = try JavaScriptPool(programs: [program], libraries: [Self.hash], limits: Fixture.fast, threads: 1)
            Issue.record("expected a source error")
        } catch {
            #expect(error.line == 3)
            #expect(error.column == 23)
        }
    }

    @Test(.timeLimit(.minutes(1))) func missingOrDoubleEntry() {
        let none = JavaScriptPool.check(programs: [Fixture.source("export function other() {}")], libraries: [])
        #expect(none.first?.message.contains("transformEvent or transformBatch") == true)
        let both = JavaScriptPool.check(
            programs: [Fixture.source("export function transformEvent() {}\nexport function transformBatch() {}")],
            libraries: []
        )
        #expect(both.first?.message.contains("only one") == true)
        #expect(JavaScriptPool.check(programs: [Fixture.source("export const transformEvent = (e) => e;")], libraries: []).isEmpty)
    }
}
