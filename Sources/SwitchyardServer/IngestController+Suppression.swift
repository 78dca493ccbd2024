import Hummingbird
import SwitchyardCore

extension IngestController {
    /// The events whose user and anonymous ids no regulation suppresses. The others are answered
    /// 200 like the rest (the SDK must not send them again) and only counted.
    func unsuppressed(_ events: [Event], from source: Routing.Source, context: SwitchyardRequestContext) async throws -> [Event] {
        let suppressions = regulations.suppressions
        var verdict = suppressions.verdict(events, userId: \.userId, anonymousId: \.anonymousId)
        if verdict == .unknown {
            // Not read at start (the store was away): read it now, or refuse as for a store that is away.
            do {
                try await suppressions.refresh(from: regulations.store)
            } catch {
                context.logger.warning(
                    "refusing events: the suppression list cannot be read: \(error)",
                    metadata: ["source": "\(source.name)"]
                )
                // The store's own reason (the database refused the password, is down, ...), as for a write.
                var reason = "the suppression list cannot be read"
                if case StoreError.unavailable(let why) = error { reason = why }
                throw IngestError.storageUnavailable(reason).textError(retryAfter: 5)
            }
            verdict = suppressions.verdict(events, userId: \.userId, anonymousId: \.anonymousId)
        }
        guard case .keep(let keep) = verdict, keep.contains(false) else { return events }
        metrics.suppressed(source: source.name, count: keep.count { !$0 })
        return zip(events, keep).compactMap { $1 ? $0 : nil }
    }
}
