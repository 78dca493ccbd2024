/// One `import … from "specifier"` found in a source.
struct ModuleImport: Equatable {
    var specifier: String
    /// Names taken from the library ("default" for a default import; none for `* as ns`).
    var names: [String]
    var line: Int  // 1-based within the code
    var column: Int
}

/// An ES module rewritten into a classic script with the same lines and columns.
struct RewrittenModule {
    var code: String
    /// Exported name → local binding, in source order.
    var exports: [(exported: String, local: String)]
    var imports: [ModuleImport]
}

/// A construct the rewriter cannot turn into a classic script.
struct RewriteError: Error {
    var message: String
    var line: Int
    var column: Int
}

/// Rewrites `import`/`export` statements minimally, because JSC's C API evaluates only classic scripts.
/// `export` keywords become spaces; imports become a `const` destructuring of `__sy_lib("specifier")`
/// on the same line, so positions in error messages stay the user's.
enum ModuleRewriter {
    /// The global the rewritten imports call; defined by the sandbox prelude.
    static let importFunction = "__sy_lib"
    /// The local that holds an anonymous `export default` value; same length as "export default".
    static let defaultLocal = "__sydflt"

    static func rewrite(_ code: String) throws(RewriteError) -> RewrittenModule {
        let scanner = SourceScanner(code)
        let tokens = scanner.tokens()
        let lines = LineIndex(scanner.bytes)
        var out = scanner.bytes
        var edits: [(range: Range<Int>, replacement: [UInt8])] = []
        var exports: [(exported: String, local: String)] = []
        var imports: [ModuleImport] = []

        func text(_ j: Int) -> String { j < tokens.count ? scanner.text(tokens[j]) : "" }
        func fail(_ message: String, _ j: Int) -> RewriteError {
            let offset = j < tokens.count ? tokens[j].start : scanner.bytes.count
            let p = lines.position(of: offset)
            return RewriteError(message: message, line: p.line, column: p.column)
        }
        func unquote(_ j: Int) -> String { String(text(j).dropFirst().dropLast()) }
        func blank(_ range: Range<Int>) {
            for i in range where out[i] != 10 && out[i] != 13 { out[i] = 32 }
        }
        /// Reads `{ a, b as c }` starting at the `{` token; returns (name, alias) pairs and the index after `}`.
        func specifierList(_ open: Int) throws(RewriteError) -> ([(String, String)], Int) {
            var j = open + 1
            var pairs: [(String, String)] = []
            while j < tokens.count, text(j) != "}" {
                guard tokens[j].kind == .identifier || tokens[j].kind == .string else {
                    throw fail("unexpected '\(text(j))' in an import/export list", j)
                }
                let name = tokens[j].kind == .string ? unquote(j) : text(j)
                var alias = name
                j += 1
                if text(j) == "as" {
                    alias = text(j + 1)
                    j += 2
                }
                pairs.append((name, alias))
                if text(j) == "," { j += 1 }
            }
            guard j < tokens.count else { throw fail("unterminated import/export list", open) }
            return (pairs, j + 1)
        }

        var k = 0
        while k < tokens.count {
            let token = tokens[k]
            let word = text(k)
            let atTop = token.kind == .identifier && token.depth == 0 && (k == 0 || text(k - 1) != ".")
            if atTop, word == "import", k + 1 < tokens.count, text(k + 1) != "(", text(k + 1) != "." {
                var j = k + 1
                var parts: [String] = []
                var names: [String] = []
                var specifierIndex = j
                if tokens[j].kind == .string {
                    specifierIndex = j
                    j += 1
                } else {
                    var clauses: [(binding: String, isDefault: Bool)] = []
                    if tokens[j].kind == .identifier, text(j) != "from" || text(j + 1) == "from" {
                        clauses.append((text(j), true))
                        names.append("default")
                        j += 1
                        if text(j) == "," { j += 1 }
                    }
                    if text(j) == "*" {
                        guard text(j + 1) == "as" else { throw fail("expected 'as' after 'import *'", j + 1) }
                        clauses.append((text(j + 2), false))
                        j += 3
                    } else if text(j) == "{" {
                        let (pairs, next) = try specifierList(j)
                        let fields = pairs.map { name, alias in
                            name == alias && name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" })
                                ? name : "\"\(name)\": \(alias)"
                        }
                        clauses.append(("{ " + fields.joined(separator: ", ") + " }", false))
                        names += pairs.map(\.0)
                        j = next
                    }
                    guard text(j) == "from" else { throw fail("expected 'from' in import statement", j) }
                    specifierIndex = j + 1
                    guard specifierIndex < tokens.count, tokens[specifierIndex].kind == .string else {
                        throw fail("expected a quoted library name after 'from'", specifierIndex)
                    }
                    j = specifierIndex + 1
                    let spec = text(specifierIndex)
                    parts = clauses.map { "\($0.binding) = \(importFunction)(\(spec)\($0.isDefault ? ", true" : ""))" }
                }
                if text(j) == ";" { j += 1 }
                let end = tokens[j - 1].end
                let spec = text(specifierIndex)
                let replacement = parts.isEmpty ? "\(importFunction)(\(spec));" : "const " + parts.joined(separator: ", ") + ";"
                let original = scanner.bytes[token.start..<end]
                var bytes = Array(replacement.utf8)
                let newlines = original.filter { $0 == 10 }.count
                if newlines == 0, bytes.count < original.count { bytes += Array(repeating: 32, count: original.count - bytes.count) }
                bytes += Array(repeating: 10, count: newlines)
                edits.append((token.start..<end, bytes))
                let p = lines.position(of: tokens[specifierIndex].start)
                imports.append(ModuleImport(specifier: unquote(specifierIndex), names: names, line: p.line, column: p.column))
                k = j
                continue
            }
            if atTop, word == "export" {
                var j = k + 1
                let next = text(j)
                if next == "default" {
                    var named: String?
                    var f = j + 1
                    if text(f) == "async" { f += 1 }
                    if text(f) == "function" || text(f) == "class" {
                        f += 1
                        if text(f) == "*" { f += 1 }
                        if f < tokens.count, tokens[f].kind == .identifier, text(f) != "extends" { named = text(f) }
                    }
                    let range = token.start..<tokens[j].end
                    if let named {
                        blank(range)
                        exports.append(("default", named))
                    } else {
                        var bytes = Array("var \(defaultLocal) =".utf8)
                        bytes += Array(repeating: 32, count: max(0, range.count - bytes.count))
                        edits.append((range, bytes))
                        exports.append(("default", defaultLocal))
                    }
                    k = j + 1
                    continue
                }
                if next == "async" { j += 1 }
                switch text(j) {
                case "function", "class":
                    var n = j + 1
                    if text(n) == "*" { n += 1 }
                    guard n < tokens.count, tokens[n].kind == .identifier else { throw fail("an exported \(text(j)) needs a name", n) }
                    exports.append((text(n), text(n)))
                    blank(token.start..<token.end)
                case "const", "let", "var":
                    for name in declaredNames(tokens, from: j + 1, scanner: scanner) { exports.append((name, name)) }
                    blank(token.start..<token.end)
                case "{":
                    let (pairs, after) = try specifierList(j)
                    if text(after) == "from" { throw fail("'export … from' is not supported; import the names, then export them", after) }
                    var end = after
                    if text(end) == ";" { end += 1 }
                    for (local, exported) in pairs { exports.append((exported, local)) }
                    blank(token.start..<tokens[end - 1].end)
                    k = end
                    continue
                default:
                    throw fail("unsupported export form 'export \(text(j))'", j)
                }
                k = j + 1
                continue
            }
            k += 1
        }
        for edit in edits.sorted(by: { $0.range.lowerBound > $1.range.lowerBound }) {
            out.replaceSubrange(edit.range, with: edit.replacement)
        }
        return RewrittenModule(code: String(decoding: out, as: UTF8.self), exports: exports, imports: imports)
    }

    /// Names bound by `const a = …, { b, c: d } = …` starting after the keyword; enough for exports.
    private static func declaredNames(_ tokens: [SourceToken], from start: Int, scanner: SourceScanner) -> [String] {
        guard start < tokens.count else { return [] }
        let base = tokens[start].depth
        var names: [String] = []
        var j = start
        var expectBinding = true
        while j < tokens.count, tokens[j].depth >= base {
            let t = tokens[j]
            let word = scanner.text(t)
            if t.depth == base {
                if word == ";" { break }
                if word == "," {
                    expectBinding = true
                    j += 1
                    continue
                }
                if expectBinding {
                    expectBinding = false
                    if t.kind == .identifier { names.append(word) }
                } else if j > start, t.kind == .identifier, scanner.text(tokens[j - 1]) != "=",
                    scanner.bytes[tokens[j - 1].end..<t.start].contains(10),
                    ![".", "?", ":", "+", "-", "*", "/", "&&", "||", "(", "["].contains(scanner.text(tokens[j - 1]))
                {
                    break  // a new statement after a line break
                }
            } else if t.depth == base + 1, t.kind == .identifier, j + 1 < tokens.count,
                j > 0, tokens[j - 1].depth >= base, names.isEmpty || expectBinding || isPatternPart(tokens, j, scanner)
            {
                let after = scanner.text(tokens[j + 1])
                if [",", "}", "]", "="].contains(after), isPatternPart(tokens, j, scanner) { names.append(word) }
            }
            j += 1
        }
        return names
    }

    /// True when token `j` sits inside the binding pattern of the declarator (before its `=`).
    private static func isPatternPart(_ tokens: [SourceToken], _ j: Int, _ scanner: SourceScanner) -> Bool {
        var i = j
        let depth = tokens[j].depth
        while i > 0, tokens[i].depth >= depth { i -= 1 }
        let open = scanner.text(tokens[i])
        guard open == "{" || open == "[" else { return false }
        return i > 0 && ["const", "let", "var", ","].contains(scanner.text(tokens[i - 1]))
    }
}
