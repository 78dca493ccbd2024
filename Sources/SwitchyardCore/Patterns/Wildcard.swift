/// A `wildcard` operand: `*` stands for any run of characters (none included), `\*` for a star
/// and `\\` for a backslash.
struct Wildcard: Sendable, Hashable {
    enum Piece: Sendable, Hashable {
        case literal([Unicode.Scalar])
        case star
    }

    let pieces: [Piece]

    init(_ text: String) throws(EventPattern.Invalid) {
        var pieces: [Piece] = []
        var literal: [Unicode.Scalar] = []
        var escapedAt: Int?
        var previousStar = false
        // Positions as EventBridge reports them: UTF-8 byte offsets in the quoted JSON string.
        var position = 1
        for c in text.unicodeScalars {
            defer { position += String(c).utf8.count }
            if let backslash = escapedAt {
                guard c == "*" || c == "\\" else { throw EventPattern.Invalid("Invalid escape character at pos \(backslash)") }
                literal.append(c)
                escapedAt = nil
                previousStar = false
                continue
            }
            switch c {
            case "\\":
                escapedAt = position
            case "*":
                if previousStar { throw EventPattern.Invalid("Consecutive wildcard characters at pos \(position - 1)") }
                if !literal.isEmpty { pieces.append(.literal(literal)) }
                literal = []
                pieces.append(.star)
                previousStar = true
                continue
            default:
                literal.append(c)
            }
            previousStar = false
        }
        if let backslash = escapedAt { throw EventPattern.Invalid("Invalid escape character at pos \(backslash)") }
        if !literal.isEmpty { pieces.append(.literal(literal)) }
        self.pieces = pieces
    }

    /// The most prefixes of these patterns (a prefix being the pattern cut after a literal
    /// character or a star, as event-ruler counts them) that one input can match at the same time,
    /// found by walking the patterns' joint subset automaton; stops counting at `cap`.
    static func complexity(of patterns: [Wildcard], cap: Int) -> Int {
        // Each pattern as tokens: a scalar, or nil for a star.
        let tokens: [[Unicode.Scalar?]] = patterns.map { w in
            w.pieces.flatMap { piece -> [Unicode.Scalar?] in
                switch piece {
                case .star: return [nil]
                case .literal(let scalars): return scalars.map { Optional($0) }
                }
            }
        }
        // A state: per pattern, the set of positions (tokens consumed) reachable.
        func close(_ set: Set<Int>, _ t: [Unicode.Scalar?]) -> Set<Int> {
            var out = set
            var stack = Array(set)
            while let k = stack.popLast() {
                if k < t.count, t[k] == nil, out.insert(k + 1).inserted { stack.append(k + 1) }
            }
            return out
        }
        func size(_ state: [Set<Int>]) -> Int { state.reduce(0) { $0 + $1.subtracting([0]).count } }
        var alphabet = Set<Unicode.Scalar?>(tokens.flatMap { $0 }.compactMap { $0 }.map { Optional($0) })
        alphabet.insert(Unicode.Scalar(0))  // a character no pattern names
        let start = tokens.map { close([0], $0) }
        var seen: Set<[Set<Int>]> = [start]
        var queue = [start]
        var worst = size(start)
        while let state = queue.popLast(), seen.count < 100_000 {
            for c in alphabet {
                var next: [Set<Int>] = []
                for (n, t) in tokens.enumerated() {
                    var moved = Set<Int>()
                    for k in state[n] {
                        if k > 0, t[k - 1] == nil { moved.insert(k) }
                        if k < t.count, let s = t[k], s == c { moved.insert(k + 1) }
                    }
                    next.append(close(moved, t))
                }
                guard next.contains(where: { !$0.isEmpty }), seen.insert(next).inserted else { continue }
                worst = max(worst, size(next))
                if worst >= cap { return worst }
                queue.append(next)
            }
        }
        return worst
    }

    /// Greedy matching with backtracking to the last star, linear in practice.
    func matches(_ text: String) -> Bool {
        let s = Array(text.unicodeScalars)
        // Expand to one scalar per step for the classic two-pointer glob match.
        var p: [Unicode.Scalar?] = []  // nil is a star
        for piece in pieces {
            switch piece {
            case .star: p.append(nil)
            case .literal(let scalars): p += scalars.map { Optional($0) }
            }
        }
        var i = 0
        var j = 0
        var star = -1
        var mark = 0
        while i < s.count {
            if j < p.count, let c = p[j], c == s[i] {
                i += 1
                j += 1
            } else if j < p.count, p[j] == nil {
                star = j
                mark = i
                j += 1
            } else if star >= 0 {
                j = star + 1
                mark += 1
                i = mark
            } else {
                return false
            }
        }
        while j < p.count, p[j] == nil { j += 1 }
        return j == p.count
    }
}
