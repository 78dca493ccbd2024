import SwitchyardCore
import SwitchyardJavaScript

/// Transformations in JavaScript, run by the embedded JavaScriptCore: the engine the server
/// gives every destination that runs transformations. Each transformation gets a pool of its
/// own (its limits, its threads, its contexts), so a script that loops until its time limit
/// holds up only the events of its destination.
public struct JavaScriptTransformations: TransformationEngineFactory {
    /// Threads per transformation.
    public var threads: Int

    public init(threads: Int = 1) {
        self.threads = threads
    }

    public func makeEngine(transformations: [TransformationSource], libraries: [TransformationSource]) throws -> any TransformationEngine {
        var pools: [String: JavaScriptPool] = [:]
        for transformation in transformations where pools[transformation.name] == nil {
            pools[transformation.name] = try JavaScriptPool(
                programs: [transformation.javaScript],
                libraries: libraries.map(\.javaScript),
                limits: transformation.limits,
                threads: threads
            )
        }
        return Engine(pools: pools)
    }

    public func check(transformations: [TransformationSource], libraries: [TransformationSource]) -> [String] {
        JavaScriptPool.check(programs: transformations.map(\.javaScript), libraries: libraries.map(\.javaScript)).map(\.description)
    }

    struct Engine: TransformationEngine {
        let pools: [String: JavaScriptPool]

        func run(_ transformation: String, inputs: [TransformationInput]) async -> [TransformationResult] {
            guard let pool = pools[transformation] else {
                return inputs.map { _ in TransformationResult(outcome: .failed("transformation \"\(transformation)\" is not loaded")) }
            }
            let results = await pool.run(transformation, inputs: inputs.map { (event: $0.event, metadata: $0.metadata) })
            return results.map { result in
                switch result.outcome {
                case .events(let events): return TransformationResult(outcome: .events(events), logs: result.logs)
                case .dropped: return TransformationResult(outcome: .dropped, logs: result.logs)
                case .failed(let message): return TransformationResult(outcome: .failed(message), logs: result.logs)
                }
            }
        }
    }
}

extension TransformationSource {
    var javaScript: JavaScriptSource {
        JavaScriptSource(name: name, code: code, origin: origin, firstLine: firstLine)
    }

    var limits: JavaScriptLimits {
        var limits = JavaScriptLimits()
        limits.timeout = .milliseconds(timeout.milliseconds)
        limits.memoryLimit = memoryLimit
        return limits
    }
}
