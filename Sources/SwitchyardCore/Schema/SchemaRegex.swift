/// An ECMAScript regular expression (JSON Schema's `pattern` dialect) compiled for a Pike VM, so
/// a match costs at most the pattern's size times the value's length, whatever the pattern: a
/// plan's `(a+)+$` cannot stall ingestion as it would a backtracking engine. What cannot run in
/// bounded time (backreferences, lookaround) is refused when the plan is loaded.
public struct SchemaRegex: Sendable, Hashable {
    /// Largest program a pattern may compile to; `{n,m}` repetitions are copied out.
    public static let maxInstructions = 4096

    let program: [RegexInstruction]
    public let source: String

    public init(_ pattern: String) throws(SchemaRegexError) {
        var parser = RegexParser(Array(pattern.unicodeScalars))
        let tree = try parser.parseAll()
        var compiler = RegexCompiler()
        try compiler.emit(tree)
        compiler.append(.match)
        program = compiler.program
        source = pattern
    }
}

/// Why a pattern was refused, with the position (in characters) where it went wrong.
public struct SchemaRegexError: Error, Sendable, Hashable, CustomStringConvertible {
    public let offset: Int
    public let reason: String
    public var description: String { "at character \(offset + 1): \(reason)" }
}

/// A set of Unicode scalars: sorted, non-overlapping closed ranges, possibly negated.
struct ScalarSet: Sendable, Hashable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false

    func contains(_ c: UInt32) -> Bool {
        var lo = 0
        var hi = ranges.count - 1
        var found = false
        while lo <= hi {
            let mid = (lo + hi) >> 1
            if c < ranges[mid].lowerBound {
                hi = mid - 1
            } else if c > ranges[mid].upperBound {
                lo = mid + 1
            } else {
                found = true
                break
            }
        }
        return found != negated
    }

    static let digits = ScalarSet(ranges: [48...57])
    static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
    /// ECMAScript's WhiteSpace and LineTerminator.
    static let space = ScalarSet(ranges: [
        9...13, 32...32, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029, 0x202F...0x202F, 0x205F...0x205F,
        0x3000...0x3000, 0xFEFF...0xFEFF,
    ])
    static let lineTerminators = ScalarSet(ranges: [10...10, 13...13, 0x2028...0x2029])

    func inverted() -> ScalarSet { ScalarSet(ranges: ranges, negated: !negated) }

    /// The union of `parts` (each already normalized and not negated) as sorted, merged ranges.
    static func union(_ parts: [ClosedRange<UInt32>]) -> ScalarSet {
        let sorted = parts.sorted { $0.lowerBound < $1.lowerBound }
        var merged: [ClosedRange<UInt32>] = []
        for r in sorted {
            if let last = merged.last, r.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return ScalarSet(ranges: merged)
    }

    /// The ranges this set matches, with negation applied.
    var positiveRanges: [ClosedRange<UInt32>] {
        guard negated else { return ranges }
        var out: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for r in ranges {
            if r.lowerBound > next { out.append(next...(r.lowerBound - 1)) }
            next = r.upperBound &+ 1
            if r.upperBound == 0x10FFFF { return out }
        }
        out.append(next...0x10FFFF)
        return out
    }
}

/// The parsed pattern.
indirect enum RegexNode: Sendable {
    case empty
    case set(ScalarSet)
    case begin, end, wordBoundary, notWordBoundary
    case concat([RegexNode])
    case alternation([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?)
}

/// One instruction of the Pike VM.
enum RegexInstruction: Sendable, Hashable {
    case set(ScalarSet)
    case split(Int, Int)
    case jump(Int)
    case begin, end, wordBoundary, notWordBoundary
    case match
}

struct RegexCompiler {
    var program: [RegexInstruction] = []

    mutating func append(_ i: RegexInstruction) { program.append(i) }

    mutating func emit(_ node: RegexNode) throws(SchemaRegexError) {
        guard program.count <= SchemaRegex.maxInstructions else {
            throw SchemaRegexError(
                offset: 0,
                reason: "the pattern is too large (its repetitions expand past \(SchemaRegex.maxInstructions) steps)"
            )
        }
        switch node {
        case .empty: break
        case .set(let s): append(.set(s))
        case .begin: append(.begin)
        case .end: append(.end)
        case .wordBoundary: append(.wordBoundary)
        case .notWordBoundary: append(.notWordBoundary)
        case .concat(let parts): for p in parts { try emit(p) }
        case .alternation(let options):
            var jumps: [Int] = []
            for (i, option) in options.enumerated() {
                if i < options.count - 1 {
                    let split = program.count
                    append(.split(split + 1, 0))
                    try emit(option)
                    jumps.append(program.count)
                    append(.jump(0))
                    program[split] = .split(split + 1, program.count)
                } else {
                    try emit(option)
                }
            }
            for j in jumps { program[j] = .jump(program.count) }
        case .repeated(let inner, let min, let max):
            for _ in 0..<min { try emit(inner) }
            if let max {
                // Each optional copy may be skipped to the end.
                var splits: [Int] = []
                for _ in min..<max {
                    splits.append(program.count)
                    append(.split(program.count + 1, 0))
                    try emit(inner)
                }
                for s in splits { program[s] = .split(s + 1, program.count) }
            } else {
                let loop = program.count
                append(.split(loop + 1, 0))
                try emit(inner)
                append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
