import Logging

/// Claimed jobs into batches within the destination's limits, and a batch into requests.
extension DeliveryWorker {
    /// Prepares entries, dead-letters the ones that can never be sent, and packs the rest into
    /// batches within the destination's entry and size limits, oldest first. A job's entries (a
    /// transformation's fan-out) stay in one batch, which `deliver` sends in as many requests as
    /// the limits need.
    func prepare(_ jobs: [Job], limits: BatchLimits) async -> [[PreparedEntry]] {
        var batches: [[PreparedEntry]] = []
        var current: [PreparedEntry] = []
        var currentBytes = 0
        var dropped: [JobResult] = []
        /// Starts a new batch when `count` more entries of `size` bytes do not fit the current one.
        func makeRoom(count: Int, size: Int) {
            if !current.isEmpty, current.count + count > limits.maxEntries || currentBytes + size > limits.maxBytes {
                batches.append(current)
                current = []
                currentBytes = 0
            }
            currentBytes += size
        }
        for job in jobs {
            let prepared: Result<PreparedEntry, Unsendable>
            if job.output == nil {
                // The common case: one entry, no array made for it.
                switch destination.prepare(job) {
                case .entry(let entry): prepared = .success(entry)
                case .drop(let reason): prepared = .failure(Unsendable(reason: reason))
                }
            } else {
                switch entries(for: job) {
                case .success(let entries):
                    makeRoom(count: entries.count, size: entries.reduce(0) { $0 + $1.size })
                    current += entries
                    continue
                case .failure(let never): prepared = .failure(never)
                }
            }
            switch prepared {
            case .failure(let never):
                logger.warning(
                    "event can never be delivered, dead-lettered",
                    metadata: ["destination": "\(name)", "messageId": "\(job.messageId)", "reason": "\(never.reason)"]
                )
                dropped.append(
                    JobResult(
                        job: job,
                        outcome: .dead(reason: never.reason),
                        log: AttemptLog(job: job, batchId: nil, requestId: nil, result: nil, entry: nil)
                    )
                )
            case .success(let entry):
                makeRoom(count: 1, size: entry.size)
                current.append(entry)
            }
        }
        if !current.isEmpty { batches.append(current) }
        await record(dropped)
        return batches
    }

    /// Sends a batch: one request, unless a job's fan-out makes it larger than one request may
    /// be; then request by request, in order, stopping at a destination that is unavailable.
    func send(_ batch: [PreparedEntry]) async -> SendResult {
        let limits = destination.batchLimits
        var bytes = 0
        for entry in batch { bytes += entry.size }
        if batch.count <= limits.maxEntries, bytes <= limits.maxBytes {
            let sent = await destination.send(batch)
            noteAvailability(sent)
            return sent
        }
        var outcomes: [EntryOutcome] = []
        var requestId: String?
        var start = 0
        while start < batch.count {
            var end = start
            var size = 0
            while end < batch.count, end - start < limits.maxEntries, end == start || size + batch[end].size <= limits.maxBytes {
                size += batch[end].size
                end += 1
            }
            let chunk = Array(batch[start..<end])
            let sent = await destination.send(chunk)
            noteAvailability(sent)
            requestId = sent.requestId ?? requestId
            outcomes +=
                sent.outcomes.count == chunk.count
                ? sent.outcomes
                : Array(repeating: .retry(.init(code: "InternalError", message: "outcome count mismatch")), count: chunk.count)
            start = end
            if let failure = sent.unavailable {
                outcomes += Array(repeating: .retry(failure), count: batch.count - end)
                break
            }
        }
        return SendResult(outcomes: outcomes, requestId: requestId)
    }
}
