import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The message types of the RudderStack/Segment spec; the HTTP route or the batch element sets it.
public enum MessageType: String, Sendable, Codable, CaseIterable, Hashable {
    case track, identify, page, screen, group, alias
}

extension MessageType {
    /// Top-level fields every message may carry: the spec's common fields and what enrichment adds.
    public static let commonFields: Set<String> = [
        "anonymousId", "userId", "context", "integrations", "messageId", "receivedAt", "sentAt",
        "timestamp", "originalTimestamp", "type", "channel", "request_ip", "version",
    ]

    /// The top-level fields the Segment/RudderStack spec gives this type besides the common ones,
    /// so configuration checks can tell that `{{ event }}` means nothing on an identify.
    public var specFields: Set<String> {
        switch self {
        case .track: return ["event", "properties"]
        case .identify: return ["traits"]
        case .page, .screen: return ["name", "category", "properties"]
        case .group: return ["groupId", "traits"]
        case .alias: return ["previousId"]
        }
    }

    public func hasField(_ name: String) -> Bool {
        Self.commonFields.contains(name) || specFields.contains(name)
    }
}

/// An accepted event, enriched and ready to store: the facts the pipeline routes on, plus the
/// event's JSON exactly as it will be forwarded.
public struct Event: Sendable, Hashable {
    public var messageId: String
    public var type: MessageType
    /// `event` for track, `name` for page and screen; what filters and the live log show.
    public var name: String?
    public var userId: String?
    public var anonymousId: String?
    public var receivedAt: Timestamp
    /// The enriched event as compact JSON, key order as the client sent it. Changing it drops
    /// `document`, so the two never disagree.
    public var payload: [UInt8] {
        didSet { document = nil }
    }
    /// The payload as the tree ingestion built it, while the request is being handled: what a
    /// tracking plan and schema discovery read instead of parsing the payload again. Never
    /// stored, and no part of the event's identity.
    public var document: JSONObject?

    /// The payload as a tree: `document` when ingestion left it, else parsed; nil when the
    /// payload is not a JSON object.
    public var message: JSONObject? {
        document ?? (try? JSONParser.parse(payload))?.objectValue
    }

    public static func == (a: Event, b: Event) -> Bool {
        a.messageId == b.messageId && a.type == b.type && a.name == b.name && a.userId == b.userId
            && a.anonymousId == b.anonymousId && a.receivedAt == b.receivedAt && a.payload == b.payload
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(messageId)
        hasher.combine(payload)
    }

    public init(
        messageId: String,
        type: MessageType,
        name: String?,
        userId: String?,
        anonymousId: String?,
        receivedAt: Timestamp,
        payload: [UInt8]
    ) {
        self.messageId = messageId
        self.type = type
        self.name = name
        self.userId = userId
        self.anonymousId = anonymousId
        self.receivedAt = receivedAt
        self.payload = payload
    }
}

/// Random (version 4) UUIDs in lower case, the form the SDKs send.
public enum UUIDv4 {
    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)
    /// Random bytes fetched 4 KiB at a time: one `getrandom` per 256 ids instead of two per id,
    /// which had been a tenth of ingestion's CPU for events that came without a messageId.
    private static let pool = NIOLockedValueBox(RandomPool())

    public static func make() -> String {
        var bytes = pool.withLockedValue { $0.next16() }
        return withUnsafeMutableBytes(of: &bytes) { raw in
            raw[6] = (raw[6] & 0x0F) | 0x40
            raw[8] = (raw[8] & 0x3F) | 0x80
            var out = [UInt8]()
            out.reserveCapacity(36)
            for (n, byte) in raw.enumerated() {
                if n == 4 || n == 6 || n == 8 || n == 10 { out.append(UInt8(ascii: "-")) }
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xF)])
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}

/// A buffer of bytes from the system's CSPRNG, handed out once each.
private struct RandomPool {
    private var words = [UInt64](repeating: 0, count: 512)
    private var next = 512

    mutating func next16() -> (UInt64, UInt64) {
        if next == words.count {
            words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            next = 0
        }
        defer {
            words[next] = 0
            words[next + 1] = 0
            next += 2
        }
        return (words[next], words[next + 1])
    }
}
