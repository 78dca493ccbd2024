import Hummingbird
import SwitchyardCore

/// What a source's tracking plan made of a request's events.
struct PlanChecked {
    /// The events to store, violations (if any) in their context, with their `violation` record
    /// (written with the event, so its story shows it).
    var kept: [(event: Event, record: LogRecord?)] = []
    /// `Violation Generated` events for the plan's `forwardViolationsTo`.
    var forwarded: [NewEvent] = []
    /// The `violation` records of dropped events, which are not stored.
    var records: [LogRecord] = []
    var dropped = 0
}

extension IngestController {
    /// Appends the events and their jobs; returns once they are committed (and, with
    /// `storage.sync: full`, on disk). Past this, the request is answered 200.
    func store(_ events: [Event], from source: Routing.Source, context: SwitchyardRequestContext) async throws {
        let events = try await unsuppressed(events, from: source, context: context)
        var checked = PlanChecked()
        if let plan = source.trackingPlan {
            checked = self.checked(events, against: plan, from: source)
        } else {
            checked.kept = events.map { ($0, nil) }
        }
        var items = checked.kept.map { event, record in
            let routed = routing.route(event, from: source)
            var item = source.newEvent(event, targets: routed.targets, skipped: routed.skipped)
            if let record { item.records = [record] }
            return item
        }
        items += checked.forwarded
        if checked.dropped > 0 { metrics.droppedByPlan(source: source.name, count: checked.dropped) }
        guard !items.isEmpty else { return try await record(checked, from: source, context: context) }
        let appended: Appended
        do {
            appended = try await store.append(items)
        } catch {
            context.logger.warning("refusing events: \(error)", metadata: ["source": "\(source.name)", "events": "\(items.count)"])
            switch error {
            case .full: throw IngestError.queueFull.textError(retryAfter: 5)
            case .unavailable(let reason): throw IngestError.storageUnavailable(reason).textError(retryAfter: 5)
            }
        }
        metrics.received(source: source.name, count: items.count - appended.duplicates)
        // Answered 200 all the same: the client must stop sending them again.
        metrics.duplicates(source: source.name, count: appended.duplicates)
        for item in items {
            for target in item.skipped { metrics.skipped(source: source.name, destination: target.destination) }
        }
        discovery?.observe(checked.kept.map(\.event), source: source.name)
        try await record(checked, from: source, context: context)
    }

    /// Checks each event against `plan`, as RudderStack's processor does before user
    /// transformations, and counts the violations.
    func checked(_ events: [Event], against plan: TrackingPlan, from source: Routing.Source) -> PlanChecked {
        var out = PlanChecked()
        out.kept.reserveCapacity(events.count)
        for event in events {
            let outcome = plan.check(event)
            let record =
                outcome.violations.isEmpty
                ? nil
                : LogRecord.violations(
                    outcome.violations,
                    of: event,
                    source: source.name,
                    plan: plan.name,
                    version: plan.version,
                    dropped: outcome.dropped
                )
            if let kept = outcome.event {
                out.kept.append((kept, record))
            } else {
                out.dropped += 1
                if let record { out.records.append(record) }
            }
            guard !outcome.violations.isEmpty else { continue }
            let label =
                event.type == .track ? (event.name.flatMap { plan.plans(event: $0) ? $0 : nil } ?? "(unplanned)") : event.type.rawValue
            for violation in outcome.violations {
                metrics.violations(source: source.name, event: label, type: violation.type.rawValue)
            }
            if let destination = plan.forwardViolationsTo {
                for made in plan.violationEvents(for: event, violations: outcome.violations, source: source.name) {
                    out.forwarded.append(source.newEvent(made, targets: [JobTarget(destination: destination)]))
                }
            }
        }
        return out
    }

    /// Stores the records of dropped events once the request's events are committed. They
    /// describe, they are not events: a store that fails here costs the log its records, not the
    /// request its answer.
    func record(_ checked: PlanChecked, from source: Routing.Source, context: SwitchyardRequestContext) async throws {
        guard !checked.records.isEmpty else { return }
        do {
            try await store.appendRecords(checked.records)
        } catch {
            context.logger.warning(
                "tracking plan records not stored: \(error)",
                metadata: ["source": "\(source.name)", "records": "\(checked.records.count)"]
            )
        }
    }
}
