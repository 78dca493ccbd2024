import Foundation
import Logging
import ServiceLifecycle

#if canImport(CMalloc)
import CMalloc
#endif

/// The process's heap as the trimming service sees it: how much anonymous memory is resident,
/// and a way to hand freed memory back. A protocol so tests drive the service with a fake.
public protocol ProcessHeap: Sendable {
    /// Anonymous resident bytes (the heap and thread stacks, not the mapped binary or files), or
    /// nil where the platform does not say.
    func residentBytes() -> Int?
    func trim()
}

/// glibc's heap: `RssAnon` from `/proc/self/status`, and `malloc_trim(0)`.
public struct SystemHeap: ProcessHeap {
    public init() {}

    public func residentBytes() -> Int? {
        // One `read` into a fixed buffer: the file is about 1.5 KiB, and procfs hands it over whole.
        let descriptor = open("/proc/self/status", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 8192)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        let status = String(decoding: buffer[..<count], as: UTF8.self)
        for line in status.split(separator: "\n") where line.hasPrefix("RssAnon:") {
            let kilobytes = line.dropFirst("RssAnon:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            return kilobytes.map { $0 * 1024 }
        }
        return nil
    }

    public func trim() {
        #if canImport(CMalloc)
        _ = malloc_trim(0)
        #endif
    }
}

/// When to trim: once the anonymous resident memory has grown by `growth` since the last trim
/// (or since the first look). A burst of work (batches of events, a drain) leaves what it freed
/// in glibc's per-thread arenas, resident, and `malloc_trim` hands it back; while the heap holds
/// steady nothing is trimmed, so a busy server does not take the arenas' locks every tick.
public struct HeapTrimPolicy: Sendable, Hashable {
    public let growth: Int
    /// The resident bytes after the last trim, or the lowest seen since.
    public private(set) var baseline: Int?

    public init(growth: Int = 8 << 20) {
        self.growth = growth
    }

    /// Whether to trim, given the resident bytes now; after a trim, call `trimmed(leaving:)`.
    public mutating func shouldTrim(resident: Int) -> Bool {
        guard let baseline, resident >= baseline else {
            baseline = resident
            return false
        }
        return resident - baseline >= growth
    }

    public mutating func trimmed(leaving resident: Int) {
        baseline = resident
    }
}

/// Looks at the heap every `interval` and trims it when the policy says so. Without it, a server
/// that took a burst of batches keeps 20–40 MB more resident than it uses until it exits.
public struct HeapTrimService: Service {
    public static let interval: Duration = .seconds(5)

    let heap: any ProcessHeap
    let interval: Duration
    let logger: Logger

    public init(heap: any ProcessHeap = SystemHeap(), interval: Duration = Self.interval, logger: Logger) {
        self.heap = heap
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        var policy = HeapTrimPolicy()
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            guard let resident = heap.residentBytes() else {
                // Nothing to watch on this platform: idle until the server stops.
                try? await gracefulShutdown()
                return
            }
            if policy.shouldTrim(resident: resident) {
                heap.trim()
                let left = heap.residentBytes() ?? resident
                policy.trimmed(leaving: left)
                logger.debug("returned freed heap", metadata: ["before": "\(resident >> 20) MiB", "after": "\(left >> 20) MiB"])
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }
}
