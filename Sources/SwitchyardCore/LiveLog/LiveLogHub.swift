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

    /// A place in the order records reach subscribers, taken by a writer inside its transaction.
    public struct Ticket: Sendable, Hashable {
        let number: UInt64
    }

    private struct Order {
        var issued: UInt64 = 0
        var next: UInt64 = 0
        var held: [UInt64: [LogRecord]] = [:]
    }

    private let subscribers = NIOLockedValueBox([Int: Subscriber]())
    private let nextID = NIOLockedValueBox(0)
    private let order = NIOLockedValueBox(Order())
    public let bufferSize: Int

    public init(bufferSize: Int = 1000) {
        self.bufferSize = bufferSize
    }

    public func subscribe(_ filter: LogFilter) -> Subscription {
        let id = nextID.withLockedValue {
            $0 += 1
            return $0
        }
        let (stream, continuation) = AsyncStream<Item>.makeStream(bufferingPolicy: .bufferingNewest(bufferSize))
        subscribers.withLockedValue { $0[id] = Subscriber(filter: filter, continuation: continuation) }
        continuation.onTermination = { [weak self] _ in self?.unsubscribe(id) }
        return Subscription(id: id, stream: stream)
    }

    /// Whether anyone is reading: a store that must fetch records to publish them skips that
    /// while nobody is.
    public var hasSubscribers: Bool { subscribers.withLockedValue { !$0.isEmpty } }

    public func unsubscribe(_ id: Int) {
        let removed = subscribers.withLockedValue { $0.removeValue(forKey: id) }
        removed?.continuation.finish()
    }

    /// Takes the next place in the order subscribers see commits in. A store whose transactions
    /// commit one at a time takes it inside the transaction, so ticket order is commit order, and
    /// always hands the ticket back through `publish(_:in:)`, with no records if the commit failed.
    public func ticket() -> Ticket {
        order.withLockedValue { order in
            defer { order.issued += 1 }
            return Ticket(number: order.issued)
        }
    }

    /// Publishes a commit's records once every earlier ticket's have been: writers that finish
    /// out of order (each publishes after its own commit returns) cannot make a reader see a
    /// later id first, which would make it skip the earlier ones when it resumes after the later.
    public func publish(_ records: [LogRecord], in ticket: Ticket) {
        // Publishing under the order lock keeps batches in ticket order; subscribers' own lock is
        // taken inside it, never the other way round.
        order.withLockedValue { order in
            order.held[ticket.number] = records
            while let ready = order.held.removeValue(forKey: order.next) {
                order.next += 1
                publish(ready)
            }
        }
    }

    /// Publishes records in the order given: for a single writer, or records already in order.
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
