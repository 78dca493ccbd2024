/// The ids a regulation names, and how a stored row is found to be theirs. Rules every store
/// applies to its own rows, written once.
public struct Subjects: Sendable, Hashable {
    public var userIds: Set<String>
    public var anonymousIds: Set<String>

    public init(userIds: Set<String> = [], anonymousIds: Set<String> = []) {
        self.userIds = userIds
        self.anonymousIds = anonymousIds
    }

    public init(_ type: Regulation.SubjectType, _ ids: some Sequence<String>) {
        switch type {
        case .userId: self.init(userIds: Set(ids))
        case .anonymousId: self.init(anonymousIds: Set(ids))
        }
    }

    public var isEmpty: Bool { userIds.isEmpty && anonymousIds.isEmpty }

    /// Adds an id read back from a store, which keeps its type as `Regulation.SubjectType`'s raw value.
    public mutating func insert(_ id: String, typeName: String) {
        if typeName == Regulation.SubjectType.userId.rawValue {
            userIds.insert(id)
        } else {
            anonymousIds.insert(id)
        }
    }

    /// An event is the subjects' when its userId or anonymousId is one of theirs.
    public func matches(userId: String?, anonymousId: String?) -> Bool {
        if let userId, userIds.contains(userId) { return true }
        if let anonymousId, anonymousIds.contains(anonymousId) { return true }
        return false
    }

    /// Any id of either kind: a record's detail may name a user id as an anonymous id's neighbour.
    func contains(_ value: String) -> Bool { userIds.contains(value) || anonymousIds.contains(value) }
}

/// Finds the subjects' log records; made once per deletion, since it reads every record.
public struct RecordMatcher: Sendable, Hashable {
    public let subjects: Subjects
    /// The ids' lengths in bytes: most strings in a record are skipped on their length alone.
    let lengths: Set<Int>

    public init(_ subjects: Subjects) {
        self.subjects = subjects
        lengths = Set(subjects.userIds.map(\.utf8.count)).union(subjects.anonymousIds.map(\.utf8.count))
    }

    /// A log record is the subjects' when its event is (found by the store through the event's
    /// row), or when what it shows names one of them: its user column (an event's userId, else
    /// its anonymousId) or a string anywhere in its detail. Matching whole values, never parts,
    /// so `u1` does not take `u12`'s records with it.
    public func matches(recordUserId: String?, detail: [UInt8]?) -> Bool {
        if let recordUserId, subjects.contains(recordUserId) { return true }
        guard let detail, !subjects.isEmpty else { return false }
        return JSONStrings.containsAny(of: self, in: detail)
    }
}

/// The string values of JSON text, read without building the document: the deletion's scan of
/// the log reads every record's detail once, so it must be cheap per byte.
enum JSONStrings {
    static func containsAny(of matcher: RecordMatcher, in text: [UInt8]) -> Bool {
        let (subjects, lengths) = (matcher.subjects, matcher.lengths)
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        var i = 0
        let n = text.count
        while i < n {
            guard text[i] == quote else {
                i += 1
                continue
            }
            let start = i + 1
            var j = start
            var escaped = false
            while j < n, text[j] != quote {
                if text[j] == backslash {
                    escaped = true
                    j += 1
                }
                j += 1
            }
            let body = text[start..<min(j, n)]
            if escaped {
                // Rare: decode it properly (an id may hold a quote or a non-ASCII escape).
                var literal = [quote]
                literal += body
                literal.append(quote)
                if case .string(let value)? = try? JSONParser.parse(literal), subjects.contains(value) { return true }
            } else if lengths.contains(body.count), subjects.contains(String(decoding: body, as: UTF8.self)) {
                return true
            }
            i = j + 1
        }
        return false
    }
}
