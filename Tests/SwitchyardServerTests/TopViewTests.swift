import SwitchyardCore
import SwitchyardServer
import Testing

@Suite("switchyard top's screen", .timeLimit(.minutes(1)))
struct TopViewTests {
    @Test("rates per second over the window, p99, queue and the reason a destination is not delivering")
    func screen() throws {
        let stats = try JSONParser.parse(
            """
            {"destinations":{"bus":{"delivered":[30,30],"retried":[6,0],"deadLettered":[1,0],
              "totals":{"delivered":60,"retried":6,"deadLettered":1,"latencyMs":{"p50":12,"p95":40,"p99":1500}}}},
             "sources":{"web":{"received":[40,20],"totals":{"received":60,"refused":{"401":2,"400":1},"duplicates":3,"violations":0,"filtered":0}}}}
            """
        )
        let destinations = try JSONParser.parse(
            """
            {"destinations":[{"name":"bus","state":"retrying","reason":"ThrottlingException (HTTP 400): Rate exceeded","queueDepth":12345,"oldestWaitingSeconds":300},
                             {"name":"stream","state":"idle","queueDepth":0,"oldestWaitingSeconds":0}]}
            """
        )
        let screen = TopView(stats: stats, destinations: destinations, window: 60, color: false).render(title: "top")
        let lines = screen.split(separator: "\n").map(String.init)
        let bus = try #require(lines.first { $0.hasPrefix("bus ") })
        #expect(
            bus.split(separator: " ", omittingEmptySubsequences: true).prefix(9) == [
                "bus", "retrying", "1.0/s", "0.1/s", "1", "12ms", "1.5s", "12k", "5m",
            ]
        )
        #expect(bus.hasSuffix("ThrottlingException (HTTP 400): Rate exceeded"))
        #expect(lines.contains { $0.hasPrefix("stream ") && $0.contains("idle") && $0.contains(" - ") })
        let web = try #require(lines.first { $0.hasPrefix("web ") })
        #expect(web.split(separator: " ", omittingEmptySubsequences: true) == ["web", "1.0/s", "3", "3", "0", "0"])
        let colored = TopView(stats: stats, destinations: destinations, window: 60, color: true).render(title: "top")
        #expect(colored.contains("\u{1B}[33mretrying"))
    }
}
