import AWSSigV4
import Foundation
import AsyncHTTPClient
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import SwitchyardCore

/// Sends batches of up to 10 entries with `PutEvents` (AWS JSON 1.1, SigV4-signed) and reads
/// EventBridge's answer entry by entry.
public struct EventBridgeDestination: Destination {
    public let name: String
    public let transform: EventBridgeTransform
    public let endpoint: Endpoint
    public let signer: SigV4Signer
    public let httpClient: HTTPClient
    public let timeout: TimeAmount
    let logger: Logger
    let authFailures: Counter
    let latency: Timer
    let authLog: RateLimitedLog

    public var batchLimits: BatchLimits {
        BatchLimits(maxEntries: 10, maxBytes: transform.settings.maxRequestBytes)
    }

    /// A parsed endpoint URL and the Host value that gets signed (with the port only when it is not the default).
    public struct Endpoint: Sendable, Hashable {
        public var url: String
        public var hostHeader: String

        public init?(_ url: String) {
            let isHTTPS: Bool
            let rest: Substring
            if url.hasPrefix("https://") {
                isHTTPS = true
                rest = url.dropFirst(8)
            } else if url.hasPrefix("http://") {
                isHTTPS = false
                rest = url.dropFirst(7)
            } else {
                return nil
            }
            let authority = rest.prefix { $0 != "/" && $0 != "?" }
            guard !authority.isEmpty else { return nil }
            var host = String(authority)
            if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
                let port = authority[authority.index(after: colon)...]
                guard let p = Int(port), (1...65535).contains(p) else { return nil }
                if (isHTTPS && p == 443) || (!isHTTPS && p == 80) { host = String(authority[..<colon]) }
            }
            self.url = (isHTTPS ? "https://" : "http://") + authority + "/"
            hostHeader = host
        }
    }

    public init(name: String, transform: EventBridgeTransform, endpoint: Endpoint, signer: SigV4Signer, httpClient: HTTPClient, timeout: TimeAmount, logger: Logger) {
        self.name = name
        self.transform = transform
        self.endpoint = endpoint
        self.signer = signer
        self.httpClient = httpClient
        self.timeout = timeout
        self.logger = logger
        authFailures = Counter(label: "switchyard_destination_auth_failures_total", dimensions: [("destination", name)])
        authLog = RateLimitedLog(interval: 10_000)
        latency = Timer(label: "switchyard_putevents_duration_seconds", dimensions: [("destination", name)], preferredDisplayUnit: .seconds)
    }

    public func prepare(_ job: Job) -> Prepared {
        do {
            let entry = try transform.entry(forEvent: job.payload)
            let json = entry.json
            return .entry(PreparedEntry(job: job, body: json.serialized(), size: entry.awsSize, display: json))
        } catch {
            return .drop(reason: error.description)
        }
    }

    /// The request body for a batch: the prepared entries' JSON joined, never re-encoded.
    public static func body(for entries: [PreparedEntry]) -> [UInt8] {
        var body: [UInt8] = Array(#"{"Entries":["#.utf8)
        body.reserveCapacity(entries.reduce(16) { $0 + $1.body.count + 1 })
        for (n, entry) in entries.enumerated() {
            if n > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: entry.body)
        }
        body.append(contentsOf: "]}".utf8)
        return body
    }

    public func send(_ entries: [PreparedEntry]) async -> SendResult {
        let body = Self.body(for: entries)
        let signature = signer.sign(
            .init(method: "POST", host: endpoint.hostHeader, path: "/", headers: [
                ("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "AWSEvents.PutEvents"),
            ], body: body),
            amzDate: Timestamp.now().amzDate)
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Host", value: endpoint.hostHeader)
        request.headers.add(name: "Content-Type", value: "application/x-amz-json-1.1")
        request.headers.add(name: "X-Amz-Target", value: "AWSEvents.PutEvents")
        for (name, value) in signature.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))

        let status: Int
        let responseBody: ByteBuffer
        let requestId: String?
        let started = ContinuousClock.now
        defer { latency.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1))) }
        do {
            // The client's timeout ends when the response's head arrives; the body is held to the
            // same deadline, or a peer that stalls after its headers would hold this send forever.
            let deadline = NIODeadline.now() + timeout
            let response = try await httpClient.execute(request, deadline: deadline)
            status = Int(response.status.code)
            requestId = response.headers.first(name: "x-amzn-RequestId") ?? response.headers.first(name: "x-amz-request-id")
            responseBody = try await Self.collect(response.body, before: deadline, timeout: timeout)
        } catch {
            let failure = EntryOutcome.Failure(code: "ConnectionError", message: Self.describe(error))
            return SendResult(outcomes: Array(repeating: .retry(failure), count: entries.count), unavailable: failure)
        }
        let outcomes = outcomes(status: status, body: responseBody, count: entries.count)
        // A whole request refused with a retryable status: EventBridge (or the way to it) is down or throttling us.
        if status != 200, case .retry(let failure)? = outcomes.first {
            return SendResult(outcomes: outcomes, requestId: requestId, unavailable: failure)
        }
        return SendResult(outcomes: outcomes, requestId: requestId)
    }

    /// Reads EventBridge's answer (or moto's, which sends XML errors and `text/html` successes).
    func outcomes(status: Int, body: ByteBuffer, count: Int) -> [EntryOutcome] {
        let bytes = Array(body.readableBytesView)
        if status == 200 {
            guard case .object(let o)? = try? JSONParser.parse(bytes), case .array(let results)? = o["Entries"], results.count == count else {
                let failure = EntryOutcome.Failure(code: "InvalidResponse", message: "PutEvents answered 200 with a body that does not list one result per entry", httpStatus: 200)
                return Array(repeating: .retry(failure), count: count)
            }
            return results.map { result in
                if case .string(let id)? = result[path: "EventId"], !id.isEmpty { return .delivered(reference: id) }
                let code = result[path: "ErrorCode"]?.stringValue ?? "UnknownError"
                let failure = EntryOutcome.Failure(code: code, message: result[path: "ErrorMessage"]?.stringValue ?? "")
                return Self.retryableEntryCodes.contains(code) ? .retry(failure) : .reject(failure)
            }
        }
        let (code, message) = Self.error(from: bytes)
        let failure = EntryOutcome.Failure(code: code ?? "HTTP\(status)", message: message ?? "", httpStatus: status)
        if Self.retryableStatuses.contains(status) || Self.retryableRequestCodes.contains(code ?? "") {
            return Array(repeating: .retry(failure), count: count)
        }
        if status == 401 || status == 403 || Self.authCodes.contains(code ?? "") {
            authFailures.increment()
            if authLog.shouldLog() {
                logger.critical("EventBridge refused our credentials: every event to this destination will be dead-lettered until they are fixed", metadata: [
                    "destination": "\(name)", "code": "\(failure.code)", "status": "\(status)", "accessKeyID": "\(signer.credentials.accessKeyID)",
                ])
            }
        }
        return Array(repeating: .reject(failure), count: count)
    }

    static let retryableEntryCodes: Set<String> = ["ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"]
    static let retryableStatuses: Set<Int> = [408, 429, 500, 502, 503, 504, 509]
    static let retryableRequestCodes: Set<String> = [
        "ThrottlingException", "Throttling", "ThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
        "RequestThrottled", "RequestThrottledException", "ProvisionedThroughputExceededException", "RequestExpired",
        "RequestTimeout", "RequestTimeoutException", "InternalFailure", "InternalException", "ServiceUnavailable",
    ]
    static let authCodes: Set<String> = [
        "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch", "InvalidClientTokenId",
        "AccessDeniedException", "AccessDenied", "ExpiredTokenException", "ExpiredToken", "IncompleteSignature",
        "MissingAuthenticationToken", "NotAuthorized",
    ]

    /// `{"__type": "ns#Code", "message": ...}` from AWS, or `<Code>`/`<Message>` XML from moto.
    static func error(from body: [UInt8]) -> (code: String?, message: String?) {
        if case .object(let o)? = try? JSONParser.parse(body) {
            let type = (o["__type"]?.stringValue ?? o["code"]?.stringValue).map { String($0.split(separator: "#").last ?? Substring($0)) }
            return (type, o["message"]?.stringValue ?? o["Message"]?.stringValue)
        }
        let text = String(decoding: body.prefix(8192), as: UTF8.self)
        func tag(_ name: String) -> String? {
            guard let open = text.range(of: "<\(name)>"), let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex) else { return nil }
            return String(text[open.upperBound..<close.lowerBound])
        }
        return (tag("Code"), tag("Message"))
    }

    /// Reads a response body, giving up at `deadline`.
    static func collect(_ body: HTTPClientResponse.Body, before deadline: NIODeadline, timeout: TimeAmount) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: 4 * 1024 * 1024) }
            group.addTask {
                let wait = deadline - NIODeadline.now()
                try await Task.sleep(for: .nanoseconds(max(wait.nanoseconds, 0)))
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let buffer = first else {
                throw ResponseTimeout(seconds: Double(timeout.nanoseconds) / 1e9)
            }
            return buffer
        }
    }

    struct ResponseTimeout: Error, CustomStringConvertible {
        let seconds: Double
        var description: String { "the response's body did not arrive within the \(seconds)s timeout" }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }
}

/// Lets a loud message through at most once per interval, so a broken credential does not flood the log.
final class RateLimitedLog: Sendable {
    private let last = NIOLockedValueBox<Int64>(0)
    let interval: Int64

    init(interval milliseconds: Int64) {
        interval = milliseconds
    }

    func shouldLog() -> Bool {
        let now = Timestamp.now().millisecondsSinceEpoch
        return last.withLockedValue { last in
            guard now - last >= interval else { return false }
            last = now
            return true
        }
    }
}
