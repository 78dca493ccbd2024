import Foundation
import Logging
import PostgresNIO
import SwitchyardCore
import SwitchyardMemory
import SwitchyardPostgres
import SwitchyardSQLite
import SwitchyardTestSupport
import Testing

/// A store held to the protocols: each test gets fresh, empty storage, and may open it again to
/// model a restart of the node (the previous handle closed first).
struct StoreFixture: Sendable, CustomTestStringConvertible {
    let name: String
    /// Whether several nodes can open the same storage at once (a shared database).
    var sharedByNodes = false
    let makeStorage: @Sendable (_ body: @Sendable (StoreOpener) async throws -> Void) async throws -> Void

    var testDescription: String { name }

    /// Every store this build has. PostgreSQL runs where `.ci/test` started a cluster
    /// (`SWITCHYARD_TEST_POSTGRES_URL`); without one it is left out, and says so on standard error.
    static let all: [StoreFixture] = [.memory, .sqlite] + (postgres.map { [$0] } ?? [])

    static let postgres: StoreFixture? = {
        let environment = ProcessInfo.processInfo.environment
        guard let url = environment["SWITCHYARD_TEST_POSTGRES_URL"], let server = PostgresURL(url) else {
            FileHandle.standardError.write(
                Data(
                    "note: SWITCHYARD_TEST_POSTGRES_URL is not set: the store conformance suite runs against SQLite only (.ci/test starts a PostgreSQL cluster)\n"
                        .utf8
                )
            )
            return nil
        }
        let password = environment["SWITCHYARD_TEST_PGPASSWORD"]
        return StoreFixture(name: "PostgreSQL", sharedByNodes: true) { body in
            // A database of its own per test, dropped afterwards.
            let database = "conformance_\(UUIDv4.make().replacingOccurrences(of: "-", with: "").prefix(16))"
            try await admin(server, password: password, "CREATE DATABASE \(database)")
            var settings = PostgresStorageConfig(
                url: "postgres://\(server.user)@\(server.host):\(server.port)/\(database)?sslmode=disable",
                password: password.map { Secret($0) }
            )
            settings.maxConnections = 8
            let config = settings
            let opener = StoreOpener { maxQueuedJobs, node in
                var storage = StorageConfig()
                storage.maxQueuedJobs = maxQueuedJobs
                let store = try PostgresJobStore(
                    config: config,
                    storage: storage,
                    node: node,
                    logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                    clock: TestTime.clock
                )
                // Owned by the handle: `close` cancels it and waits for it to end.
                let running = Task { try await store.runUntilCancelled() }
                try await store.waitUntilStarted()
                return OpenStore(
                    store: store,
                    close: {
                        running.cancel()
                        _ = await running.result
                    }
                )
            }
            do {
                try await body(opener)
            } catch {
                try? await admin(server, password: password, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
                throw error
            }
            try await admin(server, password: password, "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        }
    }()

    /// One statement on the server's own database, for creating and dropping test databases.
    static func admin(_ server: PostgresURL, password: String?, _ sql: String) async throws {
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let connection = try await PostgresConnection.connect(
            configuration: .init(
                host: server.host,
                port: server.port,
                username: server.user,
                password: password,
                database: server.database,
                tls: .disable
            ),
            id: 1,
            logger: logger
        )
        do {
            try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger)
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }

    /// Storage that outlives each store opened on it, as a database file does.
    static let memory = StoreFixture(name: "memory") { body in
        let storage = MemoryStorage()
        try await body(
            StoreOpener { maxQueuedJobs, _ in
                var config = StorageConfig()
                config.maxQueuedJobs = maxQueuedJobs
                let store = try MemoryJobStore(storage: storage, config: config, owner: true, clock: TestTime.clock)
                return OpenStore(store: store, close: { store.close() })
            }
        )
    }

    static let sqlite = StoreFixture(name: "SQLite") { body in
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-conformance-\(UUIDv4.make())").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try await body(
            StoreOpener { maxQueuedJobs, _ in
                var config = StorageConfig()
                config.path = path
                config.sync = .normal
                config.minFreeBytes = 0
                config.maxQueuedJobs = maxQueuedJobs
                let store = try SQLiteJobStore(config: config, owner: true, clock: TestTime.clock)
                return OpenStore(store: store, close: { try store.close() })
            }
        )
    }
}

struct StoreOpener: Sendable {
    let open: @Sendable (_ maxQueuedJobs: Int, _ node: String) async throws -> OpenStore

    func callAsFunction(maxQueuedJobs: Int = 1_000_000, node: String = "node-1") async throws -> OpenStore {
        try await open(maxQueuedJobs, node)
    }
}

struct OpenStore: Sendable {
    let store: any JobStore
    let close: @Sendable () async throws -> Void
}

extension StoreFixture {
    /// Runs the test on fresh storage with a manual clock bound for its whole duration
    /// (`TestTime`): stores read it, events are stamped by it, and the test moves it forward.
    func withEmptyStorage(_ body: @Sendable (StoreOpener) async throws -> Void) async throws {
        try await TestTime.$clock.withValue(ManualWallClock(Timestamp.now())) {
            try await makeStorage(body)
        }
    }

    /// Opens a store on fresh storage, runs the test with it and closes it.
    func withStore(maxQueuedJobs: Int = 1_000_000, _ body: @Sendable @escaping (any JobStore) async throws -> Void) async throws {
        try await withEmptyStorage { open in
            let opened = try await open(maxQueuedJobs: maxQueuedJobs)
            do {
                try await body(opened.store)
            } catch {
                try? await opened.close()
                throw error
            }
            try await opened.close()
        }
    }

    /// Opens two nodes, `node-a` and `node-b`, on one fresh shared storage, and closes both after.
    func withTwoNodes(
        maxQueuedJobs: Int = 1_000_000,
        _ body: @Sendable @escaping (_ a: any JobStore, _ b: any JobStore) async throws -> Void
    ) async throws {
        try await withEmptyStorage { open in
            let a = try await open(maxQueuedJobs: maxQueuedJobs, node: "node-a")
            let b = try await open(maxQueuedJobs: maxQueuedJobs, node: "node-b")
            do {
                try await body(a.store, b.store)
            } catch {
                try? await a.close()
                try? await b.close()
                throw error
            }
            try await a.close()
            try await b.close()
        }
    }
}

func events(_ range: ClosedRange<Int>, to destinations: [String] = ["a"]) -> [NewEvent] {
    range.map { NewEvent(source: "web", event: makeEvent($0), destinations: destinations) }
}

/// A heartbeat event for destination `hb`.
func heartbeat(_ n: Int) -> NewEvent {
    NewEvent(source: Heartbeat.source, event: makeEvent(n), destinations: ["hb"])
}

/// A moment `ms` milliseconds before the test's clock's now.
func ago(_ ms: Int64) -> Timestamp {
    TestTime.clock.now(plus: .milliseconds(-ms))
}

/// The test's clock's now.
func now() -> Timestamp { TestTime.now() }

/// One event whose job for `d` is ordered by its user.
func keyed(_ n: Int, user: String) -> NewEvent {
    NewEvent(source: "web", event: makeEvent(n, user: user), targets: [JobTarget(destination: "d", orderingKey: user)])
}

/// What a worker reports of `job`: its outcome and, when `logged`, the attempt's log record.
func jobResult(_ job: Job, _ outcome: JobOutcome, logged: Bool = true) -> JobResult {
    JobResult(
        job: job,
        outcome: outcome,
        log: logged ? AttemptLog(job: job, batchId: "b-1", requestId: "r-1", result: entryOutcome(outcome), entry: nil) : nil
    )
}

extension JobQueue {
    func claim(_ destination: String = "a", limit: Int = 100, leaseFor: Duration = .seconds(60)) async throws -> [Job] {
        try await claim(destination: destination, limit: limit, leaseFor: leaseFor)
    }

    func settle(_ jobs: [Job], _ outcome: JobOutcome, logged: Bool = false) async throws {
        try await finish(jobs.map { jobResult($0, outcome, logged: logged) })
    }

    func counts(_ destination: String = "a") async throws -> [JobState: Int] {
        try await stats().destinations[destination]?.counts ?? [:]
    }
}

func entryOutcome(_ outcome: JobOutcome) -> EntryOutcome {
    switch outcome {
    case .succeeded: return .delivered(reference: "ref-1")
    case .retry(_, let error): return .retry(.init(code: error, message: "", httpStatus: 500))
    case .dead(let reason): return .reject(.init(code: reason, message: "", httpStatus: 400))
    case .dropped: return .delivered(reference: nil)
    }
}

func later(_ milliseconds: Int64 = 60_000) -> Timestamp {
    TestTime.clock.now(plus: .milliseconds(milliseconds))
}
