import Logging
import ServiceLifecycle

/// Prunes the delivery log, delivered jobs and old dead letters on a schedule, so the queue's
/// size on disk stays bounded however long the server runs.
public struct RetentionService: Service {
    public let store: any RetentionStore
    public let retention: RetentionConfig
    public let logger: Logger

    public init(store: any RetentionStore, retention: RetentionConfig, logger: Logger) {
        self.store = store
        self.retention = retention
        self.logger = logger
    }

    public func run() async throws {
        // Cancelled (another service failed, e.g. the port was taken) means stop, like a shutdown.
        while !Task.isShuttingDownGracefully, !Task.isCancelled {
            do {
                // A shutdown stops it between steps: what is left is pruned at the next start.
                let report = try await cancelWhenGracefulShutdown { try await store.prune(retention) }
                if report.records + report.jobs + report.events + report.dedupMarks > 0 {
                    logger.info(
                        "pruned",
                        metadata: [
                            "records": "\(report.records)", "jobs": "\(report.jobs)", "events": "\(report.events)",
                            "dedupMarks": "\(report.dedupMarks)",
                        ]
                    )
                }
            } catch {
                if Task.isCancelled || Task.isShuttingDownGracefully { return }
                logger.warning("pruning failed: \(error)")
            }
            _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: retention.interval.duration) }
        }
    }
}
