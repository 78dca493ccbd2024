import ArgumentParser
import Foundation
import SwitchyardCore

struct Schemas: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The schemas discovered from live traffic, per source and event, from GET /v1/schemas.",
        subcommands: [SchemasList.self, SchemasShow.self, SchemasExport.self]
    )
}

/// Which event model: `--event` for a track event (or a page or screen with `--type`), `--type`
/// alone for identify, group and alias.
struct ModelOptions: ParsableArguments {
    @Option(help: "The source.") var source: String
    @Option(help: "A track event's name, or a page's or screen's name with --type.") var event: String?
    @Option(help: "The message type: track, identify, page, screen, group or alias.") var type: String?

    var query: [(String, String)] {
        [("source", source), ("event", event), ("type", type)].compactMap { k, v in v.map { (k, $0) } }
    }

    func validate() throws {
        guard event != nil || type != nil else { throw ValidationError("give --event, --type, or both") }
    }
}

struct SchemasList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "One line per event model: source, type, event, events seen, versions, last seen.",
        discussion: "A model marked (sampled) had more events than discovery looks at (schemaDiscovery.maxEventsPerSecond)."
    )

    @OptionGroup var server: ServerOptions
    @Option(help: "Only this source.") var source: String?
    @Flag(help: "Print the API's JSON.") var json = false

    func run() async throws {
        let page = try await operatorRequest(server, path: "/v1/schemas" + queryString(source.map { [("source", $0)] } ?? []))
        if json { return print(page.jsonString) }
        for model in page[path: "schemas"]?.arrayValue ?? [] {
            print(SchemasShow.line(model))
        }
    }
}

struct SchemasShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "An event model's versions: when each was first and last seen, how many events, what changed."
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var model: ModelOptions
    @Flag(help: "Print the API's JSON.") var json = false

    static func line(_ model: JSONValue) -> String {
        func s(_ key: String) -> String {
            if case .number(let n)? = model[path: key] { return n }
            return model[path: key]?.stringValue ?? ""
        }
        let versions = model[path: "versions"]?.arrayValue?.count ?? 0
        let sampled = model[path: "sampled"] == .bool(true) ? " (sampled: \(s("inferred")) inferred)" : ""
        let name = s("event").isEmpty ? "" : " \"\(s("event"))\""
        return "\(s("source"))  \(s("type"))\(name)  \(s("events")) events\(sampled)  \(versions) version(s)  last seen \(s("lastSeen"))"
    }

    func run() async throws {
        let page = try await operatorRequest(server, path: "/v1/schemas" + queryString(model.query))
        let models = page[path: "schemas"]?.arrayValue ?? []
        if json { return print(JSONValue.array(models).jsonString) }
        guard !models.isEmpty else {
            printError("no discovered schema for that event yet")
            throw ExitCode(1)
        }
        for found in models {
            print(Self.line(found))
            for v in found[path: "versions"]?.arrayValue ?? [] {
                func s(_ key: String) -> String {
                    if case .number(let n)? = v[path: key] { return n }
                    return v[path: key]?.stringValue ?? ""
                }
                print("  version \(s("version"))  \(s("events")) events  \(s("firstSeen")) .. \(s("lastSeen"))  \(s("digest"))")
                for path in v[path: "changes.added"]?.arrayValue ?? [] { print("    + \(path.stringValue ?? "")") }
                for path in v[path: "changes.removed"]?.arrayValue ?? [] { print("    - \(path.stringValue ?? "")") }
                for change in v[path: "changes.retyped"]?.arrayValue ?? [] {
                    let from = change[path: "from"]?.stringValue ?? ""
                    let to = change[path: "to"]?.stringValue ?? ""
                    print("    ~ \(change[path: "path"]?.stringValue ?? ""): \(from) -> \(to)")
                }
            }
        }
    }
}

struct SchemasExport: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write an event model's schema: JSON Schema, EventBridge's OpenAPI 3, or a tracking plan entry.",
        discussion: """
            jsonschema: draft-07 for the whole event, valid for every event inferred (or for one --version). openapi3: the \
            envelope an EventBridge rule's target receives, as EventBridge's schema registry exports it, with the event as \
            detail. plan: an entry for a tracking plan's events:, the schema of properties or traits as seen.
            """
    )

    @OptionGroup var server: ServerOptions
    @OptionGroup var model: ModelOptions
    @Option(help: "jsonschema, openapi3 or plan.") var format = "jsonschema"
    @Option(help: "One version (default: every event inferred).") var version: Int?
    @Option(help: "openapi3: the detail-type the bus receives (default: the event's name, else its type).") var detailType: String?
    @Option(help: "openapi3: the source the bus receives (default: rudderstack).") var busSource: String?

    func run() async throws {
        var q = model.query + [("format", format)]
        if let version { q.append(("version", String(version))) }
        if let detailType { q.append(("detailType", detailType)) }
        if let busSource { q.append(("busSource", busSource)) }
        let document = try await operatorRequest(server, path: "/v1/schemas/export" + queryString(q))
        let object = try JSONSerialization.jsonObject(with: Data(document.serialized()))
        let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: pretty, as: UTF8.self))
    }
}
