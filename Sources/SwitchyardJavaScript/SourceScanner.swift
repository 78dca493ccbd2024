/// A token of JavaScript source, as byte offsets into its UTF-8 text.
struct SourceToken: Equatable {
    enum Kind: Equatable { case identifier, punctuator, string, template, regex, number }
    var kind: Kind
    var start: Int
    var end: Int
    /// Bracket nesting ({, (, [ and template substitutions) before this token; 0 is the top level.
    var depth: Int
}

/// Splits source into tokens well enough to find top-level `import`/`export` statements:
/// strings, template literals, comments and regex literals are skipped as units, so keywords
/// inside them are never rewritten. It is not a parser; JSC reports real syntax errors.
struct SourceScanner {
    let bytes: [UInt8]

    init(_ code: String) { bytes = Array(code.utf8) }

    /// Words after which a `/` starts a regular expression rather than a division.
    private static let regexAfterWords: Set<String> = [
        "return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw",
        "case", "do", "else", "yield", "await",
    ]

    func text(_ token: SourceToken) -> String {
        String(decoding: bytes[token.start..<token.end], as: UTF8.self)
    }

    func tokens() -> [SourceToken] {
        var result: [SourceToken] = []
        var stack: [UInt8] = []  // open brackets; "`" marks a template substitution
        var i = 0
        let n = bytes.count
        func isIdentStart(_ c: UInt8) -> Bool {
            (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 95 || c == 36 || c >= 0x80 || c == 92
        }
        func isIdentPart(_ c: UInt8) -> Bool { isIdentStart(c) || (c >= 48 && c <= 57) }
        /// Scans template text from `i` (after "`" or "}"); returns true if it stopped at "${".
        func scanTemplateBody() -> Bool {
            while i < n {
                let c = bytes[i]
                if c == 92 {
                    i += 2
                    continue
                }
                if c == 96 {
                    i += 1
                    return false
                }
                if c == 36, i + 1 < n, bytes[i + 1] == 123 {
                    i += 2
                    return true
                }
                i += 1
            }
            return false
        }
        while i < n {
            let c = bytes[i]
            let start = i
            if c == 32 || c == 9 || c == 10 || c == 13 || c == 11 || c == 12 {
                i += 1
                continue
            }
            if c == 47, i + 1 < n, bytes[i + 1] == 47 {  // line comment
                while i < n, bytes[i] != 10 { i += 1 }
                continue
            }
            if c == 47, i + 1 < n, bytes[i + 1] == 42 {  // block comment
                i += 2
                while i + 1 < n, !(bytes[i] == 42 && bytes[i + 1] == 47) { i += 1 }
                i = min(n, i + 2)
                continue
            }
            let depth = stack.count
            if c == 34 || c == 39 {
                i += 1
                while i < n, bytes[i] != c, bytes[i] != 10 { i += bytes[i] == 92 ? 2 : 1 }
                i = min(n, i + 1)
                result.append(SourceToken(kind: .string, start: start, end: i, depth: depth))
            } else if c == 96 {
                i += 1
                if scanTemplateBody() { stack.append(96) }
                result.append(SourceToken(kind: .template, start: start, end: i, depth: depth))
            } else if c == 125, stack.last == 96 {  // end of a template substitution
                stack.removeLast()
                i += 1
                if scanTemplateBody() { stack.append(96) }
                result.append(SourceToken(kind: .template, start: start, end: i, depth: stack.count))
            } else if c == 47, regexAllowed(after: result.last) {
                i += 1
                var inClass = false
                while i < n, bytes[i] != 10 {
                    let d = bytes[i]
                    if d == 92 {
                        i += 2
                        continue
                    }
                    if d == 91 { inClass = true } else if d == 93 { inClass = false }
                    i += 1
                    if d == 47, !inClass { break }
                }
                while i < n, isIdentPart(bytes[i]) { i += 1 }
                result.append(SourceToken(kind: .regex, start: start, end: min(i, n), depth: depth))
            } else if isIdentStart(c) {
                while i < n, isIdentPart(bytes[i]) { i += bytes[i] == 92 ? 2 : 1 }
                result.append(SourceToken(kind: .identifier, start: start, end: min(i, n), depth: depth))
            } else if (c >= 48 && c <= 57) || (c == 46 && i + 1 < n && bytes[i + 1] >= 48 && bytes[i + 1] <= 57) {
                while i < n {
                    let d = bytes[i]
                    if d == 43 || d == 45, i > start, bytes[i - 1] == 101 || bytes[i - 1] == 69 {
                        i += 1
                        continue
                    }
                    guard isIdentPart(d) || d == 46 else { break }
                    i += 1
                }
                result.append(SourceToken(kind: .number, start: start, end: i, depth: depth))
            } else {
                i += 1
                if c == 123 || c == 40 || c == 91 { stack.append(c) }
                var tokenDepth = depth
                if c == 125 || c == 41 || c == 93 {
                    if !stack.isEmpty { stack.removeLast() }
                    tokenDepth = stack.count
                }
                result.append(SourceToken(kind: .punctuator, start: start, end: i, depth: tokenDepth))
            }
        }
        return result
    }

    private func regexAllowed(after previous: SourceToken?) -> Bool {
        guard let previous else { return true }
        switch previous.kind {
        case .number, .string, .template, .regex: return false
        case .identifier: return Self.regexAfterWords.contains(text(previous))
        case .punctuator:
            let c = bytes[previous.start]
            return !(c == 41 || c == 93 || c == 125)
        }
    }
}

/// Line/column arithmetic over UTF-8 text, columns counted in UTF-16 units like JSC.
struct LineIndex {
    private let lineStarts: [Int]
    private let bytes: [UInt8]

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == 10 { starts.append(i + 1) }
        lineStarts = starts
    }

    var lineCount: Int { lineStarts.count }

    /// 1-based line and column of a byte offset.
    func position(of offset: Int) -> (line: Int, column: Int) {
        var lo = 0
        var hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        let prefix = String(decoding: bytes[lineStarts[lo]..<min(offset, bytes.count)], as: UTF8.self)
        return (lo + 1, prefix.utf16.count + 1)
    }

    /// The text of 1-based line `line`, without its newline.
    func line(_ line: Int) -> String {
        guard line >= 1, line <= lineStarts.count else { return "" }
        let start = lineStarts[line - 1]
        let end = line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
        return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
    }
}
