import NIOConcurrencyHelpers
import SwitchyardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Makes committed transactions durable by fsyncing SQLite's write-ahead log, off the writer.
///
/// With `synchronous=FULL` SQLite fsyncs inside every commit: the single writer thread waits out
/// each flush and the next group of requests waits behind it. With `storage.sync: full` the
/// connection runs at NORMAL instead (a commit only writes the log) and this fsync runs on
/// `GroupCommit`'s flush queue while the writer goes on with the next group. Callers are answered
/// only after an fsync that began after their commit, so a 200 still means "on disk"; one fsync
/// covers every commit before it.
final class WALSync: Sendable {
    let path: String
    private let log = NIOLockedValueBox<(fd: Int32, inode: UInt64)>((-1, 0))

    init(databasePath: String) {
        path = databasePath + "-wal"
    }

    /// Blocks until the log is on disk; call it from a thread that may block.
    func sync() throws(StoreError) {
        if let failure = log.withLockedValue({ syncNow(&$0) }) { throw .unavailable(failure) }
    }

    /// Nil on success, else why the log could not be flushed.
    private func syncNow(_ log: inout (fd: Int32, inode: UInt64)) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot find the write-ahead log \(path): \(String(cString: strerror(errno)))" }
        // SQLite keeps the log while the database is open; should it ever be recreated, follow it.
        if log.fd < 0 || UInt64(info.st_ino) != log.inode {
            if log.fd >= 0 { close(log.fd) }
            log.fd = open(path, O_RDONLY | O_CLOEXEC)
            guard log.fd >= 0 else { return "cannot open the write-ahead log \(path): \(String(cString: strerror(errno)))" }
            log.inode = UInt64(info.st_ino)
        }
        #if canImport(Darwin)
        let result = fcntl(log.fd, F_FULLFSYNC)
        #else
        let result = fdatasync(log.fd)
        #endif
        return result == 0 ? nil : "fsync of the write-ahead log failed: \(String(cString: strerror(errno)))"
    }

    func closeLog() {
        log.withLockedValue { log in
            if log.fd >= 0 { close(log.fd) }
            log.fd = -1
        }
    }
}
