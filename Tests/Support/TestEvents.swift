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

/// The clock a test's events are stamped with. A store fixture binds its manual clock here for
/// the test's duration, so the events it makes and the store it opens agree on the time, and
/// the test moves time forward with `advance` instead of sleeping.
public enum TestTime {
    @TaskLocal public static var clock: any WallClock = SystemWallClock()

    public static func now() -> Timestamp { clock.now() }

    /// Moves the bound manual clock forward.
    public static func advance(by duration: Duration) {
        guard let manual = clock as? ManualWallClock else { preconditionFailure("no manual clock is bound (TestTime.$clock)") }
        manual.advance(by: duration)
    }
}

/// The `n`th event: message id `m-n`, event `En`, user `un` (or `user`), received `receivedAgo` ms
/// before `TestTime.now()`.
public func makeEvent(_ n: Int, type: MessageType = .track, user: String? = nil, receivedAgo milliseconds: Int64 = 0) -> Event {
    let userId = user ?? "u\(n)"
    let payload = #"{"type":"\#(type.rawValue)","event":"E\#(n)","userId":"\#(userId)","messageId":"m-\#(n)"}"#
    let receivedAt = TestTime.clock.now(plus: .milliseconds(-milliseconds))
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
