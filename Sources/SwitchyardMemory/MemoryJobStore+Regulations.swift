import SwitchyardCore

/// Regulations over the memory store's dictionaries; the suppression list's version is the
/// number of regulations recorded.
extension MemoryJobStore {
    public func record(_ regulation: Regulation, subjects: [String]) async throws {
        try checkOpen()
        storage.rows.withLockedValue { rows in
            rows.regulations.append(regulation)
            let named = Subjects(regulation.subjectType, subjects)
            let digests = Subjects(regulation.subjectType, subjects.map(SubjectDigest.of))
            if regulation.kind.suppresses {
                rows.suppressed.userIds.formUnion(digests.userIds)
                rows.suppressed.anonymousIds.formUnion(digests.anonymousIds)
            }
            if regulation.kind == .unsuppress {
                rows.suppressed.userIds.subtract(digests.userIds)
                rows.suppressed.anonymousIds.subtract(digests.anonymousIds)
            }
            if regulation.kind.deletes { rows.erasing[regulation.id] = named }
        }
    }

    public func regulations(limit: Int) async throws -> [Regulation] {
        try checkOpen()
        return storage.rows.withLockedValue { Array($0.regulations.reversed().prefix(limit)) }
    }

    public func regulation(id: String) async throws -> Regulation? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in rows.regulations.first { $0.id == id } }
    }

    public func suppressions() async throws -> Suppressions.Snapshot {
        try checkOpen()
        return storage.rows.withLockedValue { Suppressions.Snapshot(version: Int64($0.regulations.count), subjects: $0.suppressed) }
    }

    public func suppressionVersion() async throws -> Int64 {
        try checkOpen()
        return storage.rows.withLockedValue { Int64($0.regulations.count) }
    }

    public func claimErasure(leaseFor: Duration) async throws -> Erasure? {
        try checkOpen()
        return storage.rows.withLockedValue { rows in
            guard let n = rows.regulations.firstIndex(where: { $0.kind.deletes && $0.status != .finished }) else { return nil }
            rows.regulations[n].status = .running
            let regulation = rows.regulations[n]
            return Erasure(
                id: regulation.id,
                subjects: rows.erasing[regulation.id] ?? Subjects(),
                createdAt: regulation.createdAt,
                leaseFor: leaseFor
            )
        }
    }

    public func finishErasure(_ erasure: Erasure) async throws {
        try checkOpen()
        let now = clock.now()
        storage.rows.withLockedValue { rows in
            rows.erasing[erasure.id] = nil
            guard let n = rows.regulations.firstIndex(where: { $0.id == erasure.id }) else { return }
            rows.regulations[n].status = .finished
            rows.regulations[n].finishedAt = now
        }
    }

    /// Deletes by scanning, in the same two stages and id order as the SQL stores.
    public func erase(_ erasure: Erasure, from cursor: ErasureCursor, limit: Int) async throws -> ErasureStep {
        try checkOpen()
        let subjects = erasure.subjects
        let now = clock.now().millisecondsSinceEpoch
        let (step, waiting, released) = storage.rows.withLockedValue { rows -> (ErasureStep, Int, Int) in
            var removed = ErasureCounts()
            var waiting = 0
            var released = 0
            let next: ErasureCursor?
            switch cursor {
            case .events(let after):
                let ids = rows.events.keys.filter { $0 > after }.sorted().prefix(limit)
                next = ids.count < limit ? .log(after: .min) : .events(after: ids.last!)
                for id in ids {
                    guard let stored = rows.events[id], subjects.matches(userId: stored.event.userId, anonymousId: stored.event.anonymousId)
                    else { continue }
                    var heads = Set<[String]>()
                    for job in rows.jobs.values where job.eventID == id {
                        removed.countJob(job.state)
                        if job.isWaiting { waiting += 1 }
                        if job.isWaiting, job.state != .blocked, let key = job.orderingKey { heads.insert([job.destination, key]) }
                        rows.jobs[job.id] = nil
                    }
                    for record in rows.records.values where record.eventID == id {
                        rows.records[record.id] = nil
                        removed.logRecords += 1
                    }
                    rows.events[id] = nil
                    removed.events += 1
                    if rows.dedup.removeValue(forKey: DedupKey(source: stored.source, messageId: stored.event.messageId)) != nil {
                        removed.dedupMarks += 1
                    }
                    for head in heads {
                        let keyed = rows.jobs.values.filter { $0.destination == head[0] && $0.orderingKey == head[1] && $0.isWaiting }
                        guard !keyed.contains(where: { $0.state != .blocked }), var first = keyed.min(by: { $0.id < $1.id }) else {
                            continue
                        }
                        first.state = .pending
                        first.availableAt = now
                        first.updatedAt = now
                        rows.jobs[first.id] = first
                        released += 1
                    }
                }
            case .log(let after):
                let ids = rows.records.keys.filter { $0 > after }.sorted().prefix(limit)
                next = ids.count < limit ? nil : .log(after: ids.last!)
                for id in ids {
                    guard let record = rows.records[id],
                        erasure.records.matches(recordUserId: record.userId, detail: record.detail?.serialized())
                    else { continue }
                    rows.records[id] = nil
                    removed.logRecords += 1
                }
            }
            if let n = rows.regulations.firstIndex(where: { $0.id == erasure.id }) { rows.regulations[n].removed += removed }
            return (ErasureStep(removed: removed, next: next), waiting, released)
        }
        gate.settled(waiting, released: released)
        return step
    }
}
