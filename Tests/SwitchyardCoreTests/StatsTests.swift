import SwitchyardCore
import Testing

@Suite("Stats rollups", .timeLimit(.minutes(1)))
struct StatsTests {
    static let t0: Int64 = 1_767_225_600_000  // a minute's start

    @Test("percentiles come from logarithmic buckets: at most 19% high, never low, and histograms merge")
    func histogram() {
        var h = LatencyHistogram()
        for ms in 1...100 { h.add(milliseconds: Int64(ms)) }
        let p50 = h.percentile(0.5)!
        let p99 = h.percentile(0.99)!
        #expect(p50 >= 50 && Double(p50) <= 50 * 1.19 + 1)
        #expect(p99 >= 99 && Double(p99) <= 99 * 1.19 + 1)
        #expect(LatencyHistogram().percentile(0.5) == nil)
        var other = LatencyHistogram()
        other.add(milliseconds: 0, count: 100)
        h.merge(other)
        #expect(h.count == 200 && h.percentile(0.5) == 1, "half the entries under a millisecond")
        #expect(LatencyHistogram(json: h.json) == h)
        #expect(LatencyHistogram(json: .object(JSONObject([("999", .number("1")), ("x", .number("2")), ("3", .number("-4"))]))).isEmpty)
    }

    @Test("a range is cut into aligned steps; seconds only for the recent past; limits say what to do")
    func query() throws {
        let q = try StatsQuery(from: Self.t0 + 90_000, to: Self.t0 + 3_690_000, step: nil, recentStart: Self.t0 + 3_000_000)
        #expect(q.step == 60_000 && q.start == Self.t0 + 60_000 && q.points == 61)
        let recent = try StatsQuery(from: Self.t0 + 3_100_000, to: Self.t0 + 3_160_000, step: 1000, recentStart: Self.t0 + 3_000_000)
        #expect(recent.bySecond && recent.points == 60)
        let unasked = try StatsQuery(from: Self.t0 + 3_100_000, to: Self.t0 + 3_160_000, step: nil, recentStart: Self.t0 + 3_000_000)
        #expect(unasked.step == 60_000, "seconds only when asked for: minutes count every node and outlive restarts")
        #expect(throws: StatsQueryError.self) {
            try StatsQuery(from: Self.t0, to: Self.t0 + 60_000, step: 10_000, recentStart: Self.t0 + 1)
        }
        #expect(throws: StatsQueryError.self) { try StatsQuery(from: Self.t0, to: Self.t0 + 600_000, step: 90_000, recentStart: 0) }
        #expect(throws: StatsQueryError.self) { try StatsQuery(from: Self.t0, to: Self.t0 + 86_400_000 * 7, step: 60_000, recentStart: 0) }
        #expect(throws: StatsQueryError.self) { try StatsQuery(from: Self.t0, to: Self.t0, step: nil, recentStart: 0) }
        let week = try StatsQuery(from: Self.t0, to: Self.t0 + 86_400_000 * 7, step: nil, recentStart: 0)
        #expect(week.points <= 120)
    }

    @Test("rows fold into steps: counts add up, gauges take the largest sample, latencies merge")
    func series() throws {
        let q = try StatsQuery(from: Self.t0, to: Self.t0 + 600_000, step: 300_000, recentStart: 0)
        func row(_ minute: Int, _ writer: String, _ update: (inout StatsCounts) -> Void) -> StatsRow {
            var c = StatsCounts()
            update(&c)
            return StatsRow(minute: Self.t0 + Int64(minute) * 60_000, writer: writer, scope: .destination("bus"), counts: c)
        }
        let s = StatsSeries(
            query: q,
            rows: [
                row(0, "a") {
                    $0.delivered = 2
                    $0.queueDepth = 5
                    $0.latency.add(milliseconds: 10)
                },
                row(1, "b") {
                    $0.delivered = 3
                    $0.queueDepth = 5
                    $0.latency.add(milliseconds: 1000)
                },
                row(6, "a") {
                    $0.deadLettered = 1
                    $0.queueDepth = 9
                },
                row(10, "a") { $0.delivered = 100 },  // past the range's end
            ]
        )
        let json = s.json
        #expect(json[path: "destinations.bus.delivered"] == .array([.number("5"), .number("0")]))
        #expect(json[path: "destinations.bus.queueDepth"] == .array([.number("5"), .number("9")]))
        #expect(json[path: "destinations.bus.latencyMs.p99"]?.arrayValue?[1] == .null)
        #expect(json[path: "destinations.bus.totals.delivered"] == .number("5"))
        #expect((json[path: "destinations.bus.totals.latencyMs.p99"]?.integerValue ?? 0) >= 1000)
        #expect(json[path: "times"]?.arrayValue?.count == 2 && json[path: "step"] == .number("300"))
    }

    @Test("the recorder keeps a minute until the store has it, takes only changed minutes, and keeps seconds in a ring")
    func recorder() {
        let clock = ManualWallClock(Timestamp(millisecondsSinceEpoch: Self.t0 + 1500))
        let r = StatsRecorder(writer: "n/1", clock: clock, recent: ConfigDuration(milliseconds: 60_000))
        r.add(.source("web")) { $0.received += 2 }
        r.add(.source("web")) { $0.received += 1 }
        #expect(r.takeChangedRows().map(\.counts.received) == [3])
        #expect(r.takeChangedRows().isEmpty, "nothing changed since")
        clock.advance(by: .seconds(60))
        r.add(.source("web")) { $0.received += 4 }
        let rows = r.takeChangedRows()
        #expect(rows.map(\.counts.received) == [4] && rows[0].minute == Self.t0 + 60_000)
        r.notWritten(rows)
        #expect(r.takeChangedRows().map(\.counts.received) == [4], "a failed write is taken again")
        r.written()
        #expect(r.memoryRows().map(\.minute) == [Self.t0 + 60_000], "the past minute left memory once written")
        #expect(r.seconds(from: Self.t0, to: Self.t0 + 120_000).map(\.counts.received).sorted() == [3, 4])
        clock.advance(by: .seconds(60))
        r.add(.source("web")) { $0.received += 1 }
        // The ring holds 120 seconds: the second 120 s ago shares its slot with now and was replaced.
        #expect(r.seconds(from: Self.t0, to: Self.t0 + 1000 * 2).isEmpty)
    }

    @Test("a destination's health follows its sends: delivering, retrying, paused, refusing")
    func health() {
        let board = DestinationHealthBoard()
        let t = { (s: Int64) in Timestamp(millisecondsSinceEpoch: Self.t0 + s * 1000) }
        #expect(board.health("bus").state == .idle)
        board.sent("bus", [.delivered(reference: "1")], at: t(1))
        #expect(board.health("bus").state == .delivering && board.health("bus").lastDeliveredAt == t(1))
        board.sent("bus", [.retry(.init(code: "ThrottlingException", message: "Rate exceeded", httpStatus: 400))], at: t(2))
        #expect(board.health("bus").state == .retrying && board.health("bus").since == t(2))
        #expect(board.health("bus").reason == "ThrottlingException (HTTP 400): Rate exceeded")
        board.paused("bus", until: t(30), reason: "HTTP503 (HTTP 503)", at: t(3))
        board.sent("bus", [.retry(.init(code: "HTTP503", message: ""))], at: t(4))
        #expect(board.health("bus").state == .paused && board.health("bus").pausedUntil == t(30), "a probe that fails keeps it paused")
        board.answering("bus")
        board.sent("bus", [.reject(.init(code: "ValidationException", message: "bad entry")), .delivered(reference: "2")], at: t(5))
        #expect(board.health("bus").state == .delivering, "one bad entry does not make the destination unhealthy")
        #expect(board.health("bus").lastFailure?.code == "ValidationException")
        board.sent("bus", [.reject(.init(code: "AccessDeniedException", message: "no", httpStatus: 400, misconfigured: true))], at: t(6))
        #expect(board.health("bus").state == .refusing && board.health("bus").reason?.hasPrefix("AccessDeniedException") == true)
    }

    @Test("a dead letter's error code is its reason's first word, a prefix of every reason in its group")
    func errorCodes() {
        #expect(
            DeadLetterGroup.errorCode(of: "ThrottlingException (HTTP 400): Rate exceeded (gave up after 3 attempts)")
                == "ThrottlingException"
        )
        #expect(DeadLetterGroup.errorCode(of: "InternalFailure (gave up after 3 attempts)") == "InternalFailure")
        #expect(DeadLetterGroup.errorCode(of: "ValidationException: Detail is malformed") == "ValidationException")
        #expect(DeadLetterGroup.errorCode(of: "") == "(no reason)")
        #expect(DeadLetterHead.head(of: "a:b:c") == "a")
    }
}
