import NIOConcurrencyHelpers
import SwitchyardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes the server the only one using its queue folder.
///
/// SQLite lets a second process open the same file, and a second `switchyard serve` pointed at
/// the same `storage.path` would start by recovering the first one's in-flight jobs (sending them
/// twice) and would count the queue's depth wrongly for both. The lock is a `flock` on
/// `queue.lock`: the kernel drops it when the process exits, however it exits, so a server
/// restarted after `kill -9` never finds a stale lock. Read-only tools do not take it.
public final class QueueLock: Sendable {
    public static let fileName = "queue.lock"
    private let descriptor: NIOLockedValueBox<Int32>

    /// Takes the lock, or throws at once (never waits) naming the process that holds it.
    public init(directory: String) throws(QueueLockError) {
        let path = directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
        guard Self.lock(fd) else {
            let holder = Self.readPID(fd)
            close(fd)
            throw .inUse(path: path, pid: holder)
        }
        // For the operator's error message above, in the next process that tries.
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        descriptor = NIOLockedValueBox(fd)
    }

    /// Gives the folder up (closing the descriptor drops the lock); later calls do nothing.
    public func release() {
        descriptor.withLockedValue { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { release() }

    /// Takes the lock without waiting on another process. A `flock` belongs to the open file,
    /// which a child process shares from the moment it is forked until it execs (when the
    /// descriptor's close-on-exec drops it): a queue closed and opened again in this process
    /// while another thread spawns a program (a `credential_process`, say) can find the lock
    /// still held by that child for a moment. Only then, the holder being this very process, it
    /// tries again for up to half a second.
    private static func lock(_ fd: Int32) -> Bool {
        for _ in 0..<50 {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return true }
            guard errno == EWOULDBLOCK, readPID(fd) == getpid() else { return false }
            usleep(10_000)
        }
        return false
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer.prefix(count).filter { (48...57).contains($0) }, as: UTF8.self))
    }
}

public enum QueueLockError: Error, Sendable, Equatable, CustomStringConvertible {
    case inUse(path: String, pid: Int32?)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .inUse(let path, let pid):
            let holder = pid.map { "process \($0)" } ?? "another process"
            return "the queue is in use by \(holder) (\(path) is locked): stop that server first, or give this one its own storage.path"
        case .cannotOpen(let path, let reason):
            return "cannot create the queue's lock file \(path): \(reason)"
        }
    }
}
