/// How stores keep a model (one JSON document per model, so every store keeps the same thing)
/// and how the API shows it.
extension DiscoveredSchema {
    public var json: JSONValue {
        var out = JSONObject()
        out["source"] = .string(key.source)
        out["type"] = .string(key.type.rawValue)
        out["name"] = .string(key.name)
        out["events"] = .number(String(events))
        out["inferred"] = .number(String(inferred))
        out["firstSeen"] = .number(String(firstSeen.millisecondsSinceEpoch))
        out["lastSeen"] = .number(String(lastSeen.millisecondsSinceEpoch))
        if let merged { out["merged"] = merged.json }
        out["complete"] = .bool(complete)
        out["nextVersion"] = .number(String(nextVersion))
        out["versions"] = .array(
            versions.map { v in
                .object(
                    JSONObject([
                        ("number", .number(String(v.number))), ("digest", .string(v.digest)), ("shape", v.shape.json),
                        ("events", .number(String(v.events))), ("firstSeen", .number(String(v.firstSeen.millisecondsSinceEpoch))),
                        ("lastSeen", .number(String(v.lastSeen.millisecondsSinceEpoch))),
                    ])
                )
            }
        )
        return .object(out)
    }

    /// Reads what `json` wrote; nil for anything else.
    public init?(json: JSONValue) {
        func int(_ path: String, in value: JSONValue = json) -> Int64? {
            value[path: path]?.integerValue.map(Int64.init)
        }
        guard let source = json[path: "source"]?.stringValue, let type = json[path: "type"]?.stringValue.flatMap(MessageType.init),
            let name = json[path: "name"]?.stringValue, let first = int("firstSeen"), let last = int("lastSeen")
        else { return nil }
        self.init(
            key: SchemaKey(source: source, type: type, name: name),
            firstSeen: Timestamp(millisecondsSinceEpoch: first),
            lastSeen: Timestamp(millisecondsSinceEpoch: last)
        )
        events = int("events") ?? 0
        inferred = int("inferred") ?? 0
        merged = json[path: "merged"].flatMap(InferredShape.init(json:))
        complete = json[path: "complete"] != .bool(false)
        nextVersion = Int(int("nextVersion") ?? 1)
        for v in json[path: "versions"]?.arrayValue ?? [] {
            guard let number = int("number", in: v), let digest = v[path: "digest"]?.stringValue,
                let shape = v[path: "shape"].flatMap(InferredShape.init(json:)), let first = int("firstSeen", in: v),
                let last = int("lastSeen", in: v)
            else { return nil }
            versions.append(
                SchemaVersion(
                    number: Int(number),
                    digest: digest,
                    shape: shape,
                    events: int("events", in: v) ?? 0,
                    firstSeen: Timestamp(millisecondsSinceEpoch: first),
                    lastSeen: Timestamp(millisecondsSinceEpoch: last)
                )
            )
        }
    }

    /// A fresh model for a key first seen in `observation`, before it is recorded.
    public init(recording observation: SchemaObservation) {
        self.init(key: observation.key, firstSeen: observation.firstSeen, lastSeen: observation.lastSeen)
    }
}
