/// One thing wrong with a configuration, pointing at the line that needs changing.
public struct ConfigProblem: Error, Sendable, Hashable, CustomStringConvertible {
    public var location: SourceLocation?
    public var file: String?
    public var message: String

    public init(location: SourceLocation?, file: String? = nil, message: String) {
        self.location = location
        self.file = file ?? location?.file
        self.message = message
    }

    /// `switchyard.yaml:14:7: destination "bus" has unknown type "eventbrige" (did you mean "eventbridge"?)`
    public var description: String {
        if let location { return "\(location): \(message)" }
        if let file { return "\(file): \(message)" }
        return message
    }
}

/// Every problem found in a configuration; the server refuses to start while there are any.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var problems: [ConfigProblem]

    public init(problems: [ConfigProblem]) {
        self.problems = problems
    }

    public var description: String {
        problems.map(\.description).joined(separator: "\n")
    }
}

/// Suggests the closest known name for a misspelt one ("eventbrige" → "eventbridge").
public func closestMatch(to word: String, in candidates: some Sequence<String>) -> String? {
    let lower = word.lowercased()
    var best: (String, Int)?
    for candidate in candidates {
        let d = editDistance(lower, candidate.lowercased())
        if d <= max(2, candidate.count / 3), d < (best?.1 ?? .max) { best = (candidate, d) }
    }
    return best?.0
}

func didYouMean(_ word: String, _ candidates: some Sequence<String>) -> String {
    guard let match = closestMatch(to: word, in: candidates) else { return "" }
    return " (did you mean \"\(match)\"?)"
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a)
    let b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var previous = Array(0...b.count)
    var current = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        current[0] = i
        for j in 1...b.count {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&previous, &current)
    }
    return previous[b.count]
}
