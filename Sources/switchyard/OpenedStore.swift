import Logging
import ServiceLifecycle
import SwitchyardCore
import SwitchyardMemory
import SwitchyardPostgres
import SwitchyardSQLite
import SwitchyardServer

/// The store the configuration names, with the services it needs running beside the server:
/// the embedded SQLite files (and their message indexer), or a shared PostgreSQL database.
/// Opened here, not in SwitchyardServer, so the server library needs neither database driver.
struct OpenedStore {
    /// What the server runs on.
    let served: ServerStore
    let close: () throws -> Void

    /// - Parameter serving: the server opens its store as the owner: it takes the SQLite folder's
    ///   lock, and makes the jobs it left in flight when it last stopped due at once.
    static func open(_ config: SwitchyardConfig, logger: Logger, metrics: PipelineMetrics, serving: Bool) async throws -> OpenedStore {
        if let postgres = config.storage.postgres {
            let store = try PostgresJobStore(
                config: postgres,
                storage: config.storage,
                node: config.server.nodeName,
                logger: logger,
                recoverAtStart: serving,
                metrics: metrics
            )
            return OpenedStore(served: ServerStore(store: store, services: [store]), close: {})
        }
        if config.storage.memory {
            logger.warning("storage.memory: the queue is kept in this process's memory; nothing it holds survives a restart")
            let store = try MemoryJobStore(config: config.storage, owner: serving, metrics: metrics)
            return OpenedStore(served: ServerStore(store: store), close: { store.close() })
        }
        let store = try SQLiteJobStore(config: config.storage, logger: logger, owner: serving, metrics: metrics)
        if serving { _ = try await store.recoverInterrupted() }
        return OpenedStore(
            served: ServerStore(store: store, services: [MessageIndexer(store: store, logger: logger)]),
            close: { try store.close() }
        )
    }

    /// Opens the store for one look (`queue stats`) and closes it.
    static func withStore<T: Sendable>(
        _ config: SwitchyardConfig,
        logger: Logger,
        _ body: @Sendable (any JobStore) async throws -> T
    ) async throws -> T {
        if let postgres = config.storage.postgres {
            return try await PostgresJobStore.with(config: postgres, storage: config.storage, node: config.server.nodeName, logger: logger)
            { try await body($0) }
        }
        if config.storage.memory {
            throw StoreError.unavailable("storage.memory keeps the queue in the server's memory: ask the server (GET /v1/summary)")
        }
        let store = try SQLiteJobStore(config: config.storage, logger: logger)
        defer { try? store.close() }
        return try await body(store)
    }
}
