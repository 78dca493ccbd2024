import CJavaScriptCore

/// One transformation compiled into its own global context on a worker's group, reused across
/// calls until a stop forces the worker to rebuild. Confined to its worker thread.
final class ProgramContext {
    let program: LinkedProgram
    let context: JSGlobalContextRef
    private let guardian: ExecutionGuard
    private let engine: EngineEntry
    /// The host function every load and call enters the engine through (`EngineEntry`).
    private let enter: JSObjectRef
    private var driver: JSObjectRef?
    private var entry: JSObjectRef?

    /// Evaluates the prelude, the program's libraries and the program, and runs the promise jobs
    /// their top-level code queued, all under one time budget; a stop or throw while loading is a
    /// source error at the line the engine names.
    init(
        program: LinkedProgram,
        libraries: [LinkedLibrary],
        group: JSContextGroupRef,
        guardian: ExecutionGuard,
        engine: EngineEntry,
        classes: (signal: JSClassRef, entry: JSClassRef)
    ) throws(JavaScriptSourceError) {
        self.program = program
        self.guardian = guardian
        self.engine = engine
        context = JSGlobalContextCreateInGroup(group, nil)
        enter = engine.function(in: context, of: classes.entry)
        JSValueProtect(context, enter)
        guardian.begin()
        defer { guardian.end() }
        var failure: JavaScriptSourceError?
        engine.run(context, through: enter) {
            do throws(JavaScriptSourceError) {
                try load(libraries: libraries, signal: classes.signal)
            } catch {
                failure = error
            }
        }
        if let reason = guardian.stopped {
            throw JavaScriptSourceError(
                name: program.source.name,
                origin: program.source.origin,
                line: program.source.firstLine,
                column: 1,
                message: "\(reason.message(guardian.limits)) while loading"
            )
        }
        if let failure { throw failure }
    }

    private func load(libraries: [LinkedLibrary], signal: JSClassRef) throws(JavaScriptSourceError) {
        let ctx = context
        let source = program.source
        func loadError(_ thrown: JSThrown, _ source: JavaScriptSource) -> JavaScriptSourceError {
            if let reason = guardian.stopped {
                return JavaScriptSourceError(
                    name: source.name,
                    origin: source.origin,
                    line: source.firstLine,
                    column: 1,
                    message: "\(reason.message(guardian.limits)) while loading"
                )
            }
            return SyntaxErrorLocator.locate(ctx, thrown.value, source: source)
        }
        func internalError(_ message: String) -> JavaScriptSourceError {
            JavaScriptSourceError(name: source.name, origin: source.origin, line: 1, column: 1, message: "internal error: \(message)")
        }
        guard case .success(let preludeValue) = JSC.evaluate(ctx, SandboxPrelude.script, url: "switchyard-prelude", line: 1),
            let prelude = JSC.object(ctx, preludeValue)
        else {
            throw internalError("the sandbox prelude did not load")
        }
        let limits = guardian.limits
        let settings =
            "{\"memoryLimit\":\(limits.memoryLimit),\"maxLogLines\":\(limits.maxLogLines),"
            + "\"memoryMessage\":\(jsonString(StopReason.memory.message(limits))),\"programOrigin\":\(jsonString(source.origin))}"
        let signalFunction = JSObjectMake(ctx, signal, Unmanaged.passUnretained(guardian).toOpaque())
        guard case .success(let driverValue) = JSC.call(ctx, prelude, [signalFunction, JSC.parseJSON(ctx, Array(settings.utf8))]),
            let driver = JSC.object(ctx, driverValue)
        else {
            throw internalError("the sandbox prelude failed")
        }
        JSValueProtect(ctx, driver)
        self.driver = driver

        for index in program.libraries {
            let lib = libraries[index]
            let exports: JSValueRef?
            switch JSC.evaluate(ctx, lib.script, url: lib.source.origin, line: lib.source.firstLine) {
            case .failure(let thrown): throw loadError(thrown, lib.source)
            case .success(let wrapper):
                guard let function = JSC.object(ctx, wrapper) else { continue }
                switch JSC.call(ctx, function, []) {
                case .failure(let thrown): throw loadError(thrown, lib.source)
                case .success(let value): exports = value
                }
            }
            let handles = lib.handles.map { "\(jsonString($0))" }.joined(separator: ",")
            _ = callDriver("register", [JSC.parseJSON(ctx, Array("[\(handles)]".utf8)), exports])
        }
        switch JSC.evaluate(ctx, program.script, url: source.origin, line: source.firstLine) {
        case .failure(let thrown): throw loadError(thrown, source)
        case .success: break
        }
        guard case .success(let entryValue) = JSC.evaluate(ctx, program.entryLocal, url: source.origin, line: source.firstLine),
            let entry = JSC.object(ctx, entryValue), JSObjectIsFunction(ctx, entry)
        else {
            throw JavaScriptSourceError(
                name: source.name,
                origin: source.origin,
                line: source.firstLine,
                column: 1,
                message: "\(program.entry.exportName) is exported but is not a function"
            )
        }
        JSValueProtect(ctx, entry)
        self.entry = entry
    }

    deinit {
        if let driver { JSValueUnprotect(context, driver) }
        if let entry { JSValueUnprotect(context, entry) }
        JSValueUnprotect(context, enter)
        JSGlobalContextRelease(context)
    }

    @discardableResult
    private func callDriver(_ method: String, _ args: [JSValueRef?]) -> Result<JSValueRef?, JSThrown> {
        guard let driver, let function = JSC.object(context, JSC.get(context, driver, method)) else {
            return .failure(JSThrown(value: nil))
        }
        return JSC.call(context, function, this: driver, args)
    }

    /// Hands the parsed inputs to the driver so metadata(event) and batch routing can find them.
    func begin(events: [JSValueRef], metadatas: [JSValueRef]) {
        let e = events.map { Optional($0) }
        let m = metadatas.map { Optional($0) }
        let eventArray = e.withUnsafeBufferPointer { JSObjectMakeArray(context, e.count, $0.baseAddress, nil) }
        let metaArray = m.withUnsafeBufferPointer { JSObjectMakeArray(context, m.count, $0.baseAddress, nil) }
        callDriver("begin", [eventArray, metaArray])
    }

    /// What one call of the entry function produced, before routing to inputs.
    struct CallOutput {
        var events: [(owner: Int, json: [UInt8])] = []
        var dropped = false
        var error: String?
        var logs: [String] = []
        var stopped: StopReason?
    }

    /// Calls the entry function for input `index` (or all inputs with -1), settles a returned
    /// promise, and serializes what came back, all in one entry into the engine and under one
    /// time budget.
    func call(index: Int) -> CallOutput {
        guard let entry else { return CallOutput(error: "the transformation is not loaded") }
        guardian.begin()
        defer { guardian.end() }
        var output = CallOutput()
        engine.run(context, through: enter) { output = self.callInside(entry, index: index) }
        // Jobs left by serializing the result (a getter, toJSON) were stopped in the final drain.
        if let reason = guardian.stopped, output.stopped == nil {
            return CallOutput(error: reason.message(guardian.limits), stopped: reason)
        }
        return output
    }

    private func callInside(_ entry: JSObjectRef, index: Int) -> CallOutput {
        var output = CallOutput()
        let batch = program.entry == .batch
        let started = callDriver("start", [entry, JSValueMakeNumber(context, Double(index))])
        engine.drainJobs()
        if let reason = guardian.stopped {
            output.stopped = reason
            output.error = reason.message(guardian.limits)
            return output
        }
        if case .failure(let thrown) = started {
            output.error = JSC.describe(context, thrown.value)
            return output
        }
        let finished = callDriver("finish", [JSValueMakeBoolean(context, batch)])
        guard case .success(let value) = finished, let result = JSC.object(context, value), guardian.stopped == nil else {
            output.stopped = guardian.stopped
            output.error = guardian.stopped?.message(guardian.limits) ?? "the transformation's result could not be read"
            return output
        }
        output.logs = strings(JSC.get(context, result, "logs"))
        if let error = JSC.stringValue(context, JSC.get(context, result, "error")) {
            output.error = error
            return output
        }
        if JSValueToBoolean(context, JSC.get(context, result, "dropped")) {
            output.dropped = true
            return output
        }
        let events = JSC.object(context, JSC.get(context, result, "events"))
        let owners = JSC.object(context, JSC.get(context, result, "owners"))
        let count = Int(JSC.number(context, events.flatMap { JSC.get(context, $0, "length") }) ?? 0)
        var total = 0
        for i in 0..<count {
            guard let events, let owners else { break }
            let event = JSObjectGetPropertyAtIndex(context, events, UInt32(i), nil)
            let owner = Int(JSC.number(context, JSObjectGetPropertyAtIndex(context, owners, UInt32(i), nil)) ?? 0)
            var exception: JSValueRef?
            let json = JSValueCreateJSONString(context, event, 0, &exception)
            if let reason = guardian.stopped {
                if let json { JSStringRelease(json) }
                output.stopped = reason
                output.error = reason.message(guardian.limits)
                return output
            }
            guard let json else {
                output.error =
                    exception.map { "an event could not be turned into JSON: " + JSC.describe(context, $0) }
                    ?? "an event could not be turned into JSON"
                return output
            }
            let bytes = Array(JSC.swiftString(json).utf8)
            JSStringRelease(json)
            total += bytes.count
            if total > guardian.limits.maxOutputBytes {
                output.error = "the returned events are larger than \(guardian.limits.maxOutputBytes >> 20) MiB of JSON"
                output.events = []
                return output
            }
            output.events.append((owner, bytes))
        }
        return output
    }

    private func strings(_ value: JSValueRef?) -> [String] {
        guard let array = JSC.object(context, value) else { return [] }
        let count = Int(JSC.number(context, JSC.get(context, array, "length")) ?? 0)
        return (0..<count).map { JSC.describe(context, JSObjectGetPropertyAtIndex(context, array, UInt32($0), nil)) }
    }
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if u.value < 0x20 {
                out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
            } else {
                out.unicodeScalars.append(u)
            }
        }
    }
    return out + "\""
}
