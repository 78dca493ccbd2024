/// A `POST /v1/regulations` body, checked: Segment's shape,
/// `{"regulationType": "SUPPRESS_WITH_DELETE", "subjectType": "USER_ID", "subjectIds": ["u1"]}`.
public struct RegulationRequest: Sendable, Hashable {
    public var kind: Regulation.Kind
    public var subjectType: Regulation.SubjectType
    /// Distinct, in the order given.
    public var subjectIds: [String]

    /// Segment takes 5,000 ids a call; one call here may name this many.
    public static let maxSubjectIds = 100_000
    /// Longer than any id an SDK makes; a bound on what one request may make the server hold.
    public static let maxSubjectIdBytes = 1024

    public init(kind: Regulation.Kind, subjectType: Regulation.SubjectType, subjectIds: [String]) {
        self.kind = kind
        self.subjectType = subjectType
        self.subjectIds = subjectIds
    }

    /// Why a body is refused; the message names the field, never an id's value.
    public struct Problem: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    public init(json: JSONValue) throws(Problem) {
        guard case .object(let body) = json else { throw Problem(description: "the body must be a JSON object") }
        func choice<T: RawRepresentable & CaseIterable>(_ key: String, _: T.Type) throws(Problem) -> T where T.RawValue == String {
            let names = T.allCases.map(\.rawValue).joined(separator: ", ")
            guard let text = body[key]?.stringValue, let value = T(rawValue: text) else {
                throw Problem(description: "\(key) must be one of \(names)")
            }
            return value
        }
        kind = try choice("regulationType", Regulation.Kind.self)
        subjectType = try choice("subjectType", Regulation.SubjectType.self)
        guard case .array(let ids)? = body["subjectIds"], !ids.isEmpty else {
            throw Problem(description: "subjectIds must be a non-empty array of strings")
        }
        guard ids.count <= Self.maxSubjectIds else {
            throw Problem(description: "subjectIds has \(ids.count) ids; one regulation takes at most \(Self.maxSubjectIds)")
        }
        var seen = Set<String>()
        var distinct: [String] = []
        distinct.reserveCapacity(ids.count)
        for (n, value) in ids.enumerated() {
            // Read as ingestion reads an event's ids (trimmed), so it names the same subject.
            guard case .string = value, let id = Ingestion.identity(value) else {
                throw Problem(description: "subjectIds[\(n)] must be a non-empty string")
            }
            guard id.utf8.count <= Self.maxSubjectIdBytes else {
                throw Problem(description: "subjectIds[\(n)] is longer than \(Self.maxSubjectIdBytes) bytes")
            }
            // No stored id can hold one (PostgreSQL's text cannot), so it could match nothing.
            guard !id.utf8.contains(0) else {
                throw Problem(description: "subjectIds[\(n)] contains a NUL character")
            }
            if seen.insert(id).inserted { distinct.append(id) }
        }
        subjectIds = distinct
    }
}
