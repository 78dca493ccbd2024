import Logging

/// The destination's transformations in the delivery of its jobs: run once per job, kept with
/// the job before it is sent, and a job whose scripts returned several events sent as several
/// entries whose outcomes make the job's one.
extension DeliveryWorker {
    /// Why a job can never be sent as it is.
    struct Unsendable: Error {
        var reason: String
    }

    /// Runs the transformations over the claimed jobs not yet transformed, keeps their outputs,
    /// and settles the ones dropped or failed. Returns the jobs to prepare, with their outputs.
    func transform(_ jobs: [Job]) async -> [Job] {
        guard let chain = transformations else { return jobs }
        // A heartbeat says the pipeline is alive: user code that filters traffic must not eat it.
        let pending = jobs.filter { $0.output == nil && $0.source != Heartbeat.source }
        guard !pending.isEmpty else { return jobs }
        let results = await chain.apply(to: pending)
        var outputs: [JobOutput] = []
        var ended: [JobResult] = []
        var made: [Int64: [UInt8]] = [:]
        var settled: Set<Int64> = []
        for (job, result) in zip(pending, results) {
            switch result {
            case .output(let output, let log):
                outputs.append(JobOutput(job: job, output: output, log: log))
                made[job.id] = output
            case .dropped(let log):
                var attempt = AttemptLog(job: job, batchId: nil, requestId: nil, result: nil, entry: nil)
                attempt.transformation = log
                ended.append(JobResult(job: job, outcome: .dropped(reason: log.message ?? "dropped by a transformation"), log: attempt))
                settled.insert(job.id)
            case .failed(let log):
                let reason = log.message ?? "a transformation failed"
                // Not the error's text: user code may put event data in it. The dead letter and
                // the delivery log, which deletions reach, hold it.
                logger.warning(
                    "transformation failed, event dead-lettered; its dead letter says why",
                    metadata: [
                        "destination": "\(name)", "messageId": "\(job.messageId)",
                        "transformations": "\(log.transformations.joined(separator: ","))",
                    ]
                )
                var attempt = AttemptLog(job: job, batchId: nil, requestId: nil, result: nil, entry: nil)
                attempt.transformation = log
                ended.append(JobResult(job: job, outcome: .dead(reason: reason), log: attempt))
                settled.insert(job.id)
            }
        }
        await record(ended)
        do {
            try await store.saveOutputs(outputs)
        } catch {
            // Unsent and unkept: given back, to be transformed again at the next claim.
            logger.error(
                "cannot keep the transformations' outputs; the jobs are transformed again: \(error)",
                metadata: ["destination": "\(name)"]
            )
            let back = jobs.filter { made[$0.id] != nil }
            try? await store.release(back)
            for job in back { settled.insert(job.id) }
            made = [:]
        }
        return jobs.compactMap { job in
            if settled.contains(job.id) { return nil }
            guard let output = made[job.id] else { return job }
            var transformed = job
            transformed.output = output
            return transformed
        }
    }

    /// The entries of a transformed job: one per event its transformations returned.
    func entries(for job: Job) -> Result<[PreparedEntry], Unsendable> {
        guard let output = job.output else { return .failure(Unsendable(reason: "the job was not transformed")) }
        guard case .array(let events)? = try? JSONParser.parse(output), !events.isEmpty else {
            return .failure(Unsendable(reason: "the transformations' stored output is not a JSON array of events"))
        }
        var entries: [PreparedEntry] = []
        for event in events {
            switch destination.prepare(job.carrying(event)) {
            case .entry(var entry):
                entry.job.userId = job.userId
                entries.append(entry)
            case .drop(let reason):
                return .failure(Unsendable(reason: events.count > 1 ? "entry \(entries.count + 1) of \(events.count): \(reason)" : reason))
            }
        }
        return .success(entries)
    }

    /// One job's outcome from its entries': delivered when all were, dead when one was refused,
    /// else retried with only the events not yet delivered kept for the next attempt.
    func fannedOut(
        _ entries: ArraySlice<PreparedEntry>,
        _ outcomes: ArraySlice<EntryOutcome>,
        batchId: String,
        requestId: String?,
        now: Timestamp
    ) -> JobResult {
        let job = entries.first!.job
        let count = entries.count
        var delivered = 0
        var rejection: (Int, EntryOutcome.Failure)?
        var retry: EntryOutcome.Failure?
        var remaining: [[UInt8]] = []
        for (k, (entry, outcome)) in zip(entries, outcomes).enumerated() {
            switch outcome {
            case .delivered: delivered += 1
            case .reject(let failure): rejection = rejection ?? (k, failure)
            case .retry(let failure):
                retry = retry ?? failure
                remaining.append(entry.job.payload)
            }
        }
        let combined: EntryOutcome
        if let (k, failure) = rejection {
            let message = "entry \(k + 1) of \(count) refused (\(delivered) delivered): \(failure.message)"
            combined = .reject(.init(code: failure.code, message: message, httpStatus: failure.httpStatus))
        } else if let failure = retry {
            let message = "\(remaining.count) of \(count) entries not delivered: \(failure.message)"
            combined = .retry(.init(code: failure.code, message: message, httpStatus: failure.httpStatus))
        } else {
            combined = outcomes.first!
        }
        let first = job.attempt == 1
        let log = AttemptLog(
            job: job,
            batchId: batchId,
            requestId: requestId,
            result: combined,
            entry: first ? .array(entries.compactMap(\.display)) : nil,
            entrySize: first ? entries.reduce(0) { $0 + $1.body.count } : nil
        )
        var result = JobResult(job: job, outcome: jobOutcome(for: job, combined, now: now), log: log)
        if case .retry = result.outcome, remaining.count < count { result.output = TransformationChain.array(remaining) }
        return result
    }

    /// The entry for the log without the stored event it embeds; a transformed entry embeds an
    /// event that is not the stored one, and is kept whole.
    func entryText(_ entry: PreparedEntry) -> EntryText {
        let text = entry.logText ?? entry.body
        if entry.job.output != nil { return EntryText(bytes: text, eventOffset: nil) }
        return EntryText(entry: text, embedding: entry.job.payload)
    }
}
