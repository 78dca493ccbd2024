/// A blocked Bloom filter: each key sets eight bits inside one 64-byte block, so a lookup costs
/// one cache line however large the filter grows. About 10 bits per key gives roughly 1% false
/// positives; it never says "absent" for a key that was added.
struct BloomFilter: Sendable {
    private var words: [UInt64]
    private let blocks: UInt64
    /// Keys added, expired ones included: past `capacity` the false-positive rate climbs.
    private(set) var count = 0
    let capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 1024)
        // 512 bits a block, about 10 bits a key.
        let blocks = (self.capacity * 10 + 511) / 512
        self.blocks = UInt64(blocks)
        words = Array(repeating: 0, count: blocks * 8)
    }

    mutating func insert(_ hash: Int) {
        var (base, probe) = start(hash)
        for _ in 0..<8 {
            let position = Int(probe >> 23)
            words[base + position >> 6] |= 1 << UInt64(position & 63)
            probe = probe &* 0x9E37_79B1
        }
        count += 1
    }

    func mayContain(_ hash: Int) -> Bool {
        var (base, probe) = start(hash)
        for _ in 0..<8 {
            let position = Int(probe >> 23)
            if words[base + position >> 6] & (1 << UInt64(position & 63)) == 0 { return false }
            probe = probe &* 0x9E37_79B1
        }
        return true
    }

    /// The block from the hash's high half; the bits within it (0..<512, the top nine bits of
    /// an odd multiplier sequence) from the low half.
    private func start(_ hash: Int) -> (Int, UInt32) {
        let h = UInt64(bitPattern: Int64(hash))
        return (Int((h >> 32) % blocks) * 8, UInt32(truncatingIfNeeded: h) | 1)
    }
}
