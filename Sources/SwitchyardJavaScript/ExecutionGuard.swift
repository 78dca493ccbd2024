import CJavaScriptCore

#if canImport(Glibc)
import Glibc
#endif

/// Why the engine stopped a script.
enum StopReason: Equatable {
    case timeout, memory

    func message(_ limits: JavaScriptLimits) -> String {
        switch self {
        case .timeout: return "timed out after \(Self.seconds(limits.timeout)) s"
        case .memory: return "stopped: the script's heap passed \(limits.memoryLimit >> 20) MiB"
        }
    }

    static func seconds(_ d: Duration) -> String {
        let c = d.components
        let s = Double(c.seconds) + Double(c.attoseconds) / 1e18
        return s == s.rounded() ? String(Int(s)) : String(s)
    }
}

/// Enforces the time and memory limits of one worker's context group through JSC's watchdog.
/// JSC calls `tick` every `period` of the thread's CPU time within one VM entry (every call runs
/// inside one, promise jobs included: `EngineEntry`), and only calls again if the callback re-arms
/// it. Confined to its worker thread.
final class ExecutionGuard {
    static let period = 0.01
    /// Heap statistics walk every object (tens of ms for millions), so they run only when the
    /// cheap process-RSS reading moved this much, or this often.
    static let preciseEveryBytes = 16 << 20
    static let preciseEvery = 0.25

    let limits: JavaScriptLimits
    private let timeoutSeconds: Double
    /// Armed once per group and after each tick: a call that ends before a tick, like almost
    /// every call, costs the watchdog nothing.
    var group: JSContextGroupRef? {
        didSet { arm() }
    }
    private(set) var stopped: StopReason?
    private var active = false
    private var deadline = 0.0
    private var startRSS = 0
    private var lastPreciseRSS = 0
    private var lastPreciseTime = 0.0

    init(limits: JavaScriptLimits) {
        self.limits = limits
        let c = limits.timeout.components
        timeoutSeconds = Double(c.seconds) + Double(c.attoseconds) / 1e18
    }

    private var pointer: UnsafeMutableRawPointer { Unmanaged.passUnretained(self).toOpaque() }

    /// Starts the budget of one call (or of loading a program).
    func begin() {
        let now = Self.now()
        stopped = nil
        active = true
        deadline = now + timeoutSeconds
        // Read at the first tick: most calls end long before one, and reading /proc costs ~10 µs.
        startRSS = 0
        lastPreciseTime = now
    }

    func end() {
        active = false
    }

    /// A guarded allocation in the prelude went over the limit; the next tick terminates.
    func memoryExceeded() {
        if stopped == nil { stopped = .memory }
    }

    private func arm() {
        guard let group else { return }
        JSContextGroupSetExecutionTimeLimit(group, Self.period, executionGuardTick, pointer)
    }

    /// Returns true to terminate the running script. Re-arms even then: promise jobs the stopped
    /// script left may still run in the same entry, and the next tick stops them too.
    fileprivate func tick(_ ctx: JSContextRef) -> Bool {
        arm()
        guard active else { return false }
        if stopped != nil { return true }
        let now = Self.now()
        if now >= deadline {
            stopped = .timeout
            return true
        }
        let rss = ProcessMemory.residentBytes()
        if startRSS == 0 {
            startRSS = rss
            lastPreciseRSS = rss
        }
        if rss - startRSS > limits.memoryLimit {
            stopped = .memory
            return true
        }
        if rss - lastPreciseRSS > Self.preciseEveryBytes || now - lastPreciseTime >= Self.preciseEvery {
            lastPreciseRSS = rss
            lastPreciseTime = now
            if Self.heapCapacity(ctx) > limits.memoryLimit {
                stopped = .memory
                return true
            }
        }
        return false
    }

    /// The group's GC heap plus memory reported against it (array buffers), in bytes.
    static func heapCapacity(_ ctx: JSContextRef) -> Int {
        guard let stats = JSGetMemoryUsageStatistics(ctx), let n = JSC.number(ctx, JSC.get(ctx, stats, "heapCapacity")) else { return 0 }
        return Int(n)
    }

    static func now() -> Double {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
    }
}

/// JSC's watchdog callback; `info` is the worker's ExecutionGuard.
private let executionGuardTick: JSShouldTerminateCallback = { ctx, info in
    guard let ctx, let info else { return true }
    return Unmanaged<ExecutionGuard>.fromOpaque(info).takeUnretainedValue().tick(ctx)
}

/// The process's resident memory, read from /proc (about 10 µs; the one signal that also sees
/// strings and typed arrays, which JSC's heap statistics do not count).
enum ProcessMemory {
    private static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func residentBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 127) }
        guard n > 0 else { return 0 }
        let fields = buffer[0..<n].split(separator: 32)
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * pageSize
    }

    /// Peak and current resident set (VmHWM, VmRSS) in bytes, for measurements.
    static func peakAndCurrent() -> (peak: Int, current: Int) {
        let fd = open("/proc/self/status", O_RDONLY)
        guard fd >= 0 else { return (0, 0) }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 8191) }
        guard n > 0 else { return (0, 0) }
        var peak = 0
        var current = 0
        for line in String(decoding: buffer[0..<n], as: UTF8.self).split(separator: "\n") {
            let kb = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") ?? 0
            if line.hasPrefix("VmHWM:") { peak = kb << 10 }
            if line.hasPrefix("VmRSS:") { current = kb << 10 }
        }
        return (peak, current)
    }
}
