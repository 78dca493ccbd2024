/// `POST /v1/replays`'s body: `{"name", "from", "to", "destinations", "filter", "rate", "force"}`.
public struct ReplayRequest: Sendable {
    public var replay: Replay
    /// Start even when another replay sends some of the same range to the same destinations.
    public var force: Bool

    /// Checks the body against the configured destinations; every message names the field.
    public static func parse(_ body: JSONValue, destinations known: Set<String>, now: Timestamp) throws(ReplayRequestError) -> ReplayRequest
    {
        guard let o = body.objectValue else { throw ReplayRequestError("the body must be a JSON object") }
        for key in o.keys where !["name", "from", "to", "destinations", "filter", "rate", "force"].contains(key) {
            throw ReplayRequestError("\"\(key)\" is not a replay field (name, from, to, destinations, filter, rate, force)")
        }
        guard let name = o["name"]?.stringValue, Replay.isValidName(name) else {
            throw ReplayRequestError("name must be 1 to 64 letters, digits, '.', '-' or '_'")
        }
        func time(_ key: String) throws(ReplayRequestError) -> Timestamp {
            guard let text = o[key]?.stringValue, let at = Timestamp(rfc3339: text) else {
                throw ReplayRequestError("\(key) must be an RFC 3339 time, like 2026-12-06T17:00:00Z")
            }
            return at
        }
        let from = try time("from")
        let to = try time("to")
        guard from < to else { throw ReplayRequestError("from must be before to") }
        guard from <= now else { throw ReplayRequestError("from is in the future") }
        guard case .array(let items)? = o["destinations"], !items.isEmpty, items.allSatisfy({ $0.stringValue != nil }) else {
            throw ReplayRequestError("destinations must be a non-empty array of destination names")
        }
        let destinations = items.compactMap(\.stringValue)
        if let unknown = destinations.first(where: { !known.contains($0) }) {
            throw ReplayRequestError(
                "destinations: \"\(unknown)\" is not an enabled destination (known: \(known.sorted().joined(separator: ", ")))"
            )
        }
        var rate = Replay.defaultRate
        if let value = o["rate"] {
            guard let n = value.integerValue, (1...100_000).contains(n) else {
                throw ReplayRequestError("rate must be a whole number of events per second from 1 to 100000")
            }
            rate = n
        }
        var force = false
        if let value = o["force"] {
            guard case .bool(let b) = value else { throw ReplayRequestError("force must be true or false") }
            force = b
        }
        let filter = try o["filter"].map { value throws(ReplayRequestError) in try Replay.Filter.parse(value) } ?? Replay.Filter()
        return ReplayRequest(
            replay: Replay(
                name: name,
                from: from,
                to: to,
                destinations: Array(Set(destinations)).sorted(),
                filter: filter,
                rate: rate,
                createdAt: now
            ),
            force: force
        )
    }
}
