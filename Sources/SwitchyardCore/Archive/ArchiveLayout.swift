/// Where the archive puts things: `<source>/<YYYY-MM-DD>/<HH>/<from>-<through>.ndjson.gz` with
/// its manifest beside it (`….manifest.json`). The hour is the events' receipt hour in UTC, so a
/// replay of a time range reads only the hours it covers; `from` and `through` are the batch's
/// bounds in the store's log (zero-padded, so names sort in log order), which the cursor decides
/// before the files are written: a batch written again after a crash lands under the same names.
public enum ArchiveLayout {
    public static let dataSuffix = ".ndjson.gz"
    public static let manifestSuffix = ".manifest.json"

    /// The window (hour) an event falls in: `2026-12-06/17`.
    public static func window(of time: Timestamp) -> String {
        let text = time.rfc3339
        return String(text.prefix(10)) + "/" + String(text.dropFirst(11).prefix(2))
    }

    /// A window's length: an hour.
    public static let windowMilliseconds: Int64 = 3_600_000

    /// The start of a window: `2026-12-06/17` → 2026-12-06T17:00:00Z; nil for anything else.
    public static func start(ofWindow window: String) -> Timestamp? {
        let parts = window.split(separator: "/")
        guard parts.count == 2, parts[1].count == 2 else { return nil }
        return Timestamp(rfc3339: "\(parts[0])T\(parts[1]):00:00Z")
    }

    /// A source's directory: its name with anything but letters, digits, `_`, `-` and inner dots
    /// percent-encoded, so no name can climb out of the archive or collide with another.
    public static func directory(source: String) -> String {
        var out = ""
        for (i, byte) in source.utf8.enumerated() {
            let safe =
                (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x5F || byte == 0x2D || (byte == 0x2E && i > 0)
            if safe {
                out.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out.isEmpty ? "%00" : out
    }

    /// The source a directory names (the inverse of `directory(source:)`).
    public static func source(ofDirectory directory: String) -> String {
        directory == "%00" ? "" : directory.removingPercentEncodingLosslessly
    }

    /// The key of a batch's file for one source and window.
    public static func dataKey(source: String, window: String, from: Int64, through: Int64) -> String {
        "\(directory(source: source))/\(window)/\(padded(from))-\(padded(through))\(dataSuffix)"
    }

    public static func manifestKey(forData key: String) -> String {
        String(key.dropLast(dataSuffix.count)) + manifestSuffix
    }

    /// The window a key lies in (`web/2026-12-06/17/…` → `2026-12-06/17`), if it is one of ours.
    public static func window(ofKey key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        let window = "\(parts[1])/\(parts[2])"
        return start(ofWindow: window) == nil ? nil : window
    }

    /// The batch bounds a data file's name carries (`…/<from>-<through>.ndjson.gz`).
    public static func bounds(ofKey key: String) -> (from: Int64, through: Int64)? {
        guard key.hasSuffix(dataSuffix), let name = key.split(separator: "/").last else { return nil }
        let parts = name.dropLast(dataSuffix.count).split(separator: "-")
        guard parts.count == 2, let from = Int64(parts[0]), let through = Int64(parts[1]) else { return nil }
        return (from, through)
    }

    /// The source directory a key lies in (still encoded).
    public static func sourceDirectory(ofKey key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 4 ? String(parts[0]) : nil
    }

    static func padded(_ n: Int64) -> String {
        let digits = String(n)
        return String(repeating: "0", count: max(0, 19 - digits.count)) + digits
    }
}

/// What one archive file holds, written beside it, so a reader can check a file without
/// trusting the listing, and a replay can skip files outside its range without opening them.
public struct ArchiveManifest: Sendable, Hashable {
    public var source: String
    public var window: String
    /// The data file's key, relative to the archive.
    public var file: String
    public var count: Int
    public var firstID: Int64
    public var lastID: Int64
    public var firstReceivedAt: Timestamp
    public var lastReceivedAt: Timestamp
    /// SHA-256 of the gzip file, hex.
    public var sha256: String
    public var bytes: Int

    public init(
        source: String,
        window: String,
        file: String,
        count: Int,
        firstID: Int64,
        lastID: Int64,
        firstReceivedAt: Timestamp,
        lastReceivedAt: Timestamp,
        sha256: String,
        bytes: Int
    ) {
        self.source = source
        self.window = window
        self.file = file
        self.count = count
        self.firstID = firstID
        self.lastID = lastID
        self.firstReceivedAt = firstReceivedAt
        self.lastReceivedAt = lastReceivedAt
        self.sha256 = sha256
        self.bytes = bytes
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                ("source", .string(source)),
                ("window", .string(window)),
                ("file", .string(file)),
                ("count", .number(String(count))),
                ("firstId", .number(String(firstID))),
                ("lastId", .number(String(lastID))),
                ("firstReceivedAt", .string(firstReceivedAt.rfc3339)),
                ("lastReceivedAt", .string(lastReceivedAt.rfc3339)),
                ("sha256", .string(sha256)),
                ("bytes", .number(String(bytes))),
            ])
        )
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue,
            let source = o["source"]?.stringValue, let window = o["window"]?.stringValue, let file = o["file"]?.stringValue,
            let count = o["count"]?.integerValue, let first = o["firstId"]?.integerValue, let last = o["lastId"]?.integerValue,
            let firstAt = o["firstReceivedAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let lastAt = o["lastReceivedAt"]?.stringValue.flatMap(Timestamp.init(rfc3339:)),
            let sha = o["sha256"]?.stringValue, let bytes = o["bytes"]?.integerValue
        else { return nil }
        self.init(
            source: source,
            window: window,
            file: file,
            count: count,
            firstID: Int64(first),
            lastID: Int64(last),
            firstReceivedAt: firstAt,
            lastReceivedAt: lastAt,
            sha256: sha,
            bytes: bytes
        )
    }
}

/// Where archive files go: a directory or a bucket. Keys are relative to the archive's root.
public protocol ArchiveBucket: Sendable {
    /// `s3://bucket/prefix` or the directory: for logs and the summary.
    var location: String { get }
    /// Writes `bytes` durably under `key`, replacing what is there; returns once it is stored.
    func put(_ key: String, _ bytes: [UInt8], contentType: String) async throws
    /// The object's bytes; nil when there is none.
    func get(_ key: String) async throws -> [UInt8]?
    /// Every key under `prefix` (`""`: all), in no promised order.
    func list(under prefix: String) async throws -> [String]
    func delete(_ key: String) async throws
}
