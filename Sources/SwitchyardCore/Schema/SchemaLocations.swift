/// URI references as JSON Schema uses them for `$id` and `$ref` (RFC 3986 resolution, enough for
/// `http:`, `urn:` and relative references), and JSON Pointers into a document.
enum SchemaURI {
    /// Splits `uri` at its `#`: the document and the fragment (without `#`, nil when absent).
    static func split(_ uri: String) -> (document: String, fragment: String?) {
        guard let hash = uri.firstIndex(of: "#") else { return (uri, nil) }
        return (String(uri[..<hash]), String(uri[uri.index(after: hash)...]))
    }

    /// `reference` resolved against `base` (RFC 3986, section 5.2).
    static func resolve(_ reference: String, against base: String) -> String {
        if reference.isEmpty { return base }
        if hasScheme(reference) { return normalize(reference) }
        let (baseDocument, _) = split(base)
        if reference.hasPrefix("#") { return baseDocument + reference }
        guard let schemeEnd = baseDocument.firstIndex(of: ":") else {
            // A base without a scheme (none given): keep references relative to the root.
            return merge(baseDocument, reference)
        }
        let scheme = baseDocument[...schemeEnd]
        let rest = baseDocument[baseDocument.index(after: schemeEnd)...]
        if reference.hasPrefix("//") { return normalize(scheme + reference) }
        var authority = ""
        var path = String(rest)
        if rest.hasPrefix("//") {
            let afterSlashes = rest.index(rest.startIndex, offsetBy: 2)
            let pathStart = rest[afterSlashes...].firstIndex(of: "/") ?? rest.endIndex
            authority = String(rest[..<pathStart])
            path = String(rest[pathStart...])
        }
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        if reference.hasPrefix("/") { return scheme + authority + removeDots(reference) }
        if reference.hasPrefix("?") { return scheme + authority + path + reference }
        return scheme + authority + removeDots(merge(path.isEmpty && !authority.isEmpty ? "/" : path, reference))
    }

    private static func hasScheme(_ s: String) -> Bool {
        guard let colon = s.firstIndex(of: ":"), colon != s.startIndex else { return false }
        let scheme = s[..<colon]
        return scheme.first!.isLetter && scheme.allSatisfy { $0.isLetter || $0.isNumber || $0 == "+" || $0 == "-" || $0 == "." }
    }

    private static func merge(_ basePath: String, _ reference: String) -> String {
        guard let slash = basePath.lastIndex(of: "/") else { return reference }
        return basePath[...slash] + reference
    }

    private static func normalize(_ uri: String) -> String {
        let (document, fragment) = split(uri)
        guard let range = document.range(of: "://") else { return uri }
        let afterAuthority = document[range.upperBound...].firstIndex(of: "/") ?? document.endIndex
        let path = removeDots(String(document[afterAuthority...]))
        return document[..<afterAuthority] + path + (fragment.map { "#" + $0 } ?? "")
    }

    private static func removeDots(_ path: String) -> String {
        guard path.contains("./") || path.hasSuffix("/.") || path.hasSuffix("/..") else { return path }
        var out: [Substring] = []
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        for (i, part) in parts.enumerated() {
            if part == "." {
                if i == parts.count - 1 { out.append("") }
            } else if part == ".." {
                if out.count > 1 { out.removeLast() }
                if i == parts.count - 1 { out.append("") }
            } else {
                out.append(part)
            }
        }
        return out.joined(separator: "/")
    }
}

/// JSON Pointers (RFC 6901), as `$ref` fragments write them (percent-encoded).
enum JSONPointer {
    /// The reference tokens of `fragment` (`/a/b~1c` → `a`, `b/c`); nil when it is not a pointer.
    static func tokens(_ fragment: String) -> [String]? {
        let decoded = fragment.removingPercentEncodingLosslessly
        if decoded.isEmpty { return [] }
        guard decoded.hasPrefix("/") else { return nil }
        return decoded.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    /// `tokens` written as a pointer: `/a/b~1c`.
    /// Written scalar by scalar: it runs for every checked event, and Foundation's
    /// `replacingOccurrences` was most of a tracking plan's cost.
    static func string(_ tokens: [String]) -> String {
        var out = ""
        for token in tokens {
            out.unicodeScalars.append("/")
            for scalar in token.unicodeScalars {
                switch scalar {
                case "~": out += "~0"
                case "/": out += "~1"
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}

extension String {
    /// `%xx` sequences decoded as UTF-8; the text unchanged where they are not valid.
    var removingPercentEncodingLosslessly: String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        let utf8 = Array(self.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "%"), i + 2 < utf8.count,
                let v = UInt8(String(decoding: utf8[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                i += 3
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(validating: bytes, as: UTF8.self) ?? self
    }
}
