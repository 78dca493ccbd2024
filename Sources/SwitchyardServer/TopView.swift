import SwitchyardCore

/// `switchyard top`'s screen: per destination its state, rates, p99, queue and why it is not
/// delivering; per source its intake. Made from `/v1/stats` and `/v1/destinations` answers, so
/// the terminal shows what the console shows.
public struct TopView: Sendable {
    public var stats: JSONValue
    public var destinations: JSONValue
    /// The seconds `stats` covers, which rates are per.
    public var window: Double
    public var color: Bool

    public init(stats: JSONValue, destinations: JSONValue, window: Double, color: Bool) {
        self.stats = stats
        self.destinations = destinations
        self.window = window
        self.color = color
    }

    /// A total `/v1/stats` reports for the window, 0 when absent.
    static func total(_ series: JSONValue?, _ key: String) -> Int { series?[path: "totals." + key]?.integerValue ?? 0 }

    func rate(_ n: Int) -> String { Self.rate(Double(n) / max(window, 1)) }

    static func rate(_ r: Double) -> String {
        if r == 0 { return "0/s" }
        if r < 10 { return String(Double(Int(r * 10)) / 10) + "/s" }
        return Self.count(Int(r)) + "/s"
    }

    static func count(_ n: Int) -> String {
        n >= 10_000_000 ? "\(n / 1_000_000)M" : n >= 10_000 ? "\(n / 1000)k" : String(n)
    }

    static func milliseconds(_ ms: Int?) -> String {
        guard let ms else { return "-" }
        if ms < 1000 { return "\(ms)ms" }
        if ms < 60_000 { return String(Double(ms / 100) / 10) + "s" }
        return "\(ms / 60_000)m"
    }

    static func seconds(_ s: Int) -> String { s < 120 ? "\(s)s" : s < 7200 ? "\(s / 60)m" : "\(s / 3600)h" }

    func paint(_ state: String) -> String {
        let padded = state.padding(toLength: 10, withPad: " ", startingAt: 0)
        guard color else { return padded }
        let code: String
        switch state {
        case "delivering": code = "32"
        case "retrying", "paused": code = "33"
        case "refusing": code = "31"
        default: code = "90"
        }
        return "\u{1B}[\(code)m\(padded)\u{1B}[0m"
    }

    static func table(_ rows: [[String]], last: Int? = nil) -> [String] {
        guard let first = rows.first else { return [] }
        var widths = Array(repeating: 0, count: first.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], visible(cell)) } }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - visible(cell) + 2)
            }.joined()
        }
    }

    /// Characters that take a column (colour codes take none).
    static func visible(_ s: String) -> Int {
        var n = 0
        var escaped = false
        for c in s {
            if c == "\u{1B}" { escaped = true } else if escaped { if c == "m" { escaped = false } } else { n += 1 }
        }
        return n
    }

    public func render(title: String) -> String {
        var lines = [title, ""]
        var rows = [["DESTINATION", "STATE", "DELIVERED", "RETRIED", "DEAD", "P50", "P99", "QUEUE", "OLDEST", "WHY"]]
        for d in destinations[path: "destinations"]?.arrayValue ?? [] {
            let name = d[path: "name"]?.stringValue ?? "?"
            let series = stats[path: "destinations"]?.objectValue?[name]
            let state = d[path: "state"]?.stringValue ?? "idle"
            var why = d[path: "reason"]?.stringValue ?? ""
            if state == "paused", let until = d[path: "pausedUntil"]?.stringValue { why = "until \(until): " + why }
            rows.append([
                name, paint(state),
                rate(Self.total(series, "delivered")),
                rate(Self.total(series, "retried")),
                String(Self.total(series, "deadLettered")),
                Self.milliseconds(series?[path: "totals.latencyMs.p50"]?.integerValue),
                Self.milliseconds(series?[path: "totals.latencyMs.p99"]?.integerValue),
                Self.count(d[path: "queueDepth"]?.integerValue ?? 0),
                Self.seconds(d[path: "oldestWaitingSeconds"]?.integerValue ?? 0),
                String(why.prefix(80)),
            ])
        }
        lines += Self.table(rows)
        lines.append("")
        var sources = [["SOURCE", "RECEIVED", "REFUSED", "DUPLICATES", "VIOLATIONS", "FILTERED"]]
        for (name, s) in stats[path: "sources"]?.objectValue ?? JSONObject() {
            let refused = s[path: "totals.refused"]?.objectValue?.reduce(0) { $0 + ($1.value.integerValue ?? 0) } ?? 0
            sources.append([
                name, rate(Self.total(s, "received")), String(refused),
                String(Self.total(s, "duplicates")), String(Self.total(s, "violations")), String(Self.total(s, "filtered")),
            ])
        }
        lines += Self.table(sources)
        return lines.joined(separator: "\n") + "\n"
    }
}
