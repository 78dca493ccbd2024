/// The `format`s Switchyard checks. The specification makes `format` an annotation that a
/// validator may assert; Ajv (RudderStack's validator) asserts these, so a plan behaves the same.
/// Other format names are annotations only.
enum SchemaFormat: String, Sendable, CaseIterable {
    case dateTime = "date-time"
    case date, time, email, ipv4, ipv6

    func accepts(_ s: String) -> Bool {
        switch self {
        case .date: return SchemaFormat.isDate(Substring(s))
        case .time: return SchemaFormat.isTime(Substring(s))
        case .dateTime:
            guard let t = s.firstIndex(where: { $0 == "T" || $0 == "t" }) else { return false }
            return SchemaFormat.isDate(s[..<t]) && SchemaFormat.isTime(s[s.index(after: t)...])
        case .email:
            let parts = s.split(separator: "@", omittingEmptySubsequences: false)
            guard parts.count == 2, let local = parts.first, let domain = parts.last, !local.isEmpty, !domain.isEmpty else { return false }
            guard !local.hasPrefix("."), !local.hasSuffix("."), !local.contains("..") else { return false }
            return !s.contains(where: { $0 == " " || $0.isNewline })
        case .ipv4: return IPAddress.v4(Substring(s)) != nil && !SchemaFormat.hasLeadingZeroOctet(Substring(s))
        case .ipv6:
            let tail = s.split(separator: ":").last ?? ""
            return !s.contains("%") && IPAddress.v6(s) != nil && !(tail.contains(".") && SchemaFormat.hasLeadingZeroOctet(tail))
        }
    }

    /// `01.2.3.4`: RFC 3986 writes no leading zeros (some parsers read them as octal).
    static func hasLeadingZeroOctet(_ s: Substring) -> Bool {
        s.split(separator: ".").contains { $0.count > 1 && $0.hasPrefix("0") }
    }

    /// RFC 3339 full-date: `2024-02-29`, with the month's real length.
    static func isDate(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard u.count == 10, u[4] == UInt8(ascii: "-"), u[7] == UInt8(ascii: "-") else { return false }
        guard let y = digits(u, 0, 4), let m = digits(u, 5, 2), let d = digits(u, 8, 2), (1...12).contains(m), d >= 1 else { return false }
        let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1]
        return d <= days
    }

    /// RFC 3339 full-time: `23:59:59[.fraction](Z|±hh:mm)`; a leap second only at 23:59 UTC.
    static func isTime(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard u.count >= 9, u[2] == UInt8(ascii: ":"), u[5] == UInt8(ascii: ":") else { return false }
        guard let h = digits(u, 0, 2), let m = digits(u, 3, 2), let sec = digits(u, 6, 2), h < 24, m < 60, sec <= 60 else { return false }
        var i = 8
        if i < u.count, u[i] == UInt8(ascii: ".") {
            i += 1
            let start = i
            while i < u.count, (48...57).contains(u[i]) { i += 1 }
            guard i > start else { return false }
        }
        guard i < u.count else { return false }
        var offset = 0
        if u[i] == UInt8(ascii: "Z") || u[i] == UInt8(ascii: "z") {
            guard i + 1 == u.count else { return false }
        } else {
            guard u[i] == UInt8(ascii: "+") || u[i] == UInt8(ascii: "-"), u.count == i + 6, u[i + 3] == UInt8(ascii: ":"),
                let oh = digits(u, i + 1, 2), let om = digits(u, i + 4, 2), oh < 24, om < 60
            else { return false }
            offset = (oh * 60 + om) * (u[i] == UInt8(ascii: "+") ? 1 : -1)
        }
        if sec == 60 {
            let utc = ((h * 60 + m - offset) % 1440 + 1440) % 1440
            return utc == 1439
        }
        return true
    }

    private static func digits(_ u: [UInt8], _ at: Int, _ count: Int) -> Int? {
        var v = 0
        for k in at..<(at + count) {
            guard (48...57).contains(u[k]) else { return nil }
            v = v * 10 + Int(u[k] - 48)
        }
        return v
    }
}
