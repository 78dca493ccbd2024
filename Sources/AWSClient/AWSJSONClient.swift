import AWSCredentialProviders
import AWSSigV4
import AsyncHTTPClient
import Logging
import Metrics
import NIOCore
import SwitchyardCore

/// An AWS service that speaks the JSON 1.1 protocol (EventBridge and Kinesis; Firehose, SQS and
/// SNS speak it too): each call is one signed POST of a JSON body with an `X-Amz-Target`, sent
/// with the shared HTTP client and answered within one deadline, body included.
public struct AWSJSONClient: Sendable {
    public let endpoint: AWSEndpoint
    /// Fetched for every call, so a call is never signed with credentials about to expire.
    public let credentials: RefreshingCredentials
    public let region: String
    /// The signing name (`events`, `kinesis`).
    public let service: String
    public let httpClient: HTTPClient
    /// One call's time limit, from connecting to the last byte of the answer.
    public let timeout: TimeAmount
    /// Signing keys derived for this client's calls (one a day per secret).
    let signingKeys = SigningKeyCache()

    public init(
        endpoint: AWSEndpoint,
        credentials: RefreshingCredentials,
        region: String,
        service: String,
        httpClient: HTTPClient,
        timeout: TimeAmount
    ) {
        self.endpoint = endpoint
        self.credentials = credentials
        self.region = region
        self.service = service
        self.httpClient = httpClient
        self.timeout = timeout
    }

    /// With fixed keys (tests, tools): the signer's.
    public init(endpoint: AWSEndpoint, signer: SigV4Signer, httpClient: HTTPClient, timeout: TimeAmount) {
        let fixed = StaticCredentialProvider(signer.credentials, description: "fixed keys", kind: "configuration")
        self.init(
            endpoint: endpoint,
            // Fixed keys never refresh: there is nothing to count.
            credentials: RefreshingCredentials(
                provider: fixed,
                destination: "",
                logger: Logger(label: "switchyard.credentials"),
                metricsFactory: NOOPMetricsHandler.instance
            ),
            region: signer.region,
            service: signer.service,
            httpClient: httpClient,
            timeout: timeout
        )
    }

    /// What came of a call.
    public enum Answer: Sendable {
        /// The service answered (any status).
        case response(AWSResponse)
        /// No answer: no connection, a reset, or the deadline passed.
        case failed(String)
        /// Nothing was sent: there are no credentials to sign with (the provider is failing).
        case noCredentials(CredentialError)
    }

    /// - Parameter target: the operation, as `X-Amz-Target` names it (`Kinesis_20131202.PutRecords`).
    public func call(_ target: String, body: [UInt8]) async -> Answer {
        let keys: AWSCredentials
        do {
            keys = try await credentials.current()
        } catch {
            return .noCredentials(error)
        }
        let signer = SigV4Signer(credentials: keys, region: region, service: service, keys: signingKeys)
        let contentType = "application/x-amz-json-1.1"
        let signature = signer.sign(
            .init(
                method: "POST",
                host: endpoint.hostHeader,
                path: "/",
                headers: [("Content-Type", contentType), ("X-Amz-Target", target)],
                body: body
            ),
            amzDate: Timestamp.now().amzDate
        )
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        request.headers.add(name: "Host", value: endpoint.hostHeader)
        request.headers.add(name: "Content-Type", value: contentType)
        request.headers.add(name: "X-Amz-Target", value: target)
        for (name, value) in signature.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        do {
            // The client's timeout ends when the response's head arrives; the body is held to the
            // same deadline, or a peer that stalls after its headers would hold this call forever.
            let deadline = NIODeadline.now() + timeout
            let response = try await httpClient.execute(request, deadline: deadline)
            let requestId = response.headers.first(name: "x-amzn-RequestId") ?? response.headers.first(name: "x-amz-request-id")
            let bytes = try await Self.collect(response.body, before: deadline, timeout: timeout, timers: httpClient.eventLoopGroup.any())
            return .response(
                AWSResponse(
                    status: Int(response.status.code),
                    body: Array(bytes.readableBytesView),
                    requestId: requestId,
                    accessKeyID: keys.accessKeyID
                )
            )
        } catch {
            return .failed(Self.describe(error))
        }
    }

    /// Reads a response body, giving up at `deadline`.
    public static func collect(
        _ body: HTTPClientResponse.Body,
        before deadline: NIODeadline,
        timeout: TimeAmount,
        upTo maxBytes: Int = 4 * 1024 * 1024,
        timers: any EventLoop
    ) async throws -> ByteBuffer {
        try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await body.collect(upTo: maxBytes) }
            group.addTask {
                // The deadline is an event loop's timer, not `Task.sleep`: that one is a dispatch
                // timer, armed and cancelled through dispatch's manager thread for every request
                // (about 3% of the server's CPU while delivering).
                let timer = timers.scheduleTask(deadline: deadline) {}
                try await withTaskCancellationHandler {
                    try await timer.futureResult.get()
                } onCancel: {
                    timer.cancel()
                }
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

/// A service's answer to one call.
public struct AWSResponse: Sendable, Hashable {
    public var status: Int
    public var body: [UInt8]
    /// `x-amzn-RequestId`, for the delivery log.
    public var requestId: String?
    /// The key the call was signed with, for the alarm's log line (an id, never a secret).
    public var accessKeyID: String?

    public init(status: Int, body: [UInt8], requestId: String? = nil, accessKeyID: String? = nil) {
        self.status = status
        self.body = body
        self.requestId = requestId
        self.accessKeyID = accessKeyID
    }

    /// The error code and message of a refused call: `{"__type": "ns#Code", "message": …}` from
    /// AWS, or `<Code>`/`<Message>` XML, which moto sends for signature and IAM errors.
    public var error: (code: String?, message: String?) {
        if case .object(let o)? = try? JSONParser.parse(body) {
            let type = (o["__type"]?.stringValue ?? o["code"]?.stringValue).map { String($0.split(separator: "#").last ?? Substring($0)) }
            return (type, o["message"]?.stringValue ?? o["Message"]?.stringValue)
        }
        let text = String(decoding: body.prefix(8192), as: UTF8.self)
        func tag(_ name: String) -> String? {
            guard let open = text.range(of: "<\(name)>"), let close = text.range(of: "</\(name)>", range: open.upperBound..<text.endIndex)
            else { return nil }
            return String(text[open.upperBound..<close.lowerBound])
        }
        return (tag("Code"), tag("Message"))
    }
}

/// A parsed endpoint URL and the Host value that gets signed (with the port only when it is not
/// the scheme's default, as the AWS SDKs sign it).
public struct AWSEndpoint: Sendable, Hashable {
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

/// A destination's batch call: sends one request for a batch and turns the answer into one
/// outcome per entry. A 200 is read entry by entry by the service's own reader; anything else
/// fails the whole batch, retried, rejected or rejected with the alarm, as the service's code
/// table says, and a retryable failure of the whole request marks the destination unavailable.
public struct AWSBatchCall: Sendable {
    public let client: AWSJSONClient
    public let codes: AWSErrorCodes
    let alarm: MisconfigurationAlarm
    let latency: Timer

    /// - Parameters:
    ///   - latencyMetric: the timer's label, such as `switchyard_putevents_duration_seconds`.
    ///   - metricsFactory: where the latency and the alarm are reported (the server's `/metrics`).
    public init(
        client: AWSJSONClient,
        codes: AWSErrorCodes,
        destination: String,
        service: String,
        latencyMetric: String,
        logger: Logger,
        metricsFactory: any MetricsFactory
    ) {
        self.client = client
        self.codes = codes
        alarm = MisconfigurationAlarm(destination: destination, service: service, logger: logger, metricsFactory: metricsFactory)
        latency = Timer(
            label: latencyMetric,
            dimensions: [("destination", destination)],
            preferredDisplayUnit: .seconds,
            factory: metricsFactory
        )
    }

    public func send(_ target: String, body: [UInt8], count: Int, readEntries: (AWSResponse) -> [EntryOutcome]) async -> SendResult {
        let started = ContinuousClock.now
        let answer = await client.call(target, body: body)
        latency.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        switch answer {
        case .failed(let reason):
            let failure = EntryOutcome.Failure(code: "ConnectionError", message: reason)
            return SendResult(outcomes: Array(repeating: .retry(failure), count: count), unavailable: failure)
        case .noCredentials(let error):
            // Retried, never dead-lettered: delivery resumes by itself once the provider answers.
            let failure = EntryOutcome.Failure(code: "CredentialsUnavailable", message: error.description)
            return SendResult(outcomes: Array(repeating: .retry(failure), count: count), unavailable: failure)
        case .response(let response):
            let outcomes = outcomes(response, count: count, readEntries: readEntries)
            // Refused as a whole with a retryable status: the service (or the way to it) is down or throttling us.
            if response.status != 200, case .retry(let failure)? = outcomes.first {
                return SendResult(outcomes: outcomes, requestId: response.requestId, unavailable: failure)
            }
            return SendResult(outcomes: outcomes, requestId: response.requestId)
        }
    }

    public func outcomes(_ response: AWSResponse, count: Int, readEntries: (AWSResponse) -> [EntryOutcome]) -> [EntryOutcome] {
        if response.status == 200 { return readEntries(response) }
        let (code, message) = response.error
        let failure = EntryOutcome.Failure(code: code ?? "HTTP\(response.status)", message: message ?? "", httpStatus: response.status)
        switch codes.classify(status: response.status, code: code) {
        case .retry:
            return Array(repeating: .retry(failure), count: count)
        case .misconfigured:
            alarm.raise(code: failure.code, status: response.status, accessKeyID: response.accessKeyID ?? "")
            var refusal = failure
            refusal.misconfigured = true
            return Array(repeating: .reject(refusal), count: count)
        case .reject:
            return Array(repeating: .reject(failure), count: count)
        }
    }
}
