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
    public let call: AWSBatchCall

    public var credentialStatus: CredentialStatus? { call.client.credentials.status }

    public typealias Endpoint = AWSEndpoint

    public var client: AWSJSONClient { call.client }

    public var batchLimits: BatchLimits {
        BatchLimits(maxEntries: 10, maxBytes: transform.settings.maxRequestBytes)
    }

    /// - Parameter metricsFactory: where its latency and alarm are reported (the server's `/metrics`).
    public init(name: String, transform: EventBridgeTransform, client: AWSJSONClient, logger: Logger, metricsFactory: any MetricsFactory) {
        self.name = name
        self.transform = transform
        call = AWSBatchCall(
            client: client,
            codes: .common,
            destination: name,
            service: "EventBridge",
            latencyMetric: "switchyard_putevents_duration_seconds",
            logger: logger,
            metricsFactory: metricsFactory
        )
    }

    /// With fixed keys (tests, tools); its metrics go nowhere.
    public init(
        name: String,
        transform: EventBridgeTransform,
        endpoint: Endpoint,
        signer: SigV4Signer,
        httpClient: HTTPClient,
        timeout: TimeAmount,
        logger: Logger
    ) {
        self.init(
            name: name,
            transform: transform,
            client: AWSJSONClient(endpoint: endpoint, signer: signer, httpClient: httpClient, timeout: timeout),
            logger: logger,
            metricsFactory: NOOPMetricsHandler.instance
        )
    }

    public func prepare(_ job: Job) -> Prepared {
        do {
            let entry = try transform.entry(forEvent: job.payload, rule: try transform.rule(named: job.rule))
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
        await call.send("AWSEvents.PutEvents", body: Self.body(for: entries), count: entries.count) {
            Self.entryOutcomes($0, count: entries.count)
        }
    }

    /// Reads EventBridge's answer (or moto's, which sends XML errors and `text/html` successes).
    func outcomes(status: Int, body: ByteBuffer, count: Int) -> [EntryOutcome] {
        call.outcomes(AWSResponse(status: status, body: Array(body.readableBytesView)), count: count) {
            Self.entryOutcomes($0, count: count)
        }
    }

    /// A 200's results, entry by entry: an `EventId` delivers, throttling and internal failures retry.
    static func entryOutcomes(_ response: AWSResponse, count: Int) -> [EntryOutcome] {
        guard case .object(let o)? = try? JSONParser.parse(response.body), case .array(let results)? = o["Entries"], results.count == count
        else {
            let failure = EntryOutcome.Failure(
                code: "InvalidResponse",
                message: "PutEvents answered 200 with a body that does not list one result per entry",
                httpStatus: 200
            )
            return Array(repeating: .retry(failure), count: count)
        }
        return results.map { result in
            if case .string(let id)? = result[path: "EventId"], !id.isEmpty { return .delivered(reference: id) }
            let code = result[path: "ErrorCode"]?.stringValue ?? "UnknownError"
            let failure = EntryOutcome.Failure(code: code, message: result[path: "ErrorMessage"]?.stringValue ?? "")
            return retryableEntryCodes.contains(code) ? .retry(failure) : .reject(failure)
        }
    }

    static let retryableEntryCodes: Set<String> = ["ThrottlingException", "InternalFailure", "InternalException", "ServiceUnavailable"]
}
