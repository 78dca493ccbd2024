#if canImport(Glibc)
import Glibc
#endif

/// JavaScriptCore reads its options from `JSC_*` environment variables once, when the first VM
/// is made. Switchyard sets one before that: traps by polling. By default the engine interrupts
/// a running script (the time limit's check) by signalling its thread from a helper thread; under
/// a high rate of calls that helper aborted the process (seen in the delivery benchmark). Polled
/// traps are checked by the script's own thread at loop heads and calls, which is all the time
/// limit needs.
enum EngineOptions {
    /// Evaluated once, before any context exists (`JavaScriptPool` reads it first).
    static let configured: Bool = {
        // Without overwriting what an operator set on purpose.
        setenv("JSC_usePollingTraps", "true", 0)
        return true
    }()
}
