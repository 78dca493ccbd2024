import AWSClient
import AWSSigV4
import AsyncHTTPClient
import Logging
import Metrics
import NIOCore
import SwitchyardCore

/// Sends batches of up to 10 entries with `PutEvents` and reads EventBridge's answer entry by
/// entry; the request itself goes through the shared `AWSJSONClient`.
public struct EventBridgeDestination: Destination {
    public let name: String
    public let transform: EventBridgeTransform
    public let client: AWSJSONClient
    let latency: Timer
    let alarm: MisconfigurationAlarm

    public typealias Endpoint = AWSEndpoint

    public var batchLimits: BatchLimits {
        BatchLimits(maxEntries: 10, maxBytes: transform.settings.maxRequestBytes)
    }

    public init(name: String, transform: EventBridgeTransform, endpoint: Endpoint, signer: SigV4Signer, httpClient: HTTPClient, timeout: TimeAmount, logger: Logger) {
        self.name = name
        self.transform = transform
        client = AWSJSONClient(endpoint: endpoint, signer: signer, httpClient: httpClient, timeout: timeout)
        alarm = MisconfigurationAlarm(destination: name, service: "EventBridge", logger: logger)
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
        let started = ContinuousClock.now
        let answer = await client.call("AWSEvents.PutEvents", body: Self.body(for: entries))
        latency.recordNanoseconds(Int64((ContinuousClock.now - started) / .nanoseconds(1)))
        let response: AWSResponse
        switch answer {
        case .response(let answered):
            response = answered
        case .failed(let reason):
            let failure = EntryOutcome.Failure(code: "ConnectionError", message: reason)
            return SendResult(outcomes: Array(repeating: .retry(failure), count: entries.count), unavailable: failure)
        }
        let outcomes = outcomes(status: response.status, body: ByteBuffer(bytes: response.body), count: entries.count)
        // A whole request refused with a retryable status: EventBridge (or the way to it) is down or throttling us.
        if response.status != 200, case .retry(let failure)? = outcomes.first {
            return SendResult(outcomes: outcomes, requestId: response.requestId, unavailable: failure)
        }
        return SendResult(outcomes: outcomes, requestId: response.requestId)
    }

    /// Reads EventBridge's answer (or moto's, which sends XML errors and `text/html` successes).
    func outcomes(status: Int, body: ByteBuffer, count: Int) -> [EntryOutcome] {
        let response = AWSResponse(status: status, body: Array(body.readableBytesView))
        if status == 200 {
            guard case .object(let o)? = try? JSONParser.parse(response.body), case .array(let results)? = o["Entries"], results.count == count else {
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
        let (code, message) = response.error
        let failure = EntryOutcome.Failure(code: code ?? "HTTP\(status)", message: message ?? "", httpStatus: status)
        switch AWSErrorCodes.common.classify(status: status, code: code) {
        case .retry:
            return Array(repeating: .retry(failure), count: count)
        case .misconfigured:
            alarm.raise(code: failure.code, status: status, accessKeyID: client.signer.credentials.accessKeyID)
            return Array(repeating: .reject(failure), count: count)
        case .reject:
            return Array(repeating: .reject(failure), count: count)
        }
    }

    static let retryableEntryCodes: Set<String> = ["ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"]
}
