import CompressNIO
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import SwitchyardCore

/// The RudderStack/Segment-compatible ingestion routes. A request is answered 200 only after every
/// one of its events and their jobs are committed; every refusal is a documented status and text.
public struct IngestController: Sendable {
    public let routing: Routing
    /// Events and their jobs, and the records of what a tracking plan found.
    public let store: any JobQueue & DeliveryLogStore
    public let limits: LimitsConfig
    public let trustForwardedFor: Bool
    /// The server's counters: events received per source, refusals per route and status.
    public let metrics: PipelineMetrics
    /// Whose events are dropped before they are stored.
    public let regulations: RegulationService
    /// Infers the schemas of stored events; nil when `schemaDiscovery.enabled` is false.
    public let discovery: SchemaDiscovery?
    let budget: MemoryBudget

    public init(
        routing: Routing,
        store: any JobQueue & DeliveryLogStore,
        limits: LimitsConfig,
        trustForwardedFor: Bool,
        metrics: PipelineMetrics,
        regulations: RegulationService,
        discovery: SchemaDiscovery? = nil
    ) {
        self.routing = routing
        self.regulations = regulations
        self.discovery = discovery
        self.metrics = metrics
        self.store = store
        self.limits = limits
        self.trustForwardedFor = trustForwardedFor
        budget = MemoryBudget(limit: limits.maxInflightBytes)
    }

    /// Where a route finds its write key.
    enum WriteKeyPlace {
        /// Basic auth (RudderStack's clients, analytics.js from 1.84), else `writeKey` in the body
        /// (Segment's server clients and older analytics.js).
        case headerOrBody
        /// `?writeKey=`: `navigator.sendBeacon` cannot set headers.
        case query
    }

    /// Browsers send at most 64 KiB through `navigator.sendBeacon` (and keepalive fetches), so a
    /// larger body on the beacon route is not a browser's.
    static let maxBeaconBytes = 64 * 1024

    public func addRoutes(to router: Router<SwitchyardRequestContext>) {
        func post(_ path: String, _ route: IngestRoute, writeKey: WriteKeyPlace = .headerOrBody, maxBytes: Int? = nil) {
            router.post(RouterPath(path)) { request, context in
                try await counted(path) { source in
                    try await self.ingest(
                        route: route,
                        request: request,
                        context: context,
                        writeKey: writeKey,
                        maxBytes: maxBytes ?? limits.maxRequestBytes,
                        source: &source
                    )
                }
            }
        }
        for route in IngestRoute.allCases {
            // RudderStack's and Segment's long routes.
            post("/v1/\(route.rawValue)", route)
            // Segment's browser SDK (analytics.js): the type's first letter; `/b` is its batching strategy.
            post("/v1/\(route.rawValue.prefix(1))", route)
        }
        // Historical imports (RudderStack and Segment): a batch, with the same checks.
        post("/v1/import", .batch)
        // rudder-sdk-js's beacon transport.
        post("/beacon/v1/batch", .batch, writeKey: .query, maxBytes: min(limits.maxRequestBytes, Self.maxBeaconBytes))
        // RudderStack's pixel API, for pages and e-mails where no script runs.
        for type in [MessageType.track, .page] {
            let path = "/pixel/v1/\(type.rawValue)"
            router.get(RouterPath(path)) { request, context in
                try await counted(path) { _ in try await self.pixel(type: type, path: path, request: request, context: context) }
            }
        }
    }

    /// Counts refusals by route and status, and by source once the write key has named one.
    private func counted(_ path: String, _ handle: (inout String?) async throws -> Response) async throws -> Response {
        var source: String?
        do {
            return try await handle(&source)
        } catch let error as TextError {
            metrics.refused(route: path, status: error.status.code, source: source)
            throw error
        }
    }

    func ingest(
        route: IngestRoute,
        request: Request,
        context: SwitchyardRequestContext,
        writeKey place: WriteKeyPlace = .headerOrBody,
        maxBytes: Int,
        source known: inout String?
    ) async throws -> Response {
        let receivedAt = Timestamp.now()
        let headers = IngestHeaders(request.headers)
        // Refuse early what is certain to be refused, before reading a byte of the body.
        if let length = headers.contentLength.flatMap(Int.init), length > maxBytes {
            throw IngestError.requestTooLarge.textError
        }
        var headerSource: Routing.Source?
        let provedKey: Bool
        switch place {
        case .query:
            headerSource = try authenticate(query: Self.query(of: request))
            provedKey = true
        case .headerOrBody:
            provedKey = headers.authorization != nil
            if provedKey {
                headerSource = try authenticate(BasicAuth.writeKey(from: headers.authorization))
            }
        }
        known = headerSource?.name

        // The body is counted against the budget as it arrives, so many slow uploads together
        // cannot hold more than the budget (nor block it by declaring sizes they never send).
        var body = ByteBuffer()
        var held = MemoryBudget.Reservation(bytes: 0)
        defer { budget.release(held) }
        for try await chunk in request.body {
            guard body.readableBytes + chunk.readableBytes <= maxBytes else {
                throw IngestError.requestTooLarge.textError
            }
            held.bytes += try budget.reserve(chunk.readableBytes).bytes
            if body.readableBytes == 0 { body = chunk } else { body.writeImmutableBuffer(chunk) }
        }

        if let encoding = headers.contentEncoding?.lowercased(), encoding != "identity" {
            guard encoding == "gzip" || encoding == "x-gzip" else {
                throw TextError(.unsupportedMediaType, "unsupported content encoding \"\(encoding.prefix(32))\": use gzip or none")
            }
            do {
                body = try body.decompress(with: .gzip(), maxSize: maxBytes)
            } catch let error as CompressNIOError where error == .bufferOverflow {
                throw IngestError.requestTooLarge.textError
            } catch {
                throw (provedKey ? IngestError.invalidGzip : IngestError.missingWriteKey).textError
            }
        }
        let decoded = try budget.reserve(body.readableBytes * 4)
        defer { budget.release(decoded) }

        var ingestContext = IngestContext(
            receivedAt: receivedAt,
            requestIP: clientIP(headers, context),
            maxEventBytes: limits.maxEventBytes,
            anonymizeIP: headerSource?.anonymizeIP ?? false
        )
        var batch: IngestBatch
        do {
            batch = try body.withUnsafeReadableBytes { raw throws(IngestError) in
                try Ingestion.events(route: route, body: raw, context: ingestContext)
            }
        } catch {
            // A caller that proved no write key learns nothing about its body.
            if !provedKey, case .invalidJSON = error { throw IngestError.missingWriteKey.textError }
            if !provedKey, case .emptyBody = error { throw IngestError.missingWriteKey.textError }
            throw error.textError
        }

        let source: Routing.Source
        if let headerSource {
            source = headerSource
        } else {
            guard let key = batch.bodyWriteKey, !key.isEmpty else { throw IngestError.missingWriteKey.textError }
            source = try authenticate(key)
            known = source.name
            if source.anonymizeIP {
                // The source was known only from the body: read it again, cutting the addresses
                // this time, rather than keep a second way of rewriting events.
                ingestContext.anonymizeIP = true
                do {
                    batch = try body.withUnsafeReadableBytes { raw throws(IngestError) in
                        try Ingestion.events(route: route, body: raw, context: ingestContext)
                    }
                } catch {
                    throw error.textError
                }
            }
        }
        try await store(batch.events, from: source, context: context)
        return .text("ok")
    }

    /// A pixel answers as rudder-server's does: a 1×1 GIF with status 200 whatever happens, so the
    /// `<img>` of a page or an e-mail always loads. Whether the event was stored is told by
    /// `X-Switchyard-Refused` (absent when it was) and the refusal counter. Only a query past the
    /// bounds or not well formed is refused with its status, as on every other route.
    func pixel(type: MessageType, path: String, request: Request, context: SwitchyardRequestContext) async throws -> Response {
        let receivedAt = Timestamp.now()
        let query = try Self.query(of: request)
        var refusedSource: String?
        do {
            let source = try authenticate(query: query)
            refusedSource = source.name
            let headers = IngestHeaders(request.headers)
            let ingestContext = IngestContext(
                receivedAt: receivedAt,
                requestIP: clientIP(headers, context),
                maxEventBytes: limits.maxEventBytes,
                anonymizeIP: source.anonymizeIP
            )
            let batch: IngestBatch
            do throws(IngestError) {
                let document = try query.pixelEvent(type: type, now: ingestContext.receivedAtText)
                batch = try Ingestion.events(route: IngestRoute(type), document: document, context: ingestContext)
            } catch {
                throw error.textError
            }
            try await store(batch.events, from: source, context: context)
            return Self.pixelResponse(refused: nil)
        } catch let error as TextError {
            // Counted by the status it would have had: the one place besides its header it shows.
            metrics.refused(route: path, status: error.status.code, source: refusedSource)
            return Self.pixelResponse(refused: error)
        }
    }

    static func query(of request: Request) throws -> QueryParameters {
        do {
            return try QueryParameters.parse(request.uri.query.map { Substring($0) } ?? "")
        } catch {
            throw error.textError
        }
    }

    static let transparentGIF: [UInt8] = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x21, 0xF9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3B,
    ]

    static func pixelResponse(refused: TextError?) -> Response {
        var headers: HTTPFields = [
            .contentType: "image/gif",
            // Every view is an event: no cache may answer in the server's place.
            .cacheControl: "no-cache, no-store, must-revalidate",
        ]
        if let refused { headers[.switchyardRefused] = "\(refused.status.code) \(refused.message)" }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: transparentGIF)))
    }

    /// The beacon's and the pixel's key, in the query: `navigator.sendBeacon` and `<img>` cannot set headers.
    func authenticate(query: QueryParameters) throws -> Routing.Source {
        guard let key = query.writeKey, !key.isEmpty else { throw IngestError.missingWriteKeyInQuery.textError }
        return try authenticate(key)
    }

    func authenticate(_ writeKey: String?) throws -> Routing.Source {
        guard let writeKey, !writeKey.isEmpty else { throw IngestError.missingWriteKey.textError }
        guard let source = routing.source(writeKey: writeKey) else { throw IngestError.invalidWriteKey.textError }
        guard source.enabled else { throw IngestError.sourceDisabled.textError }
        return source
    }

    func clientIP(_ headers: IngestHeaders, _ context: SwitchyardRequestContext) -> String {
        if trustForwardedFor, let forwarded = headers.forwardedFor {
            let first = forwarded.split(separator: ",", maxSplits: 1).first.map { $0.filter { $0 != " " } } ?? ""
            if !first.isEmpty, first.count <= 64 { return String(first) }
        }
        return context.remoteAddress?.ipAddress ?? ""
    }
}

extension IngestError {
    var textError: TextError {
        TextError(HTTPResponse.Status(code: status), body)
    }

    func textError(retryAfter seconds: Int) -> TextError {
        TextError(HTTPResponse.Status(code: status), body, headers: [.retryAfter: "\(seconds)"])
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xForwardedHost = Self("X-Forwarded-Host")!
    /// Why a pixel's event was not stored, on the 200 that a pixel always gets.
    static let switchyardRefused = Self("X-Switchyard-Refused")!
}

/// The headers ingestion reads, found in one pass over the request's fields. Repeated fields are
/// joined with ", " as `HTTPFields`' own subscript does, which builds a new string on every lookup.
struct IngestHeaders {
    var contentLength: String?
    var authorization: String?
    var contentEncoding: String?
    var forwardedFor: String?

    init(_ fields: HTTPFields) {
        func add(_ value: String, to existing: inout String?) {
            existing = existing.map { $0 + ", " + value } ?? value
        }
        for field in fields {
            switch field.name {
            case .contentLength: add(field.value, to: &contentLength)
            case .authorization: add(field.value, to: &authorization)
            case .contentEncoding: add(field.value, to: &contentEncoding)
            case .xForwardedFor: add(field.value, to: &forwardedFor)
            default: continue
            }
        }
    }
}

/// Reads the write key from `Authorization: Basic base64(key:)`. RudderStack clients send an empty
/// password, which Hummingbird's own authenticator rejects, so this splits on the first colon.
enum BasicAuth {
    /// Works on the header's bytes: every request pays for this, and splitting and lowercasing
    /// strings cost about 1.5% of the server's CPU per event.
    static func writeKey(from header: String?) -> String? {
        guard var header else { return nil }
        return header.withUTF8 { bytes -> String? in
            let space = UInt8(ascii: " ")
            var i = 0
            while i < bytes.count, bytes[i] == space { i += 1 }
            let scheme = i
            while i < bytes.count, bytes[i] != space { i += 1 }
            guard i - scheme == 5, i < bytes.count else { return nil }
            for (n, letter) in "basic".utf8.enumerated() where bytes[scheme + n] | 0x20 != letter { return nil }
            i += 1
            guard bytes.count - i <= 4096 else { return nil }
            var end = bytes.count
            while i < end, bytes[i] == space { i += 1 }
            while end > i, bytes[end - 1] == space { end -= 1 }
            guard let decoded = Base64.decode(UnsafeBufferPointer(rebasing: bytes[i..<end])) else { return nil }
            // The password (RudderStack's clients send none) is not read.
            let user = decoded.prefix { $0 != UInt8(ascii: ":") }
            guard !user.isEmpty else { return nil }
            // Write keys are ASCII; the validating initializer is for the rest.
            if user.allSatisfy({ $0 < 0x80 }) { return String(decoding: user, as: UTF8.self) }
            return String(validating: user, as: UTF8.self)
        }
    }
}

/// Caps the bytes all requests together may hold in memory while being parsed; past it, the
/// server answers 503 (clients retry) instead of growing without bound.
final class MemoryBudget: Sendable {
    private let used = NIOLockedValueBox(0)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    struct Reservation {
        var bytes: Int
    }

    func reserve(_ bytes: Int) throws -> Reservation {
        let ok = used.withLockedValue { used -> Bool in
            // One request alone may always proceed, so a limit below maxRequestBytes cannot wedge ingestion.
            guard used == 0 || used + bytes <= limit else { return false }
            used += bytes
            return true
        }
        guard ok else { throw TextError(.serviceUnavailable, "server is busy, retry later", headers: [.retryAfter: "1"]) }
        return Reservation(bytes: bytes)
    }

    func release(_ reservation: Reservation) {
        used.withLockedValue { $0 -= reservation.bytes }
    }
}
