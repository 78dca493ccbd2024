/// A replay as the API shows it and the stores keep it: one JSON document.
extension Replay {
    public var json: JSONValue {
        var o = JSONObject()
        o["name"] = .string(name)
        o["state"] = .string(state.rawValue)
        o["from"] = .string(from.rfc3339)
        o["to"] = .string(to.rfc3339)
        o["destinations"] = .array(destinations.map { .string($0) })
        o["filter"] = filter.json
        o["rate"] = .number(String(rate))
        o["createdAt"] = .string(createdAt.rfc3339)
        o["finishedAt"] = finishedAt.map { .string($0.rfc3339) } ?? .null
        o["reason"] = reason.map { .string($0) } ?? .null
        o["progress"] = progress.json
        return .object(o)
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue, let name = o["name"]?.stringValue,
            let state = o["state"]?.stringValue.flatMap(State.init(rawValue:)),
            let from = o["from"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let to = o["to"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let createdAt = o["createdAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            case .array(let destinations)? = o["destinations"], let rate = o["rate"]?.integerValue
        else { return nil }
        self.init(
            name: name,
            from: from,
            to: to,
            destinations: destinations.compactMap(\.stringValue),
            filter: o["filter"].flatMap(Filter.init(json:)) ?? Filter(),
            rate: rate,
            state: state,
            createdAt: createdAt
        )
        finishedAt = o["finishedAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
        reason = o["reason"]?.stringValue
        progress = o["progress"].map(Progress.init(json:)) ?? Progress()
    }
}

extension Replay.Filter {
    public var json: JSONValue {
        var o = JSONObject()
        if let sources { o["sources"] = .array(sources.map { .string($0) }) }
        if let types { o["types"] = .array(types.map { .string($0.rawValue) }) }
        if let events { o["events"] = .array(events.map { .string($0) }) }
        if let pattern { o["pattern"] = pattern.source }
        return .object(o)
    }

    /// The filter a stored replay names; nil when it is not one.
    public init?(json: JSONValue) {
        guard let filter = try? Self.parse(json) else { return nil }
        self = filter
    }

    /// Reads `{"sources": [...], "types": [...], "events": [...], "pattern": {...}}`, every key optional.
    public static func parse(_ json: JSONValue) throws(ReplayRequestError) -> Replay.Filter {
        guard let o = json.objectValue else { throw ReplayRequestError("filter must be an object") }
        func strings(_ key: String) throws(ReplayRequestError) -> [String]? {
            guard let value = o[key] else { return nil }
            guard case .array(let items) = value, items.allSatisfy({ $0.stringValue != nil }) else {
                throw ReplayRequestError("filter.\(key) must be an array of strings")
            }
            return items.compactMap(\.stringValue)
        }
        for key in o.keys where !["sources", "types", "events", "pattern"].contains(key) {
            throw ReplayRequestError("filter.\(key) is not a filter key (sources, types, events, pattern)")
        }
        var filter = Replay.Filter(sources: try strings("sources"), events: try strings("events"))
        if let types = try strings("types") {
            filter.types = try types.map { name throws(ReplayRequestError) in
                guard let type = MessageType(rawValue: name) else {
                    throw ReplayRequestError("filter.types: \"\(name)\" is not a message type")
                }
                return type
            }
        }
        if let pattern = o["pattern"] {
            do {
                filter.pattern = try EventPattern(pattern)
            } catch {
                throw ReplayRequestError("filter.pattern: \(error.reason)")
            }
        }
        return filter
    }
}

extension Replay.Progress {
    public var json: JSONValue {
        var o = JSONObject()
        o["archivedThrough"] = archivedThrough.map { .number(String($0)) } ?? .null
        o["filesTotal"] = .number(String(filesTotal))
        o["filesDone"] = .number(String(filesDone))
        o["filesRemaining"] = .number(String(max(0, filesTotal - filesDone)))
        o["lastFile"] = lastFile.map { .string($0) } ?? .null
        o["storeAfter"] = storeAfter.map { .number(String($0)) } ?? .null
        o["eventsRead"] = .number(String(eventsRead))
        o["eventsSent"] = .number(String(eventsSent))
        o["eventsSkipped"] = .number(String(eventsSkipped))
        o["lastReplayedTime"] = lastReplayedTime.map { .string($0.rfc3339) } ?? .null
        return .object(o)
    }

    init(json: JSONValue) {
        self.init()
        guard let o = json.objectValue else { return }
        func int(_ key: String) -> Int? { o[key]?.integerValue }
        archivedThrough = int("archivedThrough").map(Int64.init)
        filesTotal = int("filesTotal") ?? 0
        filesDone = int("filesDone") ?? 0
        lastFile = o["lastFile"]?.stringValue
        storeAfter = int("storeAfter").map(Int64.init)
        eventsRead = int("eventsRead") ?? 0
        eventsSent = int("eventsSent") ?? 0
        eventsSkipped = int("eventsSkipped") ?? 0
        lastReplayedTime = o["lastReplayedTime"]?.stringValue.flatMap(Timestamp.init(rfc3339:))
    }
}

/// Why a replay request is refused: a message for its 400.
public struct ReplayRequestError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
