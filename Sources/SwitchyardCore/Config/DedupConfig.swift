/// `dedup:` at the top level, and per source: how long a message id, once accepted from a
/// source, makes a later event with the same id from that source a duplicate. SDKs send a
/// request again when they missed its answer (a timeout, a reset by a load balancer), with the
/// same message ids; the second copy is answered 200 and not stored. Segment looks back about
/// 24 hours, rudder-server's processor one hour; `window: 0` turns it off.
public struct DedupConfig: Codable, Sendable, Hashable {
    public var window: ConfigDuration = .seconds(24 * 3600)

    public init(window: ConfigDuration = .seconds(24 * 3600)) {
        self.window = window
    }

    enum CodingKeys: String, CodingKey { case window }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        window = try c.decodeIfPresent(ConfigDuration.self, forKey: .window) ?? window
    }

    /// The window in milliseconds, or nil when deduplication is off.
    public var windowMilliseconds: Int64? { window.milliseconds > 0 ? window.milliseconds : nil }
}
