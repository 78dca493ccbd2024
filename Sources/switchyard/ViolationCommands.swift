import ArgumentParser
import Foundation
import SwitchyardCore

struct Violations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List events that broke their source's tracking plan, newest first.",
        discussion: """
            One line per event (when, source, event, propagated or dropped), then one per violation: the field, \
            the message and RudderStack's violation type. From GET /v1/violations.
            """
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "Only this source.") var source: String?
    @Option(help: "Only this event (a track event's name).") var event: String?
    @Option(help: "Only propagated or dropped events.") var status: String?
    @Option(help: "From this time (RFC 3339) or this long ago (15m, 2h).") var since: String?
    @Option(help: "How many events (1 to 1000).") var limit = 50
    @Flag(help: "Print the API's JSON.") var json = false

    func run() async throws {
        var q = [("source", source), ("event", event), ("status", status), ("since", since)].compactMap { k, v in v.map { (k, $0) } }
        q.append(("limit", String(limit)))
        let page = try await operatorRequest(server, path: "/v1/violations" + queryString(q))
        if json {
            print(page.jsonString)
            return
        }
        for record in page[path: "records"]?.arrayValue ?? [] {
            let name = record[path: "event"]?.stringValue ?? record[path: "type"]?.stringValue ?? "?"
            let fields = [record[path: "at"]?.stringValue, record[path: "source"]?.stringValue, name, record[path: "status"]?.stringValue]
            print(fields.compactMap { $0 }.joined(separator: "  ") + "  " + (record[path: "messageId"]?.stringValue ?? ""))
            for v in record[path: "detail.violations"]?.arrayValue ?? [] {
                let path = v[path: "meta.instancePath"]?.stringValue ?? ""
                let property = v[path: "meta.property"]?.stringValue.map { " '\($0)'" } ?? ""
                print(
                    "    \(path.isEmpty ? "/" : path)\(property): \(v[path: "message"]?.stringValue ?? "") (\(v[path: "type"]?.stringValue ?? ""))"
                )
            }
        }
        if let next = page[path: "next"]?.stringValue { print("more: records older than id \(next)") }
    }
}
