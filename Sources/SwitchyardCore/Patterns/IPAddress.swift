/// An IPv4 or IPv6 address, as 4 or 16 bytes.
struct IPAddress: Sendable, Hashable {
    let bytes: [UInt8]

    init?(_ text: String) {
        if let v4 = Self.v4(Substring(text)) {
            bytes = v4
        } else if let v6 = Self.v6(text) {
            bytes = v6
        } else {
            return nil
        }
    }

    static func v4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }), let n = Int(part), n <= 255 else {
                return nil
            }
            out.append(UInt8(n))
        }
        return out
    }

    static func v6(_ text: String) -> [UInt8]? {
        guard text.contains(":"), text.utf8.count <= 45 else { return nil }
        let halves = text.components(separatedByString: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ s: String) -> [UInt16]? {
            if s.isEmpty { return [] }
            var out: [UInt16] = []
            let parts = s.split(separator: ":", omittingEmptySubsequences: false)
            for (n, part) in parts.enumerated() {
                if n == parts.count - 1, part.contains("."), let v4 = v4(part) {
                    out.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    out.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard (1...4).contains(part.count), let g = UInt16(part, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all = head
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count < 8 else { return nil }
            all += Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        }
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }
}

/// A `cidr` operand: an address and a number of leading bits (the address need not be the
/// network's own).
struct CIDR: Sendable, Hashable {
    let network: IPAddress
    let bits: Int

    init(_ text: String) throws(EventPattern.Invalid) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw EventPattern.Invalid("Malformed CIDR, one '/' required") }
        guard let bits = Int(parts[1]) else { throw EventPattern.Invalid("Malformed CIDR, mask bits must be an integer") }
        guard let address = IPAddress(String(parts[0])) else { throw EventPattern.Invalid("Nonstandard IP address: \(parts[0])") }
        guard bits >= 0 else { throw EventPattern.Invalid("Malformed CIDR, mask bits must not be negative") }
        guard bits <= address.bytes.count * 8 else {
            throw EventPattern.Invalid(address.bytes.count == 4 ? "IPv4 mask bits must be < 32" : "IPv6 mask bits must be < 128")
        }
        network = address
        self.bits = bits
    }

    func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = bits
        for (a, b) in zip(address.bytes, network.bytes) where remaining > 0 {
            let take = min(8, remaining)
            let mask = UInt8(truncatingIfNeeded: 0xFF << (8 - take))
            if a & mask != b & mask { return false }
            remaining -= take
        }
        return true
    }
}

extension String {
    /// Splits on a separator string (no Foundation here).
    func components(separatedByString separator: String) -> [String] {
        var out: [String] = []
        var rest = Substring(self)
        while let range = rest.range(of: separator) {
            out.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        out.append(String(rest))
        return out
    }
}
