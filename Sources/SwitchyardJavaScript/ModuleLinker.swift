/// Which function a transformation exports.
enum EntryKind: Sendable, Equatable {
    case event, batch
    var exportName: String { self == .event ? "transformEvent" : "transformBatch" }
}

/// A library ready to evaluate: its classic-script wrapper and the handles it answers to.
struct LinkedLibrary: Sendable {
    var source: JavaScriptSource
    /// `(function(){"use strict";<code>\n;return {…};})`: evaluating it gives a function returning the exports.
    var script: String
    var exportedNames: [String]
    /// The exact name and RudderStack's camelCased handle.
    var handles: [String]
}

/// A transformation ready to evaluate, with the libraries it needs in dependency order.
struct LinkedProgram: Sendable {
    var source: JavaScriptSource
    /// `"use strict";<code>` with imports/exports rewritten.
    var script: String
    var entry: EntryKind
    /// The script-level name bound to the exported entry function.
    var entryLocal: String
    /// Indices into the linked libraries, each after the libraries it imports.
    var libraries: [Int]
}

/// Rewrites and links programs and libraries; pure text work, no engine.
enum ModuleLinker {
    static let programPrefix = "\"use strict\";"
    static let libraryPrefix = "(function(){\"use strict\";"

    /// RudderStack's library handle: lodash-style camelCase of the name ("My Hash Lib" → "myHashLib").
    static func handle(for name: String) -> String {
        var words: [String] = []
        var current = ""
        var previous: Character?
        let chars = Array(name)
        for (i, c) in chars.enumerated() {
            guard c.isLetter || c.isNumber else {
                if !current.isEmpty { words.append(current) }
                current = ""
                previous = nil
                continue
            }
            if let p = previous {
                let next = i + 1 < chars.count ? chars[i + 1] : nil
                let boundary =
                    (p.isLowercase && c.isUppercase) || (p.isNumber != c.isNumber)
                    || (p.isUppercase && c.isUppercase && (next?.isLowercase ?? false))
                if boundary {
                    words.append(current)
                    current = ""
                }
            }
            current.append(c)
            previous = c
        }
        if !current.isEmpty { words.append(current) }
        guard let first = words.first else { return "" }
        return first.lowercased() + words.dropFirst().map { $0.prefix(1).uppercased() + $0.dropFirst().lowercased() }.joined()
    }

    static func sourceError(_ source: JavaScriptSource, _ e: RewriteError) -> JavaScriptSourceError {
        JavaScriptSourceError(
            name: source.name,
            origin: source.origin,
            line: source.firstLine + e.line - 1,
            column: e.column,
            message: e.message
        )
    }

    /// Links everything; returns the first error of each program/library in `errors` (empty on success).
    static func link(
        programs: [JavaScriptSource],
        libraries: [JavaScriptSource]
    ) -> (programs: [LinkedProgram], libraries: [LinkedLibrary], errors: [JavaScriptSourceError]) {
        var errors: [JavaScriptSourceError] = []
        var libModules: [RewrittenModule?] = []
        var linkedLibraries: [LinkedLibrary] = []
        for lib in libraries {
            do {
                let module = try ModuleRewriter.rewrite(lib.code)
                let fields = module.exports.map { "\"\($0.exported)\": \($0.local)" }.joined(separator: ", ")
                let script = libraryPrefix + module.code + "\n;return {\(fields)};})"
                linkedLibraries.append(
                    LinkedLibrary(
                        source: lib,
                        script: script,
                        exportedNames: module.exports.map(\.exported),
                        handles: [lib.name, handle(for: lib.name)]
                    )
                )
                libModules.append(module)
            } catch {
                errors.append(sourceError(lib, error))
                linkedLibraries.append(
                    LinkedLibrary(source: lib, script: "", exportedNames: [], handles: [lib.name, handle(for: lib.name)])
                )
                libModules.append(nil)
            }
        }
        func resolve(_ specifier: String) -> Int? {
            linkedLibraries.firstIndex { $0.handles.contains(specifier) }
        }
        /// Checks `imports` of `source` and collects the libraries they need, dependencies first.
        func collect(
            _ imports: [ModuleImport],
            of source: JavaScriptSource,
            chain: [Int],
            into order: inout [Int]
        ) -> JavaScriptSourceError? {
            for imp in imports {
                let at = (line: source.firstLine + imp.line - 1, column: imp.column)
                guard let index = resolve(imp.specifier) else {
                    return JavaScriptSourceError(
                        name: source.name,
                        origin: source.origin,
                        line: at.line,
                        column: at.column,
                        message: "import from \"\(imp.specifier)\" failed. Module not found."
                    )
                }
                if chain.contains(index) {
                    let names = (chain + [index]).map { linkedLibraries[$0].source.name }
                    return JavaScriptSourceError(
                        name: source.name,
                        origin: source.origin,
                        line: at.line,
                        column: at.column,
                        message:
                            "import from \"\(imp.specifier)\" failed: libraries import each other in a cycle (\(names.joined(separator: " → ")))"
                    )
                }
                guard let module = libModules[index] else { continue }  // its own error is reported already
                let exported = Set(module.exports.map(\.exported))
                if let missing = imp.names.first(where: { $0 != "default" && !exported.contains($0) }) {
                    return JavaScriptSourceError(
                        name: source.name,
                        origin: source.origin,
                        line: at.line,
                        column: at.column,
                        message: "import from \"\(imp.specifier)\" failed: it does not export \"\(missing)\""
                    )
                }
                if order.contains(index) { continue }
                if let e = collect(module.imports, of: linkedLibraries[index].source, chain: chain + [index], into: &order) { return e }
                if !order.contains(index) { order.append(index) }
            }
            return nil
        }
        for (i, module) in libModules.enumerated() {
            guard let module else { continue }
            var order: [Int] = []
            if let e = collect(module.imports, of: libraries[i], chain: [i], into: &order) { errors.append(e) }
        }
        var linked: [LinkedProgram] = []
        for program in programs {
            let module: RewrittenModule
            do { module = try ModuleRewriter.rewrite(program.code) } catch {
                errors.append(sourceError(program, error))
                continue
            }
            var order: [Int] = []
            if let e = collect(module.imports, of: program, chain: [], into: &order) {
                errors.append(e)
                continue
            }
            let entries = module.exports.filter { $0.exported == "transformEvent" || $0.exported == "transformBatch" }
            guard entries.count == 1, let entry = entries.first else {
                let message =
                    entries.isEmpty
                    ? "the transformation must export a function named transformEvent or transformBatch"
                    : "the transformation must export only one of transformEvent and transformBatch"
                errors.append(
                    JavaScriptSourceError(name: program.name, origin: program.origin, line: program.firstLine, column: 1, message: message)
                )
                continue
            }
            linked.append(
                LinkedProgram(
                    source: program,
                    script: programPrefix + module.code,
                    entry: entry.exported == "transformEvent" ? .event : .batch,
                    entryLocal: entry.local,
                    libraries: order
                )
            )
        }
        return (linked, linkedLibraries, errors)
    }
}
