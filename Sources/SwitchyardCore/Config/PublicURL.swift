/// Where browsers reach this server. The SDK settings endpoints hand it back, so a browser SDK
/// given only this host also sends its events here.
public struct PublicURL: Sendable, Hashable, CustomStringConvertible {
    /// `http` or `https`.
    public var scheme: String
    /// `host` or `host:port`.
    public var authority: String
    /// Empty, or a prefix such as `/collect` when a proxy serves Switchyard below one.
    public var path: String

    public var description: String { "\(scheme)://\(authority)\(path)" }

    /// Without the scheme, as analytics.js's `apiHost` is written (`collect.example.com/v1`).
    public var hostAndPath: String { authority + path }

    /// Parses `http(s)://host[:port][/path]`; nil for anything else (a query, a fragment, user info).
    public init?(_ text: String) {
        let lower = text.lowercased()
        guard let scheme = ["https", "http"].first(where: { lower.hasPrefix($0 + "://") }) else { return nil }
        let rest = text.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" }
        var path = String(rest.dropFirst(authority.count))
        while path.hasSuffix("/") { path.removeLast() }
        guard Self.isAuthority(authority), !path.contains(where: { $0 == "?" || $0 == "#" || $0 == " " || $0 == "\"" || $0 == "\\" }) else {
            return nil
        }
        self.scheme = scheme
        self.authority = String(authority)
        self.path = path
    }

    public init(scheme: String, authority: String, path: String = "") {
        self.scheme = scheme
        self.authority = authority
        self.path = path
    }

    /// Why `text` cannot be a public URL, for the configuration check; nil when it can.
    public static func problem(_ text: String) -> String? {
        PublicURL(text) == nil
            ? "\"\(text)\" must be an http:// or https:// URL with a host, like https://collect.example.com (no query, fragment or user)"
            : nil
    }

    /// The URL a request addressed: its `Host` and the plain HTTP this server speaks, or, behind a
    /// trusted proxy, the proxy's `X-Forwarded-Proto` and `X-Forwarded-Host`. Values that are not
    /// a plain host (or scheme) are ignored, so a forged header cannot put text into an answer.
    public static func of(
        host: String?,
        forwardedProto: String?,
        forwardedHost: String?,
        trustForwarded: Bool,
        fallback: String
    ) -> PublicURL {
        func first(_ header: String?) -> Substring? {
            header?.split(separator: ",", maxSplits: 1).first.map { $0.trimmingWhitespaceSubstring() }
        }
        var scheme = "http"
        var authority = host.map { $0.trimmingWhitespaceSubstring() }.flatMap { isAuthority($0) ? String($0) : nil } ?? fallback
        if trustForwarded {
            if let proto = first(forwardedProto)?.lowercased(), proto == "https" || proto == "http" { scheme = proto }
            if let forwarded = first(forwardedHost), isAuthority(forwarded) { authority = String(forwarded) }
        }
        return PublicURL(scheme: scheme, authority: authority)
    }

    static func isAuthority(_ s: some StringProtocol) -> Bool {
        guard !s.isEmpty, s.utf8.count <= 261, s.first != ":" else { return false }
        return s.utf8.allSatisfy { c in
            switch c {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            case UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: ":"), UInt8(ascii: "["), UInt8(ascii: "]"):
                return true
            default:
                return false
            }
        }
    }
}

extension StringProtocol {
    func trimmingWhitespaceSubstring() -> Substring {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s = s.dropFirst() }
        while s.last == " " || s.last == "\t" { s = s.dropLast() }
        return s
    }
}
