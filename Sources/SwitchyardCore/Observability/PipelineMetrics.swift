import Metrics
import NIOConcurrencyHelpers

/// One server's pipeline counters, reported to the swift-metrics factory it is given (and so to
/// that server's `/metrics`) and kept as totals for the summary line of its live page, so both
/// show the same numbers. Each server has its own: two in one process count apart.
public final class PipelineMetrics: Sendable {
    /// A new instance that reports nowhere: for tools that open a store only to look at it.
    public static func discarding() -> PipelineMetrics {
        PipelineMetrics(factory: NOOPMetricsHandler.instance)
    }

    public struct Snapshot: Sendable, Hashable {
        public var receivedBySource: [String: Int]
        /// Events answered 200 but not stored, as copies of one the source sent before.
        public var duplicatesBySource: [String: Int] = [:]
        /// Events answered 200 but not stored, because their user or anonymous id is suppressed.
        public var suppressedBySource: [String: Int] = [:]
        /// destination → outcome (`succeeded`, `failed`, `dead`) → count.
        public var deliveriesByDestination: [String: [String: Int]]
    }

    /// Where the counters and gauges are reported; components that make metrics of their own
    /// (a destination's AWS client) use it too, so everything lands in the same place.
    public let factory: any MetricsFactory
    private let totals = NIOLockedValueBox(Snapshot(receivedBySource: [:], deliveriesByDestination: [:]))
    private let counters = NIOLockedValueBox([String: Counter]())
    /// The same counts per minute and second, for `/v1/stats` and the console's charts.
    public let stats: StatsRecorder
    /// Each destination's state from its last sends.
    public let health = DestinationHealthBoard()

    public init(factory: any MetricsFactory, stats: StatsRecorder? = nil) {
        self.factory = factory
        self.stats = stats ?? StatsRecorder(writer: UUIDv4.make())
    }

    func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        // Built with plain appends: this runs for every ingestion request.
        var key = label
        for (name, value) in dimensions { key += "|" + name + "=" + value }
        return counters.withLockedValue { cache in
            if let c = cache[key] { return c }
            let c = Counter(label: label, dimensions: dimensions, factory: factory)
            cache[key] = c
            return c
        }
    }

    private func gauge(_ label: String, destination: String) -> Gauge {
        Gauge(label: label, dimensions: [("destination", destination)], factory: factory)
    }

    public func received(source: String, count: Int) {
        counter("switchyard_events_received_total", [("source", source)]).increment(by: count)
        totals.withLockedValue { $0.receivedBySource[source, default: 0] += count }
        stats.add(.source(source)) { $0.received += count }
    }

    /// Events not stored because their source sent their message id within its dedup window.
    /// A source that keeps sending many is worth a look: retries after lost answers explain a
    /// few; a client that reuses ids loses events.
    public func duplicates(source: String, count: Int) {
        guard count > 0 else { return }
        counter("switchyard_duplicate_events_total", [("source", source)]).increment(by: count)
        totals.withLockedValue { $0.duplicatesBySource[source, default: 0] += count }
        stats.add(.source(source)) { $0.duplicates += count }
    }

    /// Events not stored because a regulation suppresses their user or anonymous id; only the
    /// count is kept, never what they held.
    public func suppressed(source: String, count: Int) {
        guard count > 0 else { return }
        counter("switchyard_events_suppressed_total", [("source", source)]).increment(by: count)
        totals.withLockedValue { $0.suppressedBySource[source, default: 0] += count }
        stats.add(.source(source)) { $0.suppressed += count }
    }

    /// A tracking plan's violations, by source, event and RudderStack's violation type. Only the
    /// plan's own event names label it (an unplanned one counts as `(unplanned)`), so a flood of
    /// made-up names cannot grow `/metrics`.
    public func violations(source: String, event: String, type: String, count: Int = 1) {
        counter("switchyard_tracking_plan_violations_total", [("source", source), ("event", event), ("type", type)]).increment(by: count)
        stats.add(.source(source)) { $0.violations += count }
    }

    /// Events a tracking plan kept from being stored.
    public func droppedByPlan(source: String, count: Int = 1) {
        counter("switchyard_events_dropped_by_plan_total", [("source", source)]).increment(by: count)
        stats.add(.source(source)) { $0.filtered += count }
    }

    /// Events schema discovery saw, by source and whether their shape was inferred or, past
    /// the per-model rate, only counted (`sampled`).
    public func discovered(source: String, inferred: Int, sampled: Int) {
        if inferred > 0 {
            counter("switchyard_schema_discovery_events_total", [("source", source), ("outcome", "inferred")]).increment(by: inferred)
        }
        if sampled > 0 {
            counter("switchyard_schema_discovery_events_total", [("source", source), ("outcome", "sampled")]).increment(by: sampled)
        }
    }

    /// Events of event models discovery did not take, its limit of models per source reached.
    public func discoveryOverflow(source: String, count: Int = 1) {
        counter("switchyard_schema_discovery_overflow_total", [("source", source)]).increment(by: count)
    }

    /// An event routed to a destination that got no job for it, for lack of the consent the
    /// destination asks for.
    public func skipped(source: String, destination: String, count: Int = 1) {
        counter("switchyard_events_skipped_total", [("source", source), ("destination", destination)]).increment(by: count)
        stats.add(.source(source)) { $0.filtered += count }
    }

    /// An ingestion request refused (or, for a pixel, answered without storing its event), by
    /// the route's path and the status it was refused with; in the rollups by its source, when
    /// its write key named one.
    public func refused(route: String, status: Int, source: String? = nil) {
        counter("switchyard_requests_refused_total", [("route", route), ("status", String(status))]).increment()
        stats.add(.source(source ?? StatsScope.unknownSource)) { $0.refused[status, default: 0] += 1 }
    }

    /// One entry's outcome: `succeeded`, `failed` (a retry is scheduled) or `dead`.
    public func delivery(destination: String, outcome: String, count: Int = 1) {
        counter("switchyard_deliveries_total", [("destination", destination), ("outcome", outcome)]).increment(by: count)
        if outcome == "failed" { counter("switchyard_retries_total", [("destination", destination)]).increment(by: count) }
        if outcome == "dead" { counter("switchyard_dead_letters_total", [("destination", destination)]).increment(by: count) }
        totals.withLockedValue { $0.deliveriesByDestination[destination, default: [:]][outcome, default: 0] += count }
        stats.add(.destination(destination)) { c in
            switch outcome {
            case "succeeded": c.delivered += count
            case "failed": c.retried += count
            case "dead": c.deadLettered += count
            default: c.filtered += count
            }
        }
    }

    /// How long delivered entries took from their acceptance to the destination's answer.
    public func deliveryLatencies(destination: String, milliseconds: [Int64]) {
        guard !milliseconds.isEmpty else { return }
        stats.add(.destination(destination)) { c in
            for ms in milliseconds { c.latency.add(milliseconds: ms) }
        }
    }

    /// Jobs claimed again because the lease of the worker holding them ran out (a node or
    /// process that died or hung): each is delivered again, so downstream may see it twice.
    public func leaseExpired(destination: String, count: Int) {
        guard count > 0 else { return }
        counter("switchyard_lease_expiries_total", [("destination", destination)]).increment(by: count)
    }

    /// The destination's sends were paused after one failed as a whole.
    public func destinationPaused(_ destination: String, until: Timestamp, reason: String, at now: Timestamp) {
        health.paused(destination, until: until, reason: reason, at: now)
        counter("switchyard_destination_pauses_total", [("destination", destination)]).increment()
        gauge("switchyard_destination_paused", destination: destination).record(1)
    }

    /// A send to the destination got an answer again.
    public func destinationAnswering(_ destination: String) {
        health.answering(destination)
        gauge("switchyard_destination_paused", destination: destination).record(0)
    }

    public func snapshot() -> Snapshot {
        totals.withLockedValue { $0 }
    }

    /// Queue depth and oldest waiting age per destination, set from the store when someone looks.
    public func updateQueue(_ backlog: [String: QueueStats.Destination]) {
        for (destination, d) in backlog {
            gauge("switchyard_queue_depth", destination: destination).record(d.waiting)
            gauge("switchyard_oldest_pending_age_seconds", destination: destination).record(Double(d.oldestWaitingAgeMs ?? 0) / 1000)
        }
    }
}
