import Foundation
import GRDB
import SwitchyardCore

/// Write transactions whose failures say what is wrong, and whose records reach live readers in
/// commit order.
extension SQLiteJobStore {
    /// A write transaction whose failure is a `StoreError` with a reason a person can act on.
    static func write<T: Sendable>(_ pool: DatabasePool, _ body: @Sendable @escaping (Database) throws -> T) async throws(StoreError) -> T {
        do {
            return try await pool.write(body)
        } catch {
            throw .unavailable(describe(error))
        }
    }

    /// The same, blocking the calling thread (a group commit's own queue, never the Swift pool).
    static func writeNow<T>(_ pool: DatabasePool, _ body: (Database) throws -> T) throws(StoreError) -> T {
        do {
            return try pool.write(body)
        } catch {
            throw .unavailable(describe(error))
        }
    }

    /// A write transaction whose records reach live readers in commit order: the ticket is
    /// taken inside the transaction (the one writer commits them one at a time), after its last
    /// statement, and handed back whether or not the commit then succeeds.
    static func writeAndPublish<T>(
        _ pool: DatabasePool,
        _ hub: LiveLogHub,
        _ body: (Database) throws -> (T, [LogRecord])
    ) throws(StoreError) -> T {
        var ticket: LiveLogHub.Ticket?
        do {
            let (value, records) = try writeNow(pool) { db in
                let written = try body(db)
                ticket = hub.ticket()
                return written
            }
            hub.publish(records, in: ticket!)
            return value
        } catch {
            if let ticket { hub.publish([], in: ticket) }
            throw error
        }
    }

    /// The same for writes outside the group commits (a replay): run on a dispatch thread, since
    /// the write blocks its thread while it waits for the one writer, which must never be one of
    /// the Swift pool's few.
    static func writeAndPublish<T: Sendable>(
        _ pool: DatabasePool,
        _ hub: LiveLogHub,
        _ body: @Sendable @escaping (Database) throws -> (T, [LogRecord])
    ) async throws(StoreError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, StoreError>, Never>) in
            DispatchQueue.global().async {
                continuation.resume(returning: Result { () throws(StoreError) in try writeAndPublish(pool, hub, body) })
            }
        }
        return try result.get()
    }

    /// Refuses a write while the storage volume is below `storage.minFreeBytes`.
    static func checkFreeSpace(atPath path: String, minFreeBytes: Int) throws(StoreError) {
        if minFreeBytes > 0, let free = freeBytes(atPath: path), free < Int64(minFreeBytes) {
            throw .unavailable("only \(free) bytes free on the storage volume (storage.minFreeBytes is \(minFreeBytes))")
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? DatabaseError {
            switch error.resultCode {
            case .SQLITE_FULL: return "the disk is full"
            case .SQLITE_IOERR: return "disk I/O error (\(error.message ?? "no detail"))"
            case .SQLITE_READONLY: return "the database is read-only"
            case .SQLITE_CANTOPEN: return "cannot open the database file"
            default: return error.message ?? "\(error.resultCode)"
            }
        }
        return "\(error)"
    }
}

/// Free bytes on the volume holding `path`, or nil when it cannot be told.
func freeBytes(atPath path: String) -> Int64? {
    var stats = statvfs()
    guard statvfs(path, &stats) == 0 else { return nil }
    return Int64(stats.f_bavail) * Int64(stats.f_frsize)
}
