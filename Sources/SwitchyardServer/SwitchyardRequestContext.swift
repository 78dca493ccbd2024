import HTTPTypes
import Hummingbird
import NIOCore

/// Per-request context: the peer address (for `request_ip`) and no framework upload cap, since the
/// ingestion routes enforce the configured limits themselves, after gzip decoding.
public struct SwitchyardRequestContext: RequestContext, RemoteAddressRequestContext {
    public var coreContext: CoreRequestContextStorage
    public let remoteAddress: SocketAddress?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        remoteAddress = source.channel.remoteAddress
    }

    public var maxUploadSize: Int { 64 * 1024 }
}

/// A plain-text error, the way rudder-server answers: status, one line, a newline.
public struct TextError: HTTPResponseError {
    public var status: HTTPResponse.Status
    public var message: String
    public var headers: HTTPFields = [:]

    public init(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        .text(message, status: status, headers: headers)
    }
}

extension Response {
    static func text(_ message: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "text/plain; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }
}

/// Turns every error into a plain-text response, so unknown routes, wrong methods and anything
/// unexpected get a clear status and body, never a stack trace or a framework's JSON shape.
struct TextErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as TextError {
            return try error.response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            let message: String
            switch error.status {
            case .notFound: message = "not found"
            case .methodNotAllowed: message = "method not allowed"
            case .contentTooLarge: message = "request size exceeds max limit"
            default: message = error.status.reasonPhrase.lowercased()
            }
            return .text(message, status: error.status)
        } catch {
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            return .text("internal server error", status: .internalServerError)
        }
    }
}
