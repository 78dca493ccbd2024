/// How a destination's jobs are delivered and retried (`delivery:` in a destination's YAML).
public struct DeliveryPolicy: Codable, Sendable, Hashable {
    /// Sends in flight at once for this destination.
    public var concurrency: Int = 4
    /// How long to wait for more events when fewer than a full batch are due.
    public var linger: ConfigDuration = .milliseconds(10)
    /// Attempts before a job is dead-lettered (the first try counts).
    public var maxAttempts: Int = 10
    /// How long after receipt a failing event is still retried.
    public var retryWindow: ConfigDuration = .seconds(3 * 3600)
    /// Exponential backoff with full jitter: a random wait up to min(maxBackoff, initialBackoff × 2^(attempt−1)).
    public var initialBackoff: ConfigDuration = .seconds(1)
    public var maxBackoff: ConfigDuration = .seconds(300)
    /// One send's time limit, connection included.
    public var timeout: ConfigDuration = .seconds(10)

    public init() {}

    enum CodingKeys: String, CodingKey {
        case concurrency, linger, maxAttempts, retryWindow, initialBackoff, maxBackoff, timeout
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        concurrency = try c.decodeIfPresent(Int.self, forKey: .concurrency) ?? concurrency
        linger = try c.decodeIfPresent(ConfigDuration.self, forKey: .linger) ?? linger
        maxAttempts = try c.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? maxAttempts
        retryWindow = try c.decodeIfPresent(ConfigDuration.self, forKey: .retryWindow) ?? retryWindow
        initialBackoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .initialBackoff) ?? initialBackoff
        maxBackoff = try c.decodeIfPresent(ConfigDuration.self, forKey: .maxBackoff) ?? maxBackoff
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
    }

    /// Problems with the values, as (key, message).
    public func problems() -> [(String, String)] {
        var out: [(String, String)] = []
        if !(1...256).contains(concurrency) { out.append(("concurrency", "delivery.concurrency must be between 1 and 256")) }
        if maxAttempts < 1 { out.append(("maxAttempts", "delivery.maxAttempts must be at least 1")) }
        if linger.milliseconds > 10_000 { out.append(("linger", "delivery.linger must be at most 10s")) }
        if initialBackoff.milliseconds < 1 { out.append(("initialBackoff", "delivery.initialBackoff must be at least 1ms")) }
        if maxBackoff.milliseconds < initialBackoff.milliseconds {
            out.append(("maxBackoff", "delivery.maxBackoff must be at least initialBackoff"))
        }
        if timeout.milliseconds < 100 { out.append(("timeout", "delivery.timeout must be at least 100ms")) }
        return out
    }

    /// The wait before attempt `attempt + 1`, after `attempt` attempts failed.
    public func backoff(afterAttempt attempt: Int, random: (ClosedRange<Int64>) -> Int64 = { Int64.random(in: $0) }) -> Int64 {
        random(0...backoffCeiling(afterAttempt: attempt))
    }

    /// min(maxBackoff, initialBackoff × 2^(attempt−1)), in milliseconds.
    public func backoffCeiling(afterAttempt attempt: Int) -> Int64 {
        let exponent = min(max(attempt - 1, 0), 40)
        let ceiling = min(
            maxBackoff.milliseconds,
            initialBackoff.milliseconds.multipliedReportingOverflow(by: 1 << exponent).overflow
                ? .max : initialBackoff.milliseconds << exponent
        )
        return max(ceiling, 0)
    }
}

/// A duration written as `250ms`, `10s`, `5m`, `3h` or `1d` (a bare number is seconds).
public struct ConfigDuration: Codable, Sendable, Hashable, CustomStringConvertible {
    public var milliseconds: Int64

    public static func milliseconds(_ ms: Int64) -> ConfigDuration { ConfigDuration(milliseconds: ms) }
    public static func seconds(_ s: Int64) -> ConfigDuration { ConfigDuration(milliseconds: s * 1000) }

    public init(milliseconds: Int64) {
        self.milliseconds = milliseconds
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self).trimmingWhitespace()
        guard let value = ConfigDuration(parsing: text) else {
            // Quoted as the file has it (`kindDescription`), so a ${VAR}'s value is not shown.
            let written = decoder.configNode?.kindDescription ?? "\"\(text)\""
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message: "\(written) is not a duration of at most 100 years; write it like 250ms, 10s, 5m, 3h or 1d"
            )
        }
        self = value
    }

    /// The longest duration accepted: 100 years. Longer ones (from a config file, or an operator's
    /// `since=`) are refused instead of overflowing the arithmetic done with them.
    public static let maximumMilliseconds: Int64 = 100 * 365 * 86_400_000

    public init?(parsing text: String) {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)]
        var value: (number: String, factor: Int64) = (text, 1000)
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            value = (String(text.dropLast(suffix.count)).trimmingWhitespace(), factor)
            break
        }
        guard let n = Int64(value.number), n >= 0 else { return nil }
        let (product, overflow) = n.multipliedReportingOverflow(by: value.factor)
        guard !overflow, product <= Self.maximumMilliseconds else { return nil }
        milliseconds = product
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }

    public var description: String {
        if milliseconds % 3_600_000 == 0, milliseconds > 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    public var duration: Duration { .milliseconds(milliseconds) }
}
