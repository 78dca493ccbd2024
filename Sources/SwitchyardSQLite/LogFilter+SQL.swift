import SwitchyardCore

/// The delivery log's filters as SQL over the embedded store's tables.
extension LogFilter {
    /// SQL conditions and arguments for the same filter.
    var sql: (String, [String]) {
        conditions(
            eventColumn: "event_id",
            [
                ("source", source), ("destination", destination), ("status", status), ("event", event), ("user_id", userId),
                ("kind", kind?.rawValue), ("rule", rule),
            ]
        )
    }

    /// The same filter over `events` read as `received` records; nil when it cannot match one.
    var receivedSQL: (String, [String])? {
        if destination != nil || rule != nil { return nil }
        if let status, status != "received" { return nil }
        if let kind, kind != .received { return nil }
        return conditions(eventColumn: "id", [("source", source), ("name", event), ("COALESCE(user_id, anonymous_id)", userId)])
    }

    /// The message-id condition on the column holding the event's row, then one equality per set value.
    private func conditions(eventColumn: String, _ columns: [(String, String?)]) -> (String, [String]) {
        var clauses: [String] = []
        var args: [String] = []
        if let messageId {
            clauses.append("\(eventColumn) IN (\(SQLiteJobStore.eventsWithMessageID))")
            args += [messageId, messageId]
        }
        for (column, value) in columns {
            if let value {
                clauses.append("\(column) = ?")
                args.append(value)
            }
        }
        return (clauses.joined(separator: " AND "), args)
    }
}
