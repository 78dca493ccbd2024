import AWSEmulator
import AWSSigV4
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle
import SwitchyardCore
import SwitchyardEventBridge

/// Settings of the local EventBridge endpoint.
public struct EmulatorOptions: Sendable {
    public var host = "127.0.0.1"
    public var port = 4010
    public var region = "us-east-1"
    public var account = "123456789012"
    /// Access key id → secret. Requests signed with anything else are refused as AWS would.
    public var credentials: [String: String] = [:]
    /// Where each delivered event is written as the envelope a rule target receives (JSON lines).
    public var eventsOut: String?
    /// Share of entries answered with a per-entry `ThrottlingException`.
    public var throttleRate = 0.0
    /// Share of requests answered with a whole-request 500 `InternalException`.
    public var errorRate = 0.0
    /// Delay before each answer.
    public var latencyMilliseconds = 0
    /// PutEvents size limit as EventBridge counts it.
    public var maxRequestBytes = 256 * 1024
    /// Add the time each event arrived (`x-emulator-received-ms`) to its envelope, for latency benchmarks.
    public var recordReceiptTime = false
    /// The bus's rules (`--rules`): each accepted event goes to the target of every rule it matches.
    public var rules: BusRules?

    public init() {}
}

/// A PutEvents endpoint on loopback that behaves like EventBridge where Switchyard depends on it:
/// the AWS JSON 1.1 protocol, SigV4 signature checks, the validation rules and error codes, the
/// envelope targets receive, and faults on demand for demos and drills.
public final class EventBridgeEmulator: Sendable {
    public let options: EmulatorOptions
    /// Signing keys derived while checking requests' signatures.
    let signingKeys = SigningKeyCache()
    private let output: JSONLinesFile
    private let counters = NIOLockedValueBox((requests: 0, delivered: 0, failed: 0, matched: [String: Int]()))
    /// Where rules send what they match; set when there are rules.
    public let targets: BusTargets?

    /// - Parameter httpClient: what the bus's URL targets are posted with; the caller owns it.
    public init(options: EmulatorOptions, httpClient: HTTPClient, logger: Logger = Logger(label: "switchyard.emulator")) throws {
        self.options = options
        output = try JSONLinesFile(path: options.eventsOut)
        targets = try options.rules.map { try BusTargets(rules: $0, httpClient: httpClient, logger: logger) }
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/health") { _, _ in "ok\n" }
        router.get("/stats") { _, _ in
            let c = self.counters.withLockedValue { $0 }
            let matched = JSONValue.object(JSONObject(c.matched.sorted { $0.key < $1.key }.map { ($0.key, .number(String($0.value))) }))
                .jsonString
            return #"{"requests":\#(c.requests),"delivered":\#(c.delivered),"failedEntries":\#(c.failed),"matchedByRule":\#(matched)}"#
                + "\n"
        }
        router.post("/") { request, context in
            try await self.handle(request, context: context)
        }
        return router
    }

    public func application(logger: Logger) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: "eventbridge-emulator"),
            logger: logger
        )
    }

    /// The HTTP endpoint and, with rules, the delivery to URL targets: what `switchyard emulate`
    /// runs. The endpoint is last, so it stops first and the targets drain what it accepted.
    public func services(logger: Logger) -> [any Service] {
        (targets.map { [$0] } ?? []) + [application(logger: logger)]
    }

    typealias AWSError = AWSEmulator.Failure

    func handle(_ request: Request, context: BasicRequestContext) async throws -> Response {
        counters.withLockedValue { $0.requests += 1 }
        let body = try await request.body.collect(upTo: 16 * 1024 * 1024)
        let bytes = Array(body.readableBytesView)
        if options.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(options.latencyMilliseconds))
        }
        do {
            try AWSEmulator.verifySignature(
                request,
                body: bytes,
                credentials: options.credentials,
                region: options.region,
                service: "events",
                keys: signingKeys
            )
            guard request.headers[HTTPField.Name("X-Amz-Target")!] == "AWSEvents.PutEvents" else {
                throw AWSError(status: .badRequest, type: "UnknownOperationException", message: "only AWSEvents.PutEvents is emulated")
            }
            if options.errorRate > 0, Double.random(in: 0..<1) < options.errorRate {
                throw AWSError(status: .internalServerError, type: "InternalException", message: "injected fault (--error-rate)")
            }
            return try putEvents(bytes)
        } catch let error as AWSError {
            return error.response
        }
    }

    func putEvents(_ body: [UInt8]) throws -> Response {
        guard case .object(let request)? = try? JSONParser.parse(body) else {
            throw AWSError(status: .badRequest, type: "SerializationException", message: "the request body is not valid JSON")
        }
        guard case .array(let entries)? = request["Entries"], (1...10).contains(entries.count) else {
            throw AWSError(
                status: .badRequest,
                type: "ValidationException",
                message:
                    "1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length between 1 and 10"
            )
        }
        var total = 0
        for entry in entries {
            guard case .object(let e) = entry else {
                throw AWSError(status: .badRequest, type: "SerializationException", message: "an entry is not an object")
            }
            if e["Time"] != nil { total += 14 }
            for key in ["Source", "DetailType", "Detail"] { total += e[key]?.stringValue?.utf8.count ?? 0 }
            for resource in e["Resources"]?.arrayValue ?? [] {
                let arn = resource.stringValue ?? ""
                if arn.utf8.count > 2048 {
                    throw AWSError(
                        status: .badRequest,
                        type: "ValidationException",
                        message: "1 validation error detected: Member of 'resources' must have length less than or equal to 2048"
                    )
                }
                total += arn.utf8.count
            }
            if let bus = e["EventBusName"]?.stringValue, bus.isEmpty || bus.count > 1600 {
                throw AWSError(
                    status: .badRequest,
                    type: "ValidationException",
                    message:
                        "1 validation error detected: Value at 'eventBusName' failed to satisfy constraint: Member must have length between 1 and 1600"
                )
            }
        }
        if total > options.maxRequestBytes {
            throw AWSError(
                status: .badRequest,
                type: "ValidationException",
                message: "Total size of the entries in the request is over the limit."
            )
        }

        var results: [JSONValue] = []
        var lines: [UInt8] = []
        var failed = 0
        var targetsWritten = true
        var matchedByRule: [String: Int] = [:]
        let now = Timestamp.now()
        for entry in entries {
            let e = entry.objectValue ?? JSONObject()
            func failure(_ code: String, _ message: String) -> JSONValue {
                failed += 1
                return .object(JSONObject([("ErrorCode", .string(code)), ("ErrorMessage", .string(message))]))
            }
            guard let source = e["Source"]?.stringValue, !source.isEmpty else {
                results.append(failure("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."))
                continue
            }
            guard let detailType = e["DetailType"]?.stringValue, !detailType.isEmpty else {
                results.append(failure("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is a required argument."))
                continue
            }
            guard let detailText = e["Detail"]?.stringValue else {
                results.append(failure("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."))
                continue
            }
            if detailType.count > 128 {
                results.append(
                    failure("InvalidArgument", "Parameter DetailType is not valid. Reason: DetailType is longer than 128 characters.")
                )
                continue
            }
            if source.hasPrefix("aws.") {
                results.append(failure("NotAuthorizedForSourceException", "Not authorized for the source."))
                continue
            }
            guard case .object(let detail)? = try? JSONParser.parse(Array(detailText.utf8), maxDepth: 1000) else {
                results.append(failure("MalformedDetail", "Detail is malformed."))
                continue
            }
            if options.throttleRate > 0, Double.random(in: 0..<1) < options.throttleRate {
                results.append(failure("ThrottlingException", "Rate exceeded (injected by --throttle-rate)"))
                continue
            }
            let id = UUIDv4.make()
            let envelope = EventBridgeEnvelope.make(
                entry: e,
                detail: detail,
                id: id,
                account: options.account,
                region: options.region,
                now: now
            )
            var written = envelope
            if options.recordReceiptTime, case .object(var o) = written {
                o["x-emulator-received-ms"] = .number(String(Timestamp.now().millisecondsSinceEpoch))
                written = .object(o)
            }
            written.write(to: &lines)
            lines.append(UInt8(ascii: "\n"))
            if let rules = options.rules, let targets {
                let matched = rules.matching(envelope, bus: e["EventBusName"]?.stringValue)
                for rule in matched { matchedByRule[rule.name, default: 0] += 1 }
                if !matched.isEmpty { targetsWritten = targets.deliver(envelope.serialized(), to: matched) && targetsWritten }
            }
            results.append(.object(JSONObject([("EventId", .string(id))])))
        }
        // Events it could not record (a full disk) were not delivered: say so, so they are sent again.
        guard output.append(lines), targetsWritten else {
            counters.withLockedValue { $0.failed += entries.count }
            throw AWSError(
                status: .internalServerError,
                type: "InternalException",
                message: "the emulator could not write its events file (is the disk full?)"
            )
        }
        let delivered = entries.count - failed
        counters.withLockedValue {
            $0.delivered += delivered
            $0.failed += failed
            for (rule, n) in matchedByRule { $0.matched[rule, default: 0] += n }
        }
        return AWSEmulator.json(.ok, .object(JSONObject([("FailedEntryCount", .number(String(failed))), ("Entries", .array(results))])))
    }
}
