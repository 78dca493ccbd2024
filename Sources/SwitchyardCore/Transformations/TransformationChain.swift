/// A destination's transformations, run in order over claimed jobs' events: each one's output
/// is the next one's input, a fan-out multiplies the events, and what comes out is what the
/// destination's entries are made from.
public struct TransformationChain: Sendable {
    public var names: [String]
    public var engine: any TransformationEngine
    public var destinationType: String
    /// Applied before the first transformation: the scripts see what the destination may see.
    public var privacy: PrivacyRules?
    /// Events one input event may become; more fails it (a runaway fan-out).
    public static let maxEventsPerInput = 1000

    public init(names: [String], engine: any TransformationEngine, destinationType: String, privacy: PrivacyRules? = nil) {
        self.names = names
        self.engine = engine
        self.destinationType = destinationType
        self.privacy = privacy
    }

    /// What became of each job, in order.
    public enum Result: Sendable, Hashable {
        /// The events returned (a JSON array); the job is sent as these.
        case output([UInt8], TransformationLog)
        case dropped(TransformationLog)
        case failed(TransformationLog)
    }

    public func apply(to jobs: [Job]) async -> [Result] {
        var current: [[[UInt8]]] = jobs.map { job in [privacy?.apply(toPayload: job.payload) ?? job.payload] }
        var logs: [[String]] = Array(repeating: [], count: jobs.count)
        var ran: [[String]] = Array(repeating: [], count: jobs.count)
        var ended: [Result?] = Array(repeating: nil, count: jobs.count)
        for name in names {
            var inputs: [TransformationInput] = []
            var owners: [Int] = []
            for (j, events) in current.enumerated() where ended[j] == nil {
                let metadata = Self.metadata(jobs[j], transformation: name, destinationType: destinationType)
                for event in events {
                    inputs.append(TransformationInput(event: event, metadata: metadata))
                    owners.append(j)
                }
            }
            guard !inputs.isEmpty else { break }
            let results = await engine.run(name, inputs: inputs)
            var next: [[[UInt8]]] = Array(repeating: [], count: jobs.count)
            var failure: [String?] = Array(repeating: nil, count: jobs.count)
            for (k, result) in results.enumerated() where k < owners.count {
                let j = owners[k]
                logs[j] += result.logs
                switch result.outcome {
                case .events(let events): next[j] += events
                case .dropped: break
                case .failed(let message): failure[j] = failure[j] ?? message
                }
            }
            for j in jobs.indices where ended[j] == nil {
                ran[j].append(name)
                if let message = failure[j] {
                    ended[j] = .failed(
                        TransformationLog(
                            status: .failed,
                            transformations: ran[j],
                            logs: logs[j],
                            message: "transformation \"\(name)\" failed: \(message)"
                        )
                    )
                } else if next[j].isEmpty {
                    ended[j] = .dropped(
                        TransformationLog(
                            status: .dropped,
                            transformations: ran[j],
                            logs: logs[j],
                            message: "dropped by transformation \"\(name)\""
                        )
                    )
                } else if next[j].count > Self.maxEventsPerInput {
                    let message =
                        "transformation \"\(name)\" failed: it returned \(next[j].count) events for one; at most \(Self.maxEventsPerInput)"
                    ended[j] = .failed(TransformationLog(status: .failed, transformations: ran[j], logs: logs[j], message: message))
                } else {
                    current[j] = next[j]
                }
            }
        }
        return jobs.indices.map { j in
            if let end = ended[j] { return end }
            let output = Self.array(current[j])
            return .output(output, TransformationLog(status: .transformed, transformations: ran[j], output: output, logs: logs[j]))
        }
    }

    /// Events as one JSON array.
    static func array(_ events: [[UInt8]]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "[")]
        out.reserveCapacity(events.reduce(2) { $0 + $1.count + 1 })
        for (i, event) in events.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += event
        }
        out.append(UInt8(ascii: "]"))
        return out
    }

    /// What `metadata(event)` gives a script: rudder-transformer's fields, with Switchyard's
    /// names for what it identifies by id (a source and a destination are their names here).
    public static func metadata(_ job: Job, transformation: String, destinationType: String) -> [UInt8] {
        var o = JSONObject()
        o["sourceId"] = .string(job.source)
        o["sourceName"] = .string(job.source)
        o["destinationId"] = .string(job.destination)
        o["destinationName"] = .string(job.destination)
        o["destinationType"] = .string(destinationType)
        o["messageId"] = .string(job.messageId)
        o["jobId"] = .number(String(job.id))
        o["receivedAt"] = .string(job.receivedAt.rfc3339)
        o["eventType"] = .string(job.type.rawValue)
        if let name = job.name { o["eventName"] = .string(name) }
        if let rule = job.rule { o["rule"] = .string(rule) }
        o["transformationId"] = .string(transformation)
        o["transformationName"] = .string(transformation)
        return JSONValue.object(o).serialized()
    }
}

extension ResolvedDestination {
    /// The destination's transformations in an engine of their own, or nil when it runs none;
    /// what the server runs and what `switchyard transform` shows.
    public func transformationChain(scripts: TransformationScripts, engines: any TransformationEngineFactory) throws -> TransformationChain?
    {
        let names = config.transformations
        guard !names.isEmpty else { return nil }
        let engine = try engines.makeEngine(transformations: scripts.chain(names), libraries: scripts.libraries)
        return TransformationChain(names: names, engine: engine, destinationType: config.type, privacy: privacy)
    }
}
