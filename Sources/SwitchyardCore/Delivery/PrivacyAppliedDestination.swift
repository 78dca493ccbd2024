/// A destination that makes its entries from the event with its `privacy:` applied, whatever its
/// type: the plugin sees only the rewritten event, so nothing it builds (entry, partition key,
/// detail type) can carry what the rules remove.
///
/// The entry keeps the stored job, so the delivery log compares it with the stored event: an
/// entry whose event was rewritten no longer contains the stored event verbatim and is logged
/// whole, showing exactly what was sent.
public struct PrivacyAppliedDestination: Destination {
    public let inner: any Destination

    public var credentialStatus: CredentialStatus? { inner.credentialStatus }
    public let rules: PrivacyRules

    public init(_ inner: any Destination, rules: PrivacyRules) {
        self.inner = inner
        self.rules = rules
    }

    public var batchLimits: BatchLimits { inner.batchLimits }

    public func prepare(_ job: Job) -> Prepared {
        guard let seen = rules.apply(to: job) else { return .drop(reason: "the stored event is not JSON") }
        switch inner.prepare(seen) {
        case .entry(var entry):
            entry.job = job
            return .entry(entry)
        case .drop(let reason):
            return .drop(reason: reason)
        }
    }

    public func send(_ entries: [PreparedEntry]) async -> SendResult {
        await inner.send(entries)
    }
}

extension PrivacyRules {
    /// The job as the destination may see it: its event rewritten, and its user id (which a
    /// destination may use as a key) taken from the rewritten event.
    public func apply(to job: Job) -> Job? {
        guard let event = try? JSONParser.parse(job.payload) else { return nil }
        return job.carrying(apply(to: event))
    }
}

extension Job {
    /// The job with another event in its place (privacy applied, a transformation's output),
    /// its user id (which a destination may use as a key) taken from that event.
    public func carrying(_ event: JSONValue) -> Job {
        var rewritten = self
        rewritten.payload = event.serialized()
        rewritten.userId = Ingestion.identity(event[path: "userId"]) ?? Ingestion.identity(event[path: "anonymousId"])
        return rewritten
    }
}
