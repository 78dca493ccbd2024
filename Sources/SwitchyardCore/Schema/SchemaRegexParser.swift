/// Parses ECMAScript pattern syntax (with the `u` flag's view of characters: whole Unicode
/// scalars) into a `RegexNode`. Refuses backreferences and lookaround, which need backtracking.
struct RegexParser {
    private let s: [Unicode.Scalar]
    private var i = 0
    private var groups = 0

    init(_ scalars: [Unicode.Scalar]) { s = scalars }

    private func fail(_ reason: String) -> SchemaRegexError { SchemaRegexError(offset: i, reason: reason) }
    private var atEnd: Bool { i >= s.count }
    private func peek(_ k: Int = 0) -> Unicode.Scalar? { i + k < s.count ? s[i + k] : nil }

    mutating func parseAll() throws(SchemaRegexError) -> RegexNode {
        let node = try alternation()
        if !atEnd { throw fail(peek() == ")" ? "unmatched )" : "unexpected \(peek()!)") }
        return node
    }

    private mutating func alternation() throws(SchemaRegexError) -> RegexNode {
        var options = [try sequence()]
        while peek() == "|" {
            i += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .alternation(options)
    }

    private mutating func sequence() throws(SchemaRegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek(), c != "|", c != ")" {
            let start = i
            var atom = try self.atom()
            if let q = try quantifier() {
                switch atom {
                case .begin, .end, .wordBoundary, .notWordBoundary:
                    i = start
                    throw fail("nothing to repeat")
                default: break
                }
                if let max = q.max, max < q.min { throw fail("numbers out of order in {} quantifier") }
                atom = .repeated(atom, min: q.min, max: q.max)
            }
            items.append(atom)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func quantifier() throws(SchemaRegexError) -> (min: Int, max: Int?)? {
        var q: (Int, Int?)
        switch peek() {
        case "*":
            q = (0, nil)
            i += 1
        case "+":
            q = (1, nil)
            i += 1
        case "?":
            q = (0, 1)
            i += 1
        case "{":
            guard let braced = bracedQuantifier() else { return nil }
            q = braced
        default: return nil
        }
        if peek() == "?" { i += 1 }  // lazy: the same language
        if let next = peek(), "*+?".unicodeScalars.contains(next) { throw fail("nothing to repeat") }
        return q
    }

    /// `{n}`, `{n,}`, `{n,m}`; anything else is a literal brace (Annex B).
    private mutating func bracedQuantifier() -> (Int, Int?)? {
        var j = i + 1
        func number() -> Int? {
            var value = 0
            let start = j
            while j < s.count, (48...57).contains(s[j].value) {
                value = min(value * 10 + Int(s[j].value - 48), 1_000_000)
                j += 1
            }
            return j > start ? value : nil
        }
        guard let lower = number() else { return nil }
        var upper: Int? = lower
        if j < s.count, s[j] == "," {
            j += 1
            upper = number()
        }
        guard j < s.count, s[j] == "}" else { return nil }
        i = j + 1
        return (lower, upper)
    }

    private mutating func atom() throws(SchemaRegexError) -> RegexNode {
        let c = s[i]
        i += 1
        switch c {
        case "^": return .begin
        case "$": return .end
        case ".": return .set(ScalarSet.lineTerminators.inverted())
        case "(": return try group()
        case "[": return .set(try characterClass())
        case "\\": return try escapeAtom()
        case "*", "+", "?":
            i -= 1
            throw fail("nothing to repeat")
        case "{":
            i -= 1
            if bracedQuantifier() != nil { throw fail("nothing to repeat") }
            i += 1
            return .set(ScalarSet(ranges: [c.value...c.value]))
        default:
            return .set(ScalarSet(ranges: [c.value...c.value]))
        }
    }

    private mutating func group() throws(SchemaRegexError) -> RegexNode {
        if peek() == "?" {
            switch (peek(1), peek(2)) {
            case (":", _): i += 2
            case ("=", _), ("!", _), ("<", "="), ("<", "!"):
                throw fail("lookaround is not supported: it cannot be matched in bounded time")
            case ("<", _):
                i += 2
                while let c = peek(), c != ">" { i += 1 }
                guard peek() == ">" else { throw fail("unterminated group name") }
                i += 1
                groups += 1
            default: throw fail("invalid group")
            }
        } else {
            groups += 1
        }
        let inner = try alternation()
        guard peek() == ")" else { throw fail("missing )") }
        i += 1
        return inner
    }

    private mutating func escapeAtom() throws(SchemaRegexError) -> RegexNode {
        guard let c = peek() else { throw fail("\\ at end of pattern") }
        switch c {
        case "b":
            i += 1
            return .wordBoundary
        case "B":
            i += 1
            return .notWordBoundary
        case "1"..."9": throw fail("backreferences are not supported: they cannot be matched in bounded time")
        case "k" where peek(1) == "<": throw fail("backreferences are not supported: they cannot be matched in bounded time")
        default: return .set(try escape(inClass: false))
        }
    }

    /// An escape after `\` that stands for characters (classes and single characters).
    private mutating func escape(inClass: Bool) throws(SchemaRegexError) -> ScalarSet {
        let c = s[i]
        i += 1
        func one(_ v: UInt32) -> ScalarSet { ScalarSet(ranges: [v...v]) }
        switch c {
        case "d": return .digits
        case "D": return ScalarSet.digits.inverted()
        case "w": return .word
        case "W": return ScalarSet.word.inverted()
        case "s": return .space
        case "S": return ScalarSet.space.inverted()
        case "t": return one(9)
        case "n": return one(10)
        case "v": return one(11)
        case "f": return one(12)
        case "r": return one(13)
        case "b" where inClass: return one(8)
        case "0" where !(peek().map { ("0"..."9").contains($0) } ?? false): return one(0)
        case "c":
            guard let l = peek(), l.isASCII, l.properties.isAlphabetic else { throw fail("invalid \\c escape") }
            i += 1
            return one(l.value % 32)
        case "x":
            guard let v = hex(2) else { throw fail("invalid \\x escape") }
            return one(v)
        case "u":
            if peek() == "{" {
                i += 1
                var v: UInt32 = 0
                var digits = 0
                while let d = peek(), let h = d.properties.isASCIIHexDigit ? UInt32(String(d), radix: 16) : nil {
                    v = v * 16 + h
                    digits += 1
                    i += 1
                    guard v <= 0x10FFFF else { throw fail("\\u{} escape past U+10FFFF") }
                }
                guard digits > 0, peek() == "}" else { throw fail("invalid \\u{} escape") }
                i += 1
                return one(v)
            }
            guard let v = hex(4) else { throw fail("invalid \\u escape") }
            // A surrogate pair written as two escapes is one character.
            if (0xD800...0xDBFF).contains(v), peek() == "\\", peek(1) == "u" {
                let save = i
                i += 2
                if let low = hex(4), (0xDC00...0xDFFF).contains(low) {
                    return one(0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00))
                }
                i = save
            }
            return one(v)
        case "p", "P":
            throw fail("Unicode property escapes (\\p{...}) are not supported")
        default:
            // Identity escapes: syntax characters and, with `-` in classes, themselves.
            if "^$\\.*+?()[]{}|/-".unicodeScalars.contains(c) { return one(c.value) }
            i -= 1
            throw fail("invalid escape \\\(c)")
        }
    }

    private mutating func hex(_ n: Int) -> UInt32? {
        guard i + n <= s.count else { return nil }
        var v: UInt32 = 0
        for k in 0..<n {
            guard s[i + k].properties.isASCIIHexDigit, let h = UInt32(String(s[i + k]), radix: 16) else { return nil }
            v = v * 16 + h
        }
        i += n
        return v
    }

    private mutating func characterClass() throws(SchemaRegexError) -> ScalarSet {
        var negated = false
        if peek() == "^" {
            negated = true
            i += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        func single(_ set: ScalarSet) -> UInt32? {
            !set.negated && set.ranges.count == 1 && set.ranges[0].count == 1 ? set.ranges[0].lowerBound : nil
        }
        while true {
            guard let c = peek() else { throw fail("missing ]") }
            if c == "]" {
                i += 1
                break
            }
            let first = try classAtom()
            if peek() == "-", let next = peek(1), next != "]" {
                i += 1
                let second = try classAtom()
                guard let lo = single(first), let hi = single(second) else { throw fail("invalid character class range") }
                guard lo <= hi else { throw fail("range out of order in character class") }
                ranges.append(lo...hi)
            } else {
                ranges += first.positiveRanges
            }
        }
        var set = ScalarSet.union(ranges)
        set.negated = negated
        return set
    }

    private mutating func classAtom() throws(SchemaRegexError) -> ScalarSet {
        let c = s[i]
        i += 1
        if c == "\\" {
            guard !atEnd else { throw fail("\\ at end of pattern") }
            if let d = peek(), ("1"..."9").contains(d) { throw fail("backreferences are not supported in a class") }
            return try escape(inClass: true)
        }
        return ScalarSet(ranges: [c.value...c.value])
    }
}
