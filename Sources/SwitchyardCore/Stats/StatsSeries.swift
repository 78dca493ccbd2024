/// Rows folded into one series per source and destination over a query's steps, as
/// `/v1/stats` answers them and charts draw them.
public struct StatsSeries: Sendable {
    public let query: StatsQuery
    /// Scope → one merged count per step.
    public private(set) var steps: [StatsScope: [StatsCounts]] = [:]

    public init(query: StatsQuery, rows: [StatsRow]) {
        self.query = query
        let n = query.points
        for row in rows {
            guard let i = query.index(of: row) else { continue }
            steps[row.scope, default: Array(repeating: StatsCounts(), count: n)][i].merge(row.counts)
        }
    }

    /// Every step of a scope merged.
    public func total(_ scope: StatsScope) -> StatsCounts {
        var t = StatsCounts()
        for c in steps[scope] ?? [] { t.merge(c) }
        return t
    }

    public var json: JSONValue {
        var times: [JSONValue] = []
        for i in 0..<query.points {
            times.append(.string(Timestamp(millisecondsSinceEpoch: query.start + Int64(i) * query.step).rfc3339))
        }
        var sources = JSONObject()
        var destinations = JSONObject()
        for scope in steps.keys.sorted() {
            let series = steps[scope]!
            let total = total(scope)
            switch scope.kind {
            case .source: sources[scope.name] = Self.source(series, total)
            case .destination: destinations[scope.name] = Self.destination(series, total)
            }
        }
        return .object(
            JSONObject([
                ("from", .string(Timestamp(millisecondsSinceEpoch: query.start).rfc3339)),
                ("to", .string(Timestamp(millisecondsSinceEpoch: query.end).rfc3339)),
                ("step", .number(String(query.step / 1000))),
                ("resolution", .string(query.bySecond ? "second" : "minute")),
                ("times", .array(times)),
                ("sources", .object(sources)),
                ("destinations", .object(destinations)),
            ])
        )
    }

    static func number(_ n: Int) -> JSONValue { .number(String(n)) }
    static func optional(_ n: Int64?) -> JSONValue { n.map { .number(String($0)) } ?? .null }
    static func column(_ series: [StatsCounts], _ value: (StatsCounts) -> Int) -> JSONValue { .array(series.map { number(value($0)) }) }

    static func source(_ series: [StatsCounts], _ total: StatsCounts) -> JSONValue {
        var refusedSeries = JSONObject()
        for status in total.refused.keys.sorted() {
            refusedSeries[String(status)] = column(series) { $0.refused[status] ?? 0 }
        }
        return .object(
            JSONObject([
                ("received", column(series) { $0.received }),
                ("duplicates", column(series) { $0.duplicates }),
                ("suppressed", column(series) { $0.suppressed }),
                ("violations", column(series) { $0.violations }),
                ("filtered", column(series) { $0.filtered }),
                ("refused", .object(refusedSeries)),
                (
                    "totals",
                    .object(
                        JSONObject([
                            ("received", number(total.received)), ("duplicates", number(total.duplicates)),
                            ("suppressed", number(total.suppressed)), ("violations", number(total.violations)),
                            ("filtered", number(total.filtered)), ("refused", StatsCounts.json(refused: total.refused)),
                        ])
                    )
                ),
            ])
        )
    }

    /// The percentiles `/v1/stats` reports, by key.
    static let percentiles: [(key: String, fraction: Double)] = [("p50", 0.5), ("p95", 0.95), ("p99", 0.99)]

    static func percentiles(_ h: LatencyHistogram) -> JSONValue {
        .object(JSONObject(percentiles.map { ($0.key, optional(h.percentile($0.fraction))) }))
    }

    static func destination(_ series: [StatsCounts], _ total: StatsCounts) -> JSONValue {
        var latency = JSONObject()
        for (key, fraction) in percentiles {
            latency[key] = .array(series.map { optional($0.latency.percentile(fraction)) })
        }
        return .object(
            JSONObject([
                ("delivered", column(series) { $0.delivered }),
                ("retried", column(series) { $0.retried }),
                ("deadLettered", column(series) { $0.deadLettered }),
                ("latencyMs", .object(latency)),
                ("queueDepth", .array(series.map { optional($0.queueDepth.map(Int64.init)) })),
                ("oldestWaitingSeconds", .array(series.map { optional($0.oldestWaitingMs.map { $0 / 1000 }) })),
                (
                    "totals",
                    .object(
                        JSONObject([
                            ("delivered", number(total.delivered)), ("retried", number(total.retried)),
                            ("deadLettered", number(total.deadLettered)), ("latencyMs", percentiles(total.latency)),
                        ])
                    )
                ),
            ])
        )
    }
}
