import Foundation
import Testing
@testable import SwitchyardCore
import SwitchyardSQLite

/// A fresh folder per test, removed afterwards.
func withTemporaryDirectory<T>(_ body: (String) async throws -> T) async rethrows -> T {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-test-\(UUIDv4.make())").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    return try await body(path)
}

func makeEvent(_ n: Int, type: MessageType = .track, receivedAgo milliseconds: Int64 = 0) -> Event {
    let payload = #"{"type":"\#(type.rawValue)","event":"E\#(n)","userId":"u\#(n)","messageId":"m-\#(n)"}"#
    let receivedAt = Timestamp(millisecondsSinceEpoch: Timestamp.now().millisecondsSinceEpoch - milliseconds)
    return Event(messageId: "m-\(n)", type: type, name: "E\(n)", userId: "u\(n)", anonymousId: nil, receivedAt: receivedAt, payload: Array(payload.utf8))
}

func storage(_ path: String, sync: StorageConfig.Sync = .normal, maxQueuedJobs: Int = 1_000_000) -> StorageConfig {
    var config = StorageConfig()
    config.path = path
    config.sync = sync
    config.maxQueuedJobs = maxQueuedJobs
    config.minFreeBytes = 0
    return config
}

