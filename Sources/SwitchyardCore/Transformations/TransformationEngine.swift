/// Runs users' transformations. The pipeline knows only this: which engine runs the code (an
/// embedded JavaScriptCore, in `SwitchyardJavaScript`) is the server's choice.
public protocol TransformationEngine: Sendable {
    /// Runs one transformation over events and returns one result per input, in order. Never
    /// throws: a script's error, timeout or memory stop is that input's `failed` result.
    func run(_ transformation: String, inputs: [TransformationInput]) async -> [TransformationResult]
}

/// One event handed to a transformation, with the metadata its `metadata(event)` returns.
public struct TransformationInput: Sendable, Hashable {
    /// The event's JSON object.
    public var event: [UInt8]
    /// A JSON object: RudderStack's fields (sourceId, destinationId, messageId, jobId, ...).
    public var metadata: [UInt8]

    public init(event: [UInt8], metadata: [UInt8]) {
        self.event = event
        self.metadata = metadata
    }
}

/// What one input became, and the script's `log(...)` lines made while handling it.
public struct TransformationResult: Sendable, Hashable {
    public enum Outcome: Sendable, Hashable {
        /// JSON objects: one for an event returned, several for a fan-out.
        case events([[UInt8]])
        /// The script returned nothing for it.
        case dropped
        /// Threw, ran out of time or memory, or returned something that is not an event; the
        /// message has the script's line where the engine knows it.
        case failed(String)
    }

    public var outcome: Outcome
    public var logs: [String]

    public init(outcome: Outcome, logs: [String] = []) {
        self.outcome = outcome
        self.logs = logs
    }
}

/// Builds an engine for one destination's transformations (with the libraries they may import),
/// and checks code without keeping it (`switchyard validate`).
public protocol TransformationEngineFactory: Sendable {
    func makeEngine(transformations: [TransformationSource], libraries: [TransformationSource]) throws -> any TransformationEngine
    /// Every syntax and import error, each naming the file, line and column.
    func check(transformations: [TransformationSource], libraries: [TransformationSource]) -> [String]
}
