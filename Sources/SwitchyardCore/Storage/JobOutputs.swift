/// What a destination's transformations made of a claimed job's event, kept before its first
/// send (`JobQueue.saveOutputs`) so that every attempt sends the same, whatever the scripts
/// would return if run again (the clock, randomness).
public struct JobOutput: Sendable, Hashable {
    /// The claimed job; its lease proves the claim.
    public var job: Job
    /// The events returned, as a JSON array.
    public var output: [UInt8]
    public var log: TransformationLog

    public init(job: Job, output: [UInt8], log: TransformationLog) {
        self.job = job
        self.output = output
        self.log = log
    }
}
