import CJavaScriptCore
import Foundation

/// One dedicated thread: owns a context group (JSC wants a group used from one thread; its GC
/// runs on the creating thread) with one context per program, and serves jobs from the queue.
/// After a timeout or memory stop it throws the whole group away and recompiles, so nothing the
/// stopped script left behind survives and the thread never hangs on a wedged context.
final class PoolWorker {
    /// JSC sizes its stack limit from the thread's real stack; deep recursion must end in a RangeError.
    static let stackSize = 8 << 20

    private let programs: [LinkedProgram]
    private let libraries: [LinkedLibrary]
    private let queue: CallQueue
    private let guardian: ExecutionGuard
    private let engine: EngineEntry
    private var group: JSContextGroupRef?
    private var signalClass: JSClassRef?
    private var entryClass: JSClassRef?
    private var contexts: [String: ProgramContext] = [:]
    private var loadFailures: [String: String] = [:]
    private var lastCollectRSS = 0

    init(programs: [LinkedProgram], libraries: [LinkedLibrary], limits: JavaScriptLimits, drain: MicrotaskDrain, queue: CallQueue) {
        self.programs = programs
        self.libraries = libraries
        self.queue = queue
        guardian = ExecutionGuard(limits: limits)
        engine = EngineEntry(drain: drain)
    }

    /// Starts a thread that builds the contexts, reports to `latch`, then serves until the queue closes.
    static func start(
        programs: [LinkedProgram],
        libraries: [LinkedLibrary],
        limits: JavaScriptLimits,
        drain: MicrotaskDrain,
        queue: CallQueue,
        latch: StartupLatch,
        name: String
    ) {
        let thread = Thread {
            let worker = PoolWorker(programs: programs, libraries: libraries, limits: limits, drain: drain, queue: queue)
            worker.serve(latch: latch)
        }
        thread.name = name
        thread.stackSize = stackSize
        thread.start()
    }

    private func serve(latch: StartupLatch) {
        var definition = kJSClassDefinitionEmpty
        definition.callAsFunction = { _, function, _, _, _, _ in
            if let function, let info = JSObjectGetPrivate(function) {
                Unmanaged<ExecutionGuard>.fromOpaque(info).takeUnretainedValue().memoryExceeded()
            }
            return nil
        }
        signalClass = JSClassCreate(&definition)
        entryClass = EngineEntry.makeClass()
        let error = rebuild()
        latch.report(error)
        if error == nil {
            while let job = queue.next() {
                job.continuation.resume(returning: execute(job))
            }
        }
        contexts = [:]
        if let group { JSContextGroupRelease(group) }
        if let signalClass { JSClassRelease(signalClass) }
        if let entryClass { JSClassRelease(entryClass) }
    }

    /// Replaces the group and every program's context; returns the first load error.
    @discardableResult
    private func rebuild() -> JavaScriptSourceError? {
        contexts = [:]
        if let group { JSContextGroupRelease(group) }
        let group = JSContextGroupCreate()
        self.group = group
        guardian.group = group
        engine.group = group
        var first: JavaScriptSourceError?
        for program in programs {
            do {
                contexts[program.source.name] = try ProgramContext(
                    program: program,
                    libraries: libraries,
                    group: group!,
                    guardian: guardian,
                    engine: engine,
                    classes: (signal: signalClass!, entry: entryClass!)
                )
                loadFailures[program.source.name] = nil
            } catch {
                loadFailures[program.source.name] = error.description
                if first == nil { first = error }
            }
        }
        lastCollectRSS = ProcessMemory.residentBytes()
        return first
    }

    private func execute(_ job: PoolCall) -> [JavaScriptResult] {
        var results = job.inputs.map { _ in JavaScriptResult(outcome: .failed("the input was not processed")) }
        guard var context = contexts[job.program] else {
            let why =
                loadFailures[job.program].map { "the transformation could not be reloaded: \($0)" }
                ?? "no transformation named \"\(job.program)\""
            return job.inputs.map { _ in JavaScriptResult(outcome: .failed(why)) }
        }
        // Parse once per context: inputs that are not JSON objects fail alone.
        func parse(_ ctx: JSContextRef) -> (valid: [Int], events: [JSValueRef], metas: [JSValueRef]) {
            var valid: [Int] = []
            var events: [JSValueRef] = []
            var metas: [JSValueRef] = []
            for (i, input) in job.inputs.enumerated() {
                guard let event = JSC.parseJSON(ctx, input.event), JSC.object(ctx, event) != nil, !JSValueIsArray(ctx, event) else {
                    results[i] = JavaScriptResult(outcome: .failed("the input event is not a JSON object"))
                    continue
                }
                let meta = JSC.parseJSON(ctx, input.metadata).flatMap { JSC.object(ctx, $0) != nil ? $0 : nil }
                valid.append(i)
                events.append(event)
                metas.append(meta ?? JSObjectMake(ctx, nil, nil))
            }
            return (valid, events, metas)
        }
        var parsed = parse(context.context)
        context.begin(events: parsed.events, metadatas: parsed.metas)
        if context.program.entry == .batch {
            guard !parsed.valid.isEmpty else { return results }
            let output = context.call(index: -1)
            if output.stopped != nil { rebuild() }
            defer { if let current = contexts[job.program] { collectIfGrown(current.context) } }
            for i in parsed.valid { results[i] = JavaScriptResult(outcome: .dropped, logs: output.logs) }
            if let error = output.error {
                for i in parsed.valid { results[i].outcome = .failed(error) }
                return results
            }
            var routed: [Int: [[UInt8]]] = [:]
            for (owner, json) in output.events {
                routed[parsed.valid[min(max(owner, 0), parsed.valid.count - 1)], default: []].append(json)
            }
            for (i, events) in routed { results[i].outcome = .events(events) }
        } else {
            for k in parsed.valid.indices {
                let output = context.call(index: k)
                results[parsed.valid[k]] = JavaScriptResult(outcome: Self.outcome(output), logs: output.logs)
                if output.stopped != nil, k + 1 < parsed.valid.count {
                    rebuild()
                    guard let fresh = contexts[job.program] else {
                        for i in parsed.valid[(k + 1)...] {
                            results[i] = JavaScriptResult(outcome: .failed("the transformation could not be reloaded after a stop"))
                        }
                        return results
                    }
                    context = fresh
                    parsed = parse(context.context)
                    context.begin(events: parsed.events, metadatas: parsed.metas)
                } else if output.stopped != nil {
                    rebuild()
                }
            }
        }
        if let current = contexts[job.program] { collectIfGrown(current.context) }
        return results
    }

    private static func outcome(_ output: ProgramContext.CallOutput) -> JavaScriptOutcome {
        if let error = output.error { return .failed(error) }
        if output.dropped || output.events.isEmpty { return .dropped }
        return .events(output.events.map(\.json))
    }

    /// Garbage left by earlier calls must not count against the next call's heap limit.
    private func collectIfGrown(_ ctx: JSContextRef) {
        let rss = ProcessMemory.residentBytes()
        guard rss - lastCollectRSS > ExecutionGuard.preciseEveryBytes else { return }
        lastCollectRSS = rss
        if ExecutionGuard.heapCapacity(ctx) > guardian.limits.memoryLimit / 2 {
            JSSynchronousGarbageCollectForDebugging(ctx)
        }
    }
}
