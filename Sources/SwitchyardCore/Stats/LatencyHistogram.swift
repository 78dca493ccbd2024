import Foundation

/// Delivery latencies in logarithmic buckets (four per doubling, so a percentile read from it is
/// at most 19% high): small, and mergeable across minutes and nodes, which percentiles kept as
/// numbers are not.
public struct LatencyHistogram: Sendable, Hashable {
    /// Bucket index → count. Bucket 0 holds latencies under 1 ms; bucket `i` holds
    /// [2^((i-1)/4), 2^(i/4)) ms.
    public private(set) var buckets: [Int: Int] = [:]
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    static func bucket(milliseconds ms: Int64) -> Int {
        guard ms >= 1 else { return 0 }
        return 1 + Int((log2(Double(ms)) * 4).rounded(.down))
    }

    /// The bucket's upper bound in milliseconds, rounded up.
    static func upperBound(_ bucket: Int) -> Int64 {
        bucket == 0 ? 1 : Int64(pow(2, Double(bucket) / 4).rounded(.up))
    }

    public mutating func add(milliseconds ms: Int64, count n: Int = 1) {
        buckets[Self.bucket(milliseconds: ms), default: 0] += n
        count += n
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for (b, n) in other.buckets { buckets[b, default: 0] += n }
        count += other.count
    }

    /// The latency under which `fraction` of the entries fell (the bucket's upper bound), nil when empty.
    public func percentile(_ fraction: Double) -> Int64? {
        guard count > 0 else { return nil }
        let rank = max(1, Int((Double(count) * fraction).rounded(.up)))
        var seen = 0
        for b in buckets.keys.sorted() {
            seen += buckets[b]!
            if seen >= rank { return Self.upperBound(b) }
        }
        return nil
    }

    /// `{"<bucket>": count}`, as the store keeps it.
    public var json: JSONValue {
        var o = JSONObject()
        for b in buckets.keys.sorted() { o[String(b)] = .number(String(buckets[b]!)) }
        return .object(o)
    }

    public init(json: JSONValue?) {
        guard case .object(let o)? = json else { return }
        for (key, value) in o {
            guard let b = Int(key), (0...200).contains(b), let n = value.integerValue, n > 0 else { continue }
            buckets[b, default: 0] += n
            count += n
        }
    }
}
