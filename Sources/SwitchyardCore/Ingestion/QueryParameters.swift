/// The query of a browser request: the beacon's `?writeKey=`, or a pixel's whole event
/// (`GET /pixel/v1/page?writeKey=…&anonymousId=…&context.page.url=…`, for AMP pages and e-mails
/// where no script runs). Parsed within fixed bounds before anything is built from it.
public struct QueryParameters: Sendable {
    /// Bounds on what a URL may carry. A pixel from a page or an e-mail needs a few dozen
    /// parameters; these leave room for that and refuse the rest before any work is done.
    public enum Limits {
        /// The raw (percent-encoded) query, in bytes.
        public static let maxBytes = 16 * 1024
        public static let maxParameters = 128
        /// One parameter's name, in bytes after decoding.
        public static let maxNameBytes = 256
        /// Dotted segments in one name (`context.page.url` has three).
        public static let maxNameDepth = 8
    }

    /// Name and value of each parameter, in the order they came; a repeated name keeps its first
    /// value, as Go's `url.Values` gives rudder-server.
    public private(set) var parameters: [(name: String, value: String)] = []

    public init() {}

    public func value(_ name: String) -> String? {
        parameters.first { $0.name == name }?.value
    }

    public var writeKey: String? { value("writeKey") }

    /// Parses a raw query string (`+` is a space, `%XX` a byte, the result UTF-8), refusing it whole
    /// when it breaks a bound or is not well formed.
    public static func parse(_ query: Substring) throws(IngestError) -> QueryParameters {
        let pairs = query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true)
        guard pairs.count <= Limits.maxParameters else { throw .tooManyQueryParameters(count: pairs.count, limit: Limits.maxParameters) }
        guard query.utf8.count <= Limits.maxBytes else { throw .queryTooLarge(bytes: query.utf8.count, limit: Limits.maxBytes) }
        var result = QueryParameters()
        var seen = Set<String>()
        for pair in pairs {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), let value = decode(parts.count > 1 ? parts[1] : pair[pair.endIndex...]) else {
                throw .invalidQuery("a parameter is not valid percent-encoded UTF-8")
            }
            if name.isEmpty { continue }
            guard name.utf8.count <= Limits.maxNameBytes else {
                throw .invalidQuery("parameter name \"\(name.prefix(32))…\" is longer than \(Limits.maxNameBytes) bytes")
            }
            let segments = name.split(separator: ".", omittingEmptySubsequences: false)
            guard segments.count <= Limits.maxNameDepth else {
                throw .invalidQuery("parameter name \"\(name.prefix(64))\" has more than \(Limits.maxNameDepth) dotted parts")
            }
            guard !segments.contains(where: \.isEmpty) else {
                throw .invalidQuery("parameter name \"\(name.prefix(64))\" has an empty dotted part")
            }
            if seen.insert(name).inserted { result.parameters.append((name, value)) }
        }
        return result
    }

    /// The event rudder-server's gateway builds from a pixel: `channel: "web"`, `integrations:
    /// {All: true}`, the server's time as `originalTimestamp` and `sentAt`, then every parameter
    /// but `writeKey` at its dotted path (values stay strings), the route's type last. A page's
    /// empty `name` becomes "Unknown Page"; a track needs a non-empty `event`; both need
    /// `anonymousId` (surrounding double quotes, as cookie values carry them, are removed).
    public func pixelEvent(type: MessageType, now: String) throws(IngestError) -> JSONValue {
        var event = JSONObject([
            ("channel", .string("web")),
            ("integrations", .object(JSONObject([("All", .bool(true))]))),
            ("originalTimestamp", .string(now)),
            ("sentAt", .string(now)),
        ])
        for (name, value) in parameters where name != "writeKey" {
            var text = value
            if name == "anonymousId", text.utf8.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") {
                text = String(text.dropFirst().dropLast())
            }
            Self.set(.string(text), at: name.split(separator: "."), in: &event)
        }
        guard case .string(let anonymousId)? = event["anonymousId"], !anonymousId.trimmingWhitespace().isEmpty else {
            throw .pixelNeedsAnonymousId
        }
        switch type {
        case .page:
            if case .string("")? = event["name"] { event["name"] = .string("Unknown Page") }
        case .track:
            guard case .string(let name)? = event["event"], !name.isEmpty else { throw .pixelTrackNeedsEvent }
        default:
            break
        }
        event["type"] = .string(type.rawValue)
        return .object(event)
    }

    /// Sets a value at a dotted path, making objects on the way. Every segment is an object key,
    /// digits included, so `items.999999` cannot grow an array.
    static func set(_ value: JSONValue, at path: [Substring], in object: inout JSONObject) {
        guard let first = path.first else { return }
        let key = String(first)
        if path.count == 1 {
            object[key] = value
            return
        }
        var child = object[key]?.objectValue ?? JSONObject()
        set(value, at: Array(path.dropFirst()), in: &child)
        object[key] = .object(child)
    }

    /// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte. Nil for a broken
    /// escape or bytes that are not UTF-8.
    static func decode(_ raw: Substring.UTF8View.SubSequence) -> String? {
        if !raw.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) {
            return String(validating: raw, as: UTF8.self)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            if c == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%") {
                let h = raw.index(after: i)
                guard h < raw.endIndex, raw.index(after: h) < raw.endIndex,
                    let high = hexValue(raw[h]), let low = hexValue(raw[raw.index(after: h)])
                else { return nil }
                bytes.append(high << 4 | low)
                i = raw.index(after: raw.index(after: h))
                continue
            } else {
                bytes.append(c)
            }
            i = raw.index(after: i)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
