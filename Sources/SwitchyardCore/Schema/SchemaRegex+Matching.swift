extension SchemaRegex {
    /// Whether the pattern matches anywhere in `text` (JSON Schema's `pattern` is not anchored).
    /// A Pike VM: every thread advances one character at a time, at most one thread per
    /// instruction, so the cost is bounded by the program's size times the text's length.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        var position = 0
        while true {
            // A new attempt starts at every position until one has matched.
            if add(0, at: position, in: input, to: &current) { return true }
            guard position < input.count else { return false }
            let c = input[position].value
            next.clear()
            for pc in current.items {
                if case .set(let set) = program[pc], set.contains(c) {
                    if add(pc + 1, at: position + 1, in: input, to: &next) { return true }
                }
            }
            swap(&current, &next)
            position += 1
        }
    }

    /// Follows jumps, splits and assertions from `pc`; true when it reaches `match`.
    private func add(_ start: Int, at position: Int, in input: [Unicode.Scalar], to list: inout ThreadList) -> Bool {
        var stack = [start]
        while let pc = stack.popLast() {
            guard list.insert(pc) else { continue }
            switch program[pc] {
            case .match: return true
            case .jump(let to): stack.append(to)
            case .split(let a, let b):
                stack.append(b)
                stack.append(a)
            case .begin: if position == 0 { stack.append(pc + 1) }
            case .end: if position == input.count { stack.append(pc + 1) }
            case .wordBoundary, .notWordBoundary:
                let before = position > 0 && ScalarSet.word.contains(input[position - 1].value)
                let after = position < input.count && ScalarSet.word.contains(input[position].value)
                if (before != after) == (program[pc] == .wordBoundary) { stack.append(pc + 1) }
            case .set: list.items.append(pc)
            }
        }
        return false
    }
}

/// The instructions live at one position: a sparse set, cleared in constant time.
struct ThreadList {
    var items: [Int] = []
    private var seen: [Int]
    private var generation = 1

    init(capacity: Int) { seen = Array(repeating: 0, count: capacity) }

    mutating func clear() {
        items.removeAll(keepingCapacity: true)
        generation += 1
    }

    /// False when `pc` was already visited at this position.
    mutating func insert(_ pc: Int) -> Bool {
        if seen[pc] == generation { return false }
        seen[pc] = generation
        return true
    }
}
