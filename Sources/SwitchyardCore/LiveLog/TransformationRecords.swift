/// What a destination's transformations did with one event, for its `transformation` record.
public struct TransformationLog: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable {
        /// They returned one or more events, which the destination's entries are made from.
        case transformed
        /// They returned nothing: the event is not sent to this destination, on purpose.
        case dropped
        /// One threw, ran out of time or memory, or returned something that is not an event.
        case failed
    }

    public var status: Status
    /// The transformations that ran, in order (up to the one that dropped or failed).
    public var transformations: [String]
    /// The events returned, as a JSON array, when `transformed`.
    public var output: [UInt8]?
    /// The scripts' `log(...)` lines for this event.
    public var logs: [String]
    /// Which transformation dropped the event, or the error.
    public var message: String?

    public init(status: Status, transformations: [String], output: [UInt8]? = nil, logs: [String] = [], message: String? = nil) {
        self.status = status
        self.transformations = transformations
        self.output = output
        self.logs = logs
        self.message = message
    }
}

extension LogRecord {
    /// The record of what the destination's transformations made of a job's event. The event
    /// before them is the `received` record's; `detail` holds the events after, and the scripts' lines.
    public static func transformation(_ log: TransformationLog, job: Job, at now: Timestamp) -> LogRecord {
        var record = LogRecord(about: job, kind: .transformation, status: log.status.rawValue, at: now)
        record.attempt = job.attempt
        record.errorMessage = log.message
        var detail = JSONObject()
        detail["transformations"] = .array(log.transformations.map { .string($0) })
        if let output = log.output {
            detail["events"] = (try? JSONParser.parse(output)) ?? .array([])
            record.size = output.count
        }
        if !log.logs.isEmpty { detail["logs"] = .array(log.logs.map { .string($0) }) }
        record.detail = .object(detail)
        return record
    }
}
