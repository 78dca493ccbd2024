/// `archive:` at the top level: every stored event also kept, gzip NDJSON, in files per source and
/// hour on a local directory or in an S3 bucket, for replays and for reading with other tools.
/// Off unless `path` or `s3` is set.
public struct ArchiveConfig: Codable, Sendable, Hashable {
    /// A local directory.
    public var path: String?
    /// Or an S3 bucket (or an S3-compatible store with `endpoint`).
    public var s3: S3ArchiveConfig?
    /// Files whose hour ended longer ago than this are deleted; 0 keeps them for ever (as an
    /// EventBridge archive's `RetentionDays: 0`).
    public var retention: ConfigDuration = .seconds(0)
    /// Only events matching this EventBridge pattern (over the stored event) are archived.
    public var pattern: EventPattern?
    /// How far the archive may lag behind live traffic: what is committed is written at least
    /// this often.
    public var interval: ConfigDuration = .seconds(300)
    /// A file holds at most this many events (RudderStack's `archival.ArchiveEventsLimit`).
    public var maxEventsPerFile = 100_000
    /// The archive is behind (an error in the log every minute, `behind` in the summary) when its
    /// oldest unwritten event is older than this.
    public var alarmAfter: ConfigDuration = .seconds(1800)

    public init(path: String? = nil, s3: S3ArchiveConfig? = nil) {
        self.path = path
        self.s3 = s3
    }

    enum CodingKeys: String, CodingKey { case path, s3, retention, pattern, interval, maxEventsPerFile, alarmAfter }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decodeIfPresent(String.self, forKey: .path).flatMap { $0.isEmpty ? nil : $0 }
        s3 = try c.decodeIfPresent(S3ArchiveConfig.self, forKey: .s3)
        retention = try c.decodeIfPresent(ConfigDuration.self, forKey: .retention) ?? retention
        pattern = try c.decodeIfPresent(EventPattern.self, forKey: .pattern)
        interval = try c.decodeIfPresent(ConfigDuration.self, forKey: .interval) ?? interval
        maxEventsPerFile = try c.decodeIfPresent(Int.self, forKey: .maxEventsPerFile) ?? maxEventsPerFile
        alarmAfter = try c.decodeIfPresent(ConfigDuration.self, forKey: .alarmAfter) ?? alarmAfter
    }

    /// Whether anything is archived.
    public var enabled: Bool { path != nil || s3 != nil }

    /// Values out of range, by key.
    var problems: [(key: String, message: String)] {
        var out: [(String, String)] = []
        if path != nil, s3 != nil { out.append(("s3", "and archive.path exclude each other: choose one place for the archive")) }
        if interval.milliseconds < 100 { out.append(("interval", "must be at least 100ms")) }
        if !(1...1_000_000).contains(maxEventsPerFile) { out.append(("maxEventsPerFile", "must be between 1 and 1000000")) }
        if retention.milliseconds < 0 { out.append(("retention", "must not be negative")) }
        if let s3 {
            if !S3ArchiveConfig.isBucketName(s3.bucket) {
                out.append(("s3", "bucket \"\(s3.bucket)\" is not an S3 bucket name (3 to 63 lowercase letters, digits, dots and hyphens)"))
            }
            if s3.prefix.hasPrefix("/") { out.append(("s3", "prefix must not start with \"/\"")) }
        }
        return out
    }
}

/// `archive.s3`: the bucket, a key prefix, and the AWS keys every AWS destination takes.
public struct S3ArchiveConfig: Codable, Sendable, Hashable {
    public var bucket: String
    /// Put before every key (`events/` puts files under `events/<source>/…`).
    public var prefix: String = ""
    /// `region`, the keys, `endpoint` (moto, MinIO) and `credentials` (a role to assume).
    public var access: AWSAccessSettings

    public init(bucket: String, prefix: String = "", access: AWSAccessSettings) {
        self.bucket = bucket
        self.prefix = prefix
        self.access = access
    }

    enum CodingKeys: String, CodingKey {
        case bucket, prefix, region, accessKeyID, accessKey, sessionToken, endpoint, credentials
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        bucket = try c.decode(String.self, forKey: .bucket)
        prefix = try c.decodeIfPresent(String.self, forKey: .prefix) ?? ""
        access = try AWSAccessSettings(from: c)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(bucket, forKey: .bucket)
        try c.encode(prefix, forKey: .prefix)
        try access.encode(into: &c)
    }

    /// S3's rules for new buckets: 3 to 63 of `a-z0-9.-`, starting and ending with a letter or digit.
    static func isBucketName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard (3...63).contains(scalars.count) else { return false }
        let allowed = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("0"..."9").contains(c) || c == "." || c == "-" }
        let edge = { (c: Unicode.Scalar) in ("a"..."z").contains(c) || ("0"..."9").contains(c) }
        return scalars.allSatisfy(allowed) && edge(scalars.first!) && edge(scalars.last!)
    }
}
