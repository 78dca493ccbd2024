import SwitchyardCore

/// The event a rule matches and a target receives, made of one PutEvents entry as EventBridge
/// makes it: its `Detail` parsed, `Time` (else the time of the call) to the second, the bus's
/// account and region. The emulator delivers these; `pattern test --destination` matches them.
public enum EventBridgeEnvelope {
    public static func make(entry: JSONObject, detail: JSONObject, id: String, account: String, region: String, now: Timestamp) -> JSONValue
    {
        var time = now
        // A Time too large to count is treated as absent (EventBridge then uses the call's time).
        if case .number(let n)? = entry["Time"], let seconds = Int64(n) {
            let (ms, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            if !overflow { time = Timestamp(millisecondsSinceEpoch: ms) }
        }
        return .object(
            JSONObject([
                ("version", .string("0")),
                ("id", .string(id)),
                ("detail-type", .string(entry["DetailType"]?.stringValue ?? "")),
                ("source", .string(entry["Source"]?.stringValue ?? "")),
                ("account", .string(account)),
                ("time", .string(String(time.rfc3339.prefix(19)) + "Z")),
                ("region", .string(region)),
                ("resources", .array(entry["Resources"]?.arrayValue ?? [])),
                ("detail", .object(detail)),
            ])
        )
    }

    /// The account envelopes name when none is known (the emulator's and the AWS docs' example).
    public static let exampleAccount = "123456789012"
}
