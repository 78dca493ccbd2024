import CJavaScriptCore

#if canImport(Glibc)
import Glibc
#endif

/// Runs a piece of Swift work (loading a program, one call and its serialization) inside a single
/// entry into JavaScriptCore, and drains the promise jobs it left before leaving.
///
/// Left to itself, JavaScriptCore runs promise jobs when the API lock is released, each job a fresh
/// entry into the VM that restarts the watchdog's CPU budget: `while (true) await null` would
/// never be stopped, and a job left queued by a stopped script would run after the stop. Inside one
/// entry the budget spans every job, and a stop while draining discards what is still queued.
/// Confined to its worker thread.
final class EngineEntry {
    private let drain: MicrotaskDrain
    private var body: (() -> Void)?
    var group: JSContextGroupRef?

    init(drain: MicrotaskDrain) {
        self.drain = drain
    }

    /// The class of the host function `run` enters through; its private data is the EngineEntry.
    static func makeClass() -> JSClassRef {
        var definition = kJSClassDefinitionEmpty
        definition.callAsFunction = { _, function, _, _, _, _ in
            if let function, let info = JSObjectGetPrivate(function) {
                Unmanaged<EngineEntry>.fromOpaque(info).takeUnretainedValue().enter()
            }
            return nil
        }
        return JSClassCreate(&definition)
    }

    /// A host function of `ctx` to enter through; the caller keeps it (and protects it).
    func function(in ctx: JSContextRef, of entryClass: JSClassRef) -> JSObjectRef {
        JSObjectMake(ctx, entryClass, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Calls `body` from inside the engine through `function`, then drains the promise jobs.
    func run(_ ctx: JSContextRef, through function: JSObjectRef, _ body: () -> Void) {
        withoutActuallyEscaping(body) { body in
            self.body = body
            var exception: JSValueRef?
            _ = JSObjectCallAsFunction(ctx, function, nil, 0, nil, &exception)
            self.body = nil
        }
    }

    /// Promise jobs queued so far run now, inside the current entry and its time budget.
    func drainJobs() {
        if let group { drain.run(group) }
    }

    private func enter() {
        body?()
        drainJobs()
    }
}

/// JavaScriptCore's `VM::drainMicrotasks`, which the C API does not offer, called under the API
/// lock (`JSLockHolder`) as JavaScriptCore's own callers do. A host function runs with the lock
/// dropped; taking it again there does not leave the entry, so jobs run inside it. Resolved from
/// the loaded library (a context group is its VM): a build without these symbols cannot bound
/// promise jobs, and the pool refuses to start.
struct MicrotaskDrain: @unchecked Sendable {
    private typealias VMFunction = @convention(c) (UnsafeMutableRawPointer) -> Void
    private typealias HolderInit = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Void

    private let drainMicrotasks: VMFunction
    private let lockHolderInit: HolderInit
    private let lockHolderDeinit: VMFunction

    static let symbols = ["_ZN3JSC2VM15drainMicrotasksEv", "_ZN3JSC12JSLockHolderC1EPNS_2VME", "_ZN3JSC12JSLockHolderD1Ev"]

    /// Nil when the loaded JavaScriptCore lacks one of the symbols.
    static func resolve() -> MicrotaskDrain? {
        let found = symbols.compactMap { dlsym(nil, $0) }  // nil: RTLD_DEFAULT, the loaded libraries
        guard found.count == symbols.count else { return nil }
        return MicrotaskDrain(
            drainMicrotasks: unsafeBitCast(found[0], to: VMFunction.self),
            lockHolderInit: unsafeBitCast(found[1], to: HolderInit.self),
            lockHolderDeinit: unsafeBitCast(found[2], to: VMFunction.self)
        )
    }

    func run(_ group: JSContextGroupRef) {
        let vm = UnsafeMutableRawPointer(mutating: UnsafeRawPointer(group))
        // A JSLockHolder is one reference to the VM; the buffer leaves room to spare.
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 16) { holder in
            let pointer = holder.baseAddress!
            pointer.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
            lockHolderInit(pointer, vm)
            drainMicrotasks(vm)
            lockHolderDeinit(pointer)
        }
    }
}
