import Foundation
import SwitchyardCore

// What the store and delivery tests share: a folder per test, events numbered n, and an
// embedded store's configuration for a folder.

/// A fresh folder per test, removed afterwards.
public func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async rethrows -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-test-\(UUIDv4.make())").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

/// The `n`th event: message id `m-n`, event `En`, user `un` (or `user`), received `receivedAgo` ms ago.
public func makeEvent(_ n: Int, type: MessageType = .track, user: String? = nil, receivedAgo milliseconds: Int64 = 0) -> Event {
    let userId = user ?? "u\(n)"
    let payload = #"{"type":"\#(type.rawValue)","event":"E\#(n)","userId":"\#(userId)","messageId":"m-\#(n)"}"#
    let receivedAt = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch - milliseconds)
    return Event(
        messageId: "m-\(n)",
        type: type,
        name: "E\(n)",
        userId: userId,
        anonymousId: nil,
        receivedAt: receivedAt,
        payload: Array(payload.utf8)
    )
}

/// An embedded store's configuration for `path`, without the free-space floor.
public func storage(_ path: String, sync: StorageConfig.Sync = .normal, maxQueuedJobs: Int = 1_000_000) -> StorageConfig {
    var config = StorageConfig()
    config.path = path
    config.sync = sync
    config.maxQueuedJobs = maxQueuedJobs
    config.minFreeBytes = 0
    return config
}
