import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Ordering keys' advisory locks, and text PostgreSQL can store.
extension PostgresJobStore {
    /// An ordering key's advisory lock name: `destination NUL key`, the key as it is stored.
    static func keyLock(_ destination: String, _ key: String) -> String {
        destination + "\u{0}" + key.pgText
    }

    /// Transaction-scoped advisory locks on ordering keys (`keyLock`), taken in ascending order
    /// everywhere so two transactions never wait on each other in a circle.
    static func lockKeys(_ keys: Set<String>, _ connection: PostgresConnection, logger: Logger) async throws {
        guard !keys.isEmpty else { return }
        let hashes = Set(keys.map(lockHash)).sorted()
        try await connection.run(
            """
            SELECT pg_advisory_xact_lock(h) FROM unnest(\(hashes)::bigint[]) WITH ORDINALITY AS t(h, n) ORDER BY n
            """,
            logger: logger
        )
    }

    /// FNV-1a over the key's bytes: the same on every node and every run (unlike `Hasher`).
    static func lockHash(_ key: String) -> Int64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01b3
        }
        return Int64(bitPattern: hash)
    }
}

extension String {
    /// PostgreSQL's text cannot hold NUL; one in a client's field (a user id, an event name)
    /// would make the whole group commit fail for every request in it. It is stored as U+FFFD.
    var pgText: String {
        utf8.contains(0) ? replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : self
    }
}

extension Optional where Wrapped == String {
    var pgText: String? { map(\.pgText) }
}
