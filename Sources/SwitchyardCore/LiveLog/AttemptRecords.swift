extension LogRecord {
    /// The records one attempt's result makes: its entry as transformed (with the first attempt),
    /// then the attempt, or a `dead` record when it was given up before any send. Every store
    /// writes the same ones.
    public static func records(for log: AttemptLog, outcome: JobOutcome, at now: Timestamp) -> [LogRecord] {
        let job = log.job
        func base(_ kind: LogRecord.Kind, _ status: String) -> LogRecord {
            LogRecord(about: job, kind: kind, status: status, at: now)
        }
        var records: [LogRecord] = []
        if let transformation = log.transformation {
            records.append(LogRecord.transformation(transformation, job: job, at: now))
        }
        if case .dropped = outcome { return records }
        if let entry = log.entry {
            var transformed = base(.transformed, "transformed")
            transformed.detail = entry
            transformed.entryText = log.entryText
            transformed.size = log.entrySize
            records.append(transformed)
        }
        guard let result = log.result else {
            // Dead-lettered before any send.
            var dead = base(.dead, "dead")
            if case .dead(let reason) = outcome { dead.errorMessage = reason }
            dead.errorCode = dead.errorMessage.map { String($0.prefix { $0 != ":" && $0 != " " }) }
            records.append(dead)
            return records
        }
        let status: String
        switch outcome {
        case .succeeded: status = "succeeded"
        case .retry: status = "failed"
        case .dead: status = "dead"
        case .dropped: status = "dropped"
        }
        var attempt = base(.attempt, status)
        attempt.attempt = job.attempt
        attempt.batchId = log.batchId
        attempt.requestId = log.requestId
        switch result {
        case .delivered(let reference):
            attempt.reference = reference
        case .retry(let failure), .reject(let failure):
            attempt.errorCode = failure.code
            attempt.errorMessage = failure.message.isEmpty ? nil : failure.message
            attempt.httpStatus = failure.httpStatus
        }
        if case .retry(let at, _) = outcome { attempt.nextRetryAt = at }
        if case .dead(let reason) = outcome, case .retry = result {
            attempt.errorMessage = reason
        }
        records.append(attempt)
        return records
    }
}

extension LogRecord {
    /// A record about one job: its event, destination and rule.
    public init(about job: Job, kind: Kind, status: String, at now: Timestamp) {
        self.init(at: now, kind: kind, messageId: job.messageId, status: status)
        eventID = job.eventID
        source = job.source
        destination = job.destination
        type = job.type.rawValue
        event = job.name
        userId = job.userId
        rule = job.rule
    }
}
