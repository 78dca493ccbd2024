import HTTPTypes
import Hummingbird

/// Cross-origin access for browser SDKs, answered as rudder-server's gateway answers it (rs/cors
/// with every origin and every requested header allowed). The SDKs add headers of their own
/// (rudder-sdk-js's `AnonymousId`, `SentAt` and `Rsa-*`, analytics.js's `X-Retry-Count`), so a
/// fixed list would fail their preflights. Nothing here is opened by a cookie or other ambient
/// credential (write keys and admin tokens travel explicitly), so echoing the origin grants a
/// page nothing it does not already hold.
///
/// It runs outside `TextErrorMiddleware`, so refusals carry the headers too and a page can read
/// why it was refused.
struct SDKCORSMiddleware<Context: RequestContext>: RouterMiddleware {
    static var allowMethods: String { "GET, POST, HEAD, OPTIONS" }
    /// Used when a preflight's `Access-Control-Request-Headers` is not a plain list of names.
    static var defaultAllowHeaders: String {
        "Accept, Authorization, Content-Type, Content-Encoding, Origin, AnonymousId, SentAt, X-Retry-Count"
    }
    static var exposeHeaders: String { "Retry-After, X-Switchyard-Refused" }
    static var maxAge: String { "86400" }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin], origin.utf8.count <= 1024 else {
            return try await next(request, context)
        }
        if request.method == .options {
            var headers: HTTPFields = [
                .accessControlAllowOrigin: origin,
                .accessControlAllowCredentials: "true",
                .accessControlAllowMethods: Self.allowMethods,
                .accessControlAllowHeaders: Self.allowHeaders(for: request.headers[.accessControlRequestHeaders]),
                .accessControlMaxAge: Self.maxAge,
                .vary: "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
            ]
            // Chrome's Private Network Access: a public page posting to a server on a private address.
            if request.headers[.accessControlRequestPrivateNetwork]?.lowercased() == "true" {
                headers[.accessControlAllowPrivateNetwork] = "true"
            }
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.accessControlAllowCredentials] = "true"
        response.headers[.accessControlExposeHeaders] = Self.exposeHeaders
        response.headers[values: .vary].append("Origin")
        return response
    }

    /// The requested header names echoed back when they are only names (RFC 9110 tokens, commas
    /// and spaces, at most 2 KiB), else the list the SDKs are known to send.
    static func allowHeaders(for requested: String?) -> String {
        guard let requested, !requested.isEmpty, requested.utf8.count <= 2048,
            requested.utf8.allSatisfy({ isTokenByte($0) || $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: " ") })
        else { return defaultAllowHeaders }
        return requested
    }

    static func isTokenByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(c)
        }
    }
}

extension HTTPField.Name {
    static let accessControlRequestPrivateNetwork = Self("Access-Control-Request-Private-Network")!
    static let accessControlAllowPrivateNetwork = Self("Access-Control-Allow-Private-Network")!
}
