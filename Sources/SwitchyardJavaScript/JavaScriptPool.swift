import CJavaScriptCore

/// The compiled transformations of one configuration load, in a pool of dedicated threads.
public final class JavaScriptPool: Sendable {
    private let queue: CallQueue
    private let programNames: Set<String>

    /// Compiles `programs` (each may `import { a, b as c } from "libName"` a library from `libraries`) in
    /// one context per program on each of `threads` dedicated threads. Throws the first source error.
    public init(
        programs: [JavaScriptSource],
        libraries: [JavaScriptSource],
        limits: JavaScriptLimits = JavaScriptLimits(),
        threads: Int
    ) throws(JavaScriptSourceError) {
        let linked = ModuleLinker.link(programs: programs, libraries: libraries)
        if let first = linked.errors.first { throw first }
        guard let drain = MicrotaskDrain.resolve() else {
            let first = programs.first
            throw JavaScriptSourceError(
                name: first?.name ?? "",
                origin: first?.origin ?? "",
                line: 1,
                column: 1,
                message:
                    "this JavaScriptCore lacks \(MicrotaskDrain.symbols.joined(separator: ", ")), which bound a script's promise jobs; "
                    + "install Debian's libjavascriptcoregtk-4.1 (2.50)"
            )
        }
        queue = CallQueue()
        programNames = Set(programs.map(\.name))
        let count = max(1, threads)
        let latch = StartupLatch(count: count)
        for i in 0..<count {
            PoolWorker.start(
                programs: linked.programs,
                libraries: linked.libraries,
                limits: limits,
                drain: drain,
                queue: queue,
                latch: latch,
                name: "switchyard-js-\(i)"
            )
        }
        if let error = latch.wait() {
            queue.close()
            throw error
        }
    }

    deinit { queue.close() }

    /// Checks that sources compile and that each program exports transformEvent or transformBatch
    /// (exactly one), without running or keeping anything; all errors.
    public static func check(programs: [JavaScriptSource], libraries: [JavaScriptSource]) -> [JavaScriptSourceError] {
        let linked = ModuleLinker.link(programs: programs, libraries: libraries)
        var errors = linked.errors
        let ctx = JSGlobalContextCreate(nil)!
        defer { JSGlobalContextRelease(ctx) }
        func syntax(_ script: String, _ source: JavaScriptSource) {
            var exception: JSValueRef?
            let ok = JSC.withString(script) { code in
                JSC.withString(source.origin) { JSCheckScriptSyntax(ctx, code, $0, Int32(clamping: source.firstLine), &exception) }
            }
            if !ok { errors.append(SyntaxErrorLocator.locate(ctx, exception, source: source)) }
        }
        for lib in linked.libraries where !lib.script.isEmpty { syntax(lib.script, lib.source) }
        for program in linked.programs { syntax(program.script, program.source) }
        return errors
    }

    /// Runs program `name` over `inputs` (each: the event's JSON object bytes and its metadata JSON
    /// object bytes). transformEvent: one call per input, each under the time limit. transformBatch: one
    /// call for all inputs; each returned event goes to the input whose event.messageId it carries, else
    /// to the first input; inputs given nothing are .dropped; a throw fails every input of the batch.
    /// Suspends (never blocks the caller's thread) until a pool thread has done it.
    public func run(_ name: String, inputs: [(event: [UInt8], metadata: [UInt8])]) async -> [JavaScriptResult] {
        guard !inputs.isEmpty else { return [] }
        guard programNames.contains(name) else {
            return inputs.map { _ in JavaScriptResult(outcome: .failed("no transformation named \"\(name)\"")) }
        }
        return await withCheckedContinuation { continuation in
            let job = PoolCall(program: name, inputs: inputs, continuation: continuation)
            if !queue.submit(job) { job.fail(CallQueue.shutDownMessage) }
        }
    }

    /// Stops the threads (after finishing the calls they hold); later runs fail with a message.
    /// Does not wait: each thread releases its engine on its own way out.
    public func shutdown() {
        queue.close()
    }
}
