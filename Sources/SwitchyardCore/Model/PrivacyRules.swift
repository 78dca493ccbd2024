import Crypto

/// A destination's `privacy:`, compiled once: rewrites an event into what the destination may
/// see. Applied in this order: `allowProperties`, `dropProperties` (so a key both allowed and
/// dropped is dropped), `hash`, `anonymizeIP`.
public struct PrivacyRules: Sendable, Hashable {
    /// Where property-like keys live: every message type's own, and the traits sent along.
    static let propertyObjects: [[String]] = [["properties"], ["traits"], ["context", "traits"]]

    let allow: Set<String>?
    let drop: [[String]]
    let hash: [[String]]
    let salt: Secret?
    let anonymizeIP: Bool

    public init(_ config: DestinationPrivacyConfig) {
        allow = config.allowProperties.isEmpty ? nil : Set(config.allowProperties)
        drop = config.dropProperties.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        hash = config.hash.map { $0.split(separator: ".", omittingEmptySubsequences: false).map(String.init) }
        salt = config.salt
        anonymizeIP = config.anonymizeIP
    }

    /// The stored event's JSON as the destination may see it; nil when it is not JSON.
    public func apply(toPayload payload: [UInt8]) -> [UInt8]? {
        guard let event = try? JSONParser.parse(payload) else { return nil }
        return apply(to: event).serialized()
    }

    public func apply(to event: JSONValue) -> JSONValue {
        var event = event
        for place in Self.propertyObjects {
            event.modify(at: place[...]) { value in
                guard case .object(var object)? = value else { return }
                if let allow {
                    object = JSONObject(object.filter { allow.contains($0.key) }.map { ($0.key, $0.value) })
                }
                var inner = JSONValue.object(object)
                for path in drop { inner.modify(at: path[...]) { $0 = nil } }
                value = inner
            }
        }
        if let salt {
            for path in hash {
                event.modify(at: path[...]) { value in
                    if let current = value { value = Self.hashed(current, salt: salt) }
                }
            }
        }
        if anonymizeIP, case .object(var object) = event {
            Self.anonymizeIPs(in: &object)
            event = .object(object)
        }
        return event
    }

    /// A string as the hex SHA-256 of its UTF-8 text and the salt; a number by its JSON text
    /// (so `42` and `"42"` hash alike). Other values are left as they are.
    static func hashed(_ value: JSONValue, salt: Secret) -> JSONValue {
        let text: String
        switch value {
        case .string(let s): text = s
        case .number(let n): text = n
        default: return value
        }
        return .string(sha256Hex(text + salt.reveal()))
    }

    public static func sha256Hex(_ text: String) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(text.utf8)) {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `request_ip` and `context.ip` cut to their network; one that is no IP address is removed.
    public static func anonymizeIPs(in event: inout JSONObject) {
        func cut(_ value: JSONValue?) -> JSONValue? {
            guard let value else { return nil }
            return value.stringValue.flatMap(AnonymizedIP.anonymize).map(JSONValue.string)
        }
        if event["request_ip"] != nil { event["request_ip"] = cut(event["request_ip"]) }
        if case .object(var context)? = event["context"], context["ip"] != nil {
            context["ip"] = cut(context["ip"])
            event["context"] = .object(context)
        }
    }
}

extension JSONValue {
    /// Changes the value at a path of object keys (or array indexes); `change` sees nil where
    /// nothing is, and setting nil removes the value. A path through anything else changes nothing.
    mutating func modify(at path: ArraySlice<String>, _ change: (inout JSONValue?) -> Void) {
        guard let key = path.first else { return }
        switch self {
        case .object(var object):
            var value = object[key]
            if path.count == 1 {
                change(&value)
            } else {
                guard value != nil else { return }
                value!.modify(at: path.dropFirst(), change)
            }
            object[key] = value
            self = .object(object)
        case .array(var array):
            guard let i = Int(key), array.indices.contains(i) else { return }
            var value: JSONValue? = array[i]
            if path.count == 1 { change(&value) } else { value!.modify(at: path.dropFirst(), change) }
            if let value { array[i] = value } else { array.remove(at: i) }
            self = .array(array)
        default:
            return
        }
    }
}
