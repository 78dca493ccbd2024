import Logging
import ServiceLifecycle
import SwitchyardCore

/// Indexes the message ids and dedup marks of newly stored events in batches, about a second
/// behind ingestion, so lookups by message id stay fast and dedup marks leave memory without an
/// index write in every ingestion commit.
///
/// The index has its own database file and writer (`SQLiteJobStore.messageIndex`), so indexing
/// runs beside ingestion instead of taking turns with it on the queue's writer.
public struct MessageIndexer: Service {
    public let store: SQLiteJobStore
    public let logger: Logger
    public var interval: Duration = .seconds(1)
    public var batchSize = 50_000

    public init(store: SQLiteJobStore, logger: Logger) {
        self.store = store
        self.logger = logger
    }

    public func run() async throws {
        // Cancelled (another service failed, e.g. the port was taken) means stop, like a shutdown.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            var indexed = 0
            do {
                // After the queue opens, and whenever the filter over the index's dedup marks has
                // filled: until it is built, ingestion probes the index for every marked id.
                if store.marks.needsFilter { try await store.buildMarkFilter() }
                indexed = try await store.indexMessageIDs(limit: batchSize)
            } catch {
                if Task.isCancelled { return }
                logger.warning("indexing message ids failed (lookups by message id scan more until it succeeds): \(error)")
            }
            // A full batch means more are waiting (after a restart, or a burst): go on at once.
            let pause: Duration = indexed == batchSize ? .milliseconds(20) : interval
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pause) }
        }
    }
}
