/// What the API and the CLI show of the registry: models with their versions and what changed
/// from one version to the next, and a model as a tracking plan entry.
extension InferredShape {
    /// Every place the shape describes, as a dotted path (`properties.items[].sku`) with its types.
    public var places: [(path: String, types: [String])] {
        var out: [(String, [String])] = []
        collect(prefix: "", into: &out)
        return out.sorted { $0.0 < $1.0 }
    }

    private func collect(prefix: String, into out: inout [(String, [String])]) {
        if !prefix.isEmpty { out.append((prefix, kinds.names)) }
        for (name, shape) in properties { shape.collect(prefix: prefix.isEmpty ? name : prefix + "." + name, into: &out) }
        items?.collect(prefix: prefix + "[]", into: &out)
    }
}

extension SchemaVersion {
    /// Places added and removed since `previous`, and places whose types changed.
    public func changes(from previous: SchemaVersion?) -> JSONValue {
        guard let previous else { return .null }
        let before = Dictionary(previous.shape.places.map { ($0.path, $0.types) }, uniquingKeysWith: { a, _ in a })
        let after = Dictionary(shape.places.map { ($0.path, $0.types) }, uniquingKeysWith: { a, _ in a })
        let added = after.keys.filter { before[$0] == nil }.sorted()
        let removed = before.keys.filter { after[$0] == nil }.sorted()
        let retyped = after.keys.filter { before[$0] != nil && before[$0] != after[$0] }.sorted()
        return .object(
            JSONObject([
                ("added", .array(added.map(JSONValue.string))),
                ("removed", .array(removed.map(JSONValue.string))),
                (
                    "retyped",
                    .array(
                        retyped.map { path in
                            .object(
                                JSONObject([
                                    ("path", .string(path)),
                                    ("from", .string(before[path]!.joined(separator: "|"))),
                                    ("to", .string(after[path]!.joined(separator: "|"))),
                                ])
                            )
                        }
                    )
                ),
            ])
        )
    }
}

extension DiscoveredSchema {
    /// The model as the API lists it: counts, times, whether it was sampled, and its versions
    /// with what each changed.
    public var summary: JSONValue {
        var out = JSONObject()
        out["source"] = .string(key.source)
        out["type"] = .string(key.type.rawValue)
        out["event"] = key.name.isEmpty ? .null : .string(key.name)
        out["events"] = .number(String(events))
        out["inferred"] = .number(String(inferred))
        out["sampled"] = .bool(sampled)
        out["complete"] = .bool(complete)
        out["firstSeen"] = .string(firstSeen.rfc3339)
        out["lastSeen"] = .string(lastSeen.rfc3339)
        var previous: SchemaVersion?
        out["versions"] = .array(
            versions.map { v in
                defer { previous = v }
                return .object(
                    JSONObject([
                        ("version", .number(String(v.number))), ("digest", .string(v.digest)), ("events", .number(String(v.events))),
                        ("firstSeen", .string(v.firstSeen.rfc3339)), ("lastSeen", .string(v.lastSeen.rfc3339)),
                        ("changes", v.changes(from: previous)),
                    ])
                )
            }
        )
        return .object(out)
    }

    /// The shape of one version, or of every event inferred (`version` nil).
    public func shape(version: Int?) -> InferredShape? {
        guard let version else { return merged }
        return versions.first { $0.number == version }?.shape
    }

    /// A draft-07 schema of the whole message, titled after the model.
    public func jsonSchema(_ shape: InferredShape) -> JSONValue {
        var out = JSONObject([("$schema", .string("http://json-schema.org/draft-07/schema#"))])
        out["title"] = .string(key.name.isEmpty ? key.type.rawValue : key.name)
        for (k, v) in shape.jsonSchema.objectValue ?? JSONObject() { out[k] = v }
        return .object(out)
    }

    /// The model as an entry for a tracking plan's `events:`: the schema of `properties` (track,
    /// page, screen) or `traits` (identify, group) as seen, to start a plan from what is flowing.
    public func planEntry(_ shape: InferredShape) -> JSONValue {
        var out = JSONObject()
        if key.type == .track { out["event"] = .string(key.name) } else { out["type"] = .string(key.type.rawValue) }
        let part = key.type == .identify || key.type == .group ? "traits" : "properties"
        out[part] = shape.property(part)?.jsonSchema ?? .object(JSONObject([("type", .string("object"))]))
        return .object(out)
    }
}
