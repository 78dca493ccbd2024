/// Dead letters counted by destination and the reason's text up to its first colon, as a store
/// groups them; `DeadLetterGroup.fold` makes error codes of those heads.
public struct DeadLetterHead: Sendable, Hashable {
    public var destination: String
    /// The reason up to its first `:` (at most 200 characters).
    public var head: String
    public var count: Int
    public var oldest: Timestamp
    public var newest: Timestamp
    /// One whole reason of the group.
    public var example: String

    public init(destination: String, head: String, count: Int, oldest: Timestamp, newest: Timestamp, example: String) {
        self.destination = destination
        self.head = head
        self.count = count
        self.oldest = oldest
        self.newest = newest
        self.example = example
    }

    /// The head of a reason, the same way every store cuts it.
    public static func head(of reason: String) -> String {
        String((reason.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").prefix(200))
    }
}

/// The dead letters of one destination with one error code: what the console's "replay these"
/// replays, with `POST /v1/replay {"destination", "errorCode"}`.
public struct DeadLetterGroup: Sendable, Hashable {
    public var destination: String
    /// The reason's first word (`ThrottlingException`, `HTTP503`): a prefix of every reason in
    /// the group, so `errorCode` selects exactly it.
    public var errorCode: String
    public var count: Int
    public var oldest: Timestamp
    public var newest: Timestamp
    public var example: String

    /// A reason's error code: up to its first `:` or ` (`.
    public static func errorCode(of reason: String) -> String {
        var code = Substring(DeadLetterHead.head(of: reason))
        if let paren = code.range(of: " (") { code = code[..<paren.lowerBound] }
        let trimmed = String(code).trimmingWhitespace()
        return trimmed.isEmpty ? "(no reason)" : trimmed
    }

    /// Heads merged into groups by code, the largest first.
    public static func fold(_ heads: [DeadLetterHead]) -> [DeadLetterGroup] {
        var groups: [String: DeadLetterGroup] = [:]
        var order: [String] = []
        for h in heads {
            let code = errorCode(of: h.head)
            let key = h.destination + "\u{0}" + code
            if var g = groups[key] {
                g.count += h.count
                if h.oldest < g.oldest { g.oldest = h.oldest }
                if h.newest > g.newest { g.newest = h.newest }
                groups[key] = g
            } else {
                order.append(key)
                groups[key] = DeadLetterGroup(
                    destination: h.destination,
                    errorCode: code,
                    count: h.count,
                    oldest: h.oldest,
                    newest: h.newest,
                    example: h.example
                )
            }
        }
        return order.map { groups[$0]! }.sorted { ($0.destination, -$0.count, $0.errorCode) < ($1.destination, -$1.count, $1.errorCode) }
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                ("destination", .string(destination)), ("errorCode", .string(errorCode)), ("count", .number(String(count))),
                ("oldest", .string(oldest.rfc3339)), ("newest", .string(newest.rfc3339)), ("example", .string(example)),
            ])
        )
    }
}
