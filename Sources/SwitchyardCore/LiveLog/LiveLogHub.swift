import NIOConcurrencyHelpers

/// Fans committed log records out to live subscribers (`GET /v1/live`, `switchyard tail`). Each
/// subscriber has a bounded buffer: a consumer that falls behind loses records and is told how
/// many, instead of making the server hold an ever-growing backlog for it.
public final class LiveLogHub: Sendable {
    public struct Subscription: Sendable {
        public let id: Int
        public let stream: AsyncStream<Item>
    }

    public enum Item: Sendable {
        case record(LogRecord)
        /// This many records were dropped because the subscriber was too slow.
        case dropped(Int)
    }

    private struct Subscriber {
        var filter: LogFilter
        var continuation: AsyncStream<Item>.Continuation
        var dropped = 0
    }

    private let subscribers = NIOLockedValueBox([Int: Subscriber]())
    private let nextID = NIOLockedValueBox(0)
    public let bufferSize: Int

    public init(bufferSize: Int = 1000) {
        self.bufferSize = bufferSize
    }

    public func subscribe(_ filter: LogFilter) -> Subscription {
        let id = nextID.withLockedValue { $0 += 1; return $0 }
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        subscribers.withLockedValue { $0[id] = Subscriber(filter: filter, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return Subscription(id: id, stream: stream)
    }

    public func unsubscribe(_ id: Int) {
        let removed = subscribers.withLockedValue { $0.removeValue(forKey: id) }
        removed?.continuation.finish()
    }

    public func publish(_ records: [LogRecord]) {
        guard !records.isEmpty else { return }
        subscribers.withLockedValue { subscribers in
            for (id, var subscriber) in subscribers {
                for record in records where subscriber.filter.matches(record) {
                    if subscriber.dropped > 0 {
                        if case .enqueued = subscriber.continuation.yield(.dropped(subscriber.dropped)) {
                            subscriber.dropped = 0
                        }
                    }
                    switch subscriber.continuation.yield(.record(record)) {
                    case .dropped: subscriber.dropped += 1
                    default: break
                    }
                }
                subscribers[id] = subscriber
            }
        }
    }
}
