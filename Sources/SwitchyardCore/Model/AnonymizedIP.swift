#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IP address cut to its network, so it no longer points at one household or device:
/// IPv4 keeps its first 24 bits (`a.b.c.0`), IPv6 its first 48 (the rest zeroed, written in
/// RFC 5952's compressed form). An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is an IPv4
/// address and is cut as one.
public enum AnonymizedIP {
    /// The address's network, or nil when the text is no IP address (it is then to be removed,
    /// never passed on whole).
    public static func anonymize(_ text: String) -> String? {
        guard !text.isEmpty, text.utf8.count <= 64 else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return withUnsafeBytes(of: &v4) { b in "\(b[0]).\(b[1]).\(b[2]).0" }
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, text, &v6) == 1 else { return nil }
        var bytes = withUnsafeBytes(of: &v6) { Array($0) }
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {
            return "::ffff:\(bytes[12]).\(bytes[13]).\(bytes[14]).0"
        }
        for i in 6..<16 { bytes[i] = 0 }
        return compressed(bytes)
    }

    /// RFC 5952: lowercase hex without leading zeros, the longest run of two or more zero
    /// groups (the first of equal runs) written `::`.
    static func compressed(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            guard groups[i] == 0 else {
                i += 1
                continue
            }
            var j = i
            while j < 8, groups[j] == 0 { j += 1 }
            if j - i > best.length { best = (i, j - i) }
            i = j
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        guard best.length >= 2 else { return hex(0..<8) }
        return hex(0..<best.start) + "::" + hex((best.start + best.length)..<8)
    }
}
