import ArgumentParser
import Foundation
import SwitchyardCore
import SwitchyardServer

struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The console's overview in the terminal: per destination rate, errors, p99, queue and state, refreshed in place."
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "Seconds between refreshes.") var interval: Double = 2
    @Option(help: "How far back rates and percentiles reach: under 2m from this node's one-second counts, else every node's minutes.")
    var window: String = "1m"
    @Flag(help: "Print one screen and exit (for scripts).") var once = false

    func run() async throws {
        guard let window = ConfigDuration(parsing: window), window.milliseconds >= 10_000 else {
            throw ValidationError("--window must be a duration of at least 10s, like 1m or 15m")
        }
        let tty = isatty(STDOUT_FILENO) == 1
        let step = window.milliseconds < 120_000 ? "1s" : "1m"
        while true {
            let stats = try await operatorRequest(server, path: "/v1/stats" + queryString([("from", window.description), ("step", step)]))
            let destinations = try await operatorRequest(server, path: "/v1/destinations")
            let view = TopView(stats: stats, destinations: destinations, window: Double(window.milliseconds) / 1000, color: tty)
            let title = "switchyard top · \(try server.resolve().url) · last \(window) · \(Timestamp.now().rfc3339)"
            let screen = view.render(title: title)
            // Home and clear, then the screen: it refreshes in place instead of scrolling.
            FileHandle.standardOutput.write(Data((tty && !once ? "\u{1B}[H\u{1B}[2J" + screen : screen).utf8))
            if once { return }
            try await Task.sleep(for: .milliseconds(Int64(max(0.2, interval) * 1000)))
        }
    }
}
