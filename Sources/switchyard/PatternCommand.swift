import ArgumentParser
import Foundation
import SwitchyardCore

struct Pattern: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Work with EventBridge event patterns.", subcommands: [PatternTest.self])
}

struct PatternTest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Check an EventBridge event pattern against an event, as EventBridge would.",
        discussion: """
            Prints "match" (exit 0), "no match: <field>" naming the first field of the pattern the event did not satisfy (exit 1), \
            or "invalid pattern: <reason>" with EventBridge's reason (exit 65). The event is an EventBridge event (the envelope a \
            rule sees); with --destination it is a Switchyard event instead, matched as the envelope(s) it would become through \
            that destination.
            """
    )

    @Option(help: "The event pattern, a JSON file (- for standard input).") var pattern: String
    @Option(help: "The event, a JSON file (- for standard input).") var event: String
    @Option(help: "Match the envelopes this destination would make of the event (a Switchyard event).") var destination: String?
    @OptionGroup var options: ConfigOptions

    func validate() throws {
        guard !(pattern == "-" && event == "-") else { throw ValidationError("only one of --pattern and --event can be standard input") }
    }

    func run() async throws {
        let patternText = try read(pattern, what: "pattern")
        let compiled: EventPattern
        do {
            compiled = try EventPattern(json: patternText)
        } catch {
            print("invalid pattern: \(error.reason)")
            throw ExitCode(65)
        }
        let eventValue: JSONValue
        do {
            eventValue = try JSONParser.parse(Array(try read(event, what: "event").utf8))
        } catch {
            printError("invalid event: \(error)")
            throw ExitCode(65)
        }
        guard case .object = eventValue else {
            // As TestEventPattern answers: Parameter Event is not valid.
            printError("invalid event: an event is a JSON object")
            throw ExitCode(65)
        }
        var envelopes = [eventValue]
        // What names each envelope when there are several: the destination rule it is for.
        var labels: [String] = []
        if let destination {
            let loaded = try options.load()
            guard let target = loaded.destinations.first(where: { $0.name == destination }) else {
                printError("no destination named \"\(destination)\"; there are: \(loaded.destinations.map(\.name).joined(separator: ", "))")
                throw ExitCode(64)
            }
            let admission = target.admission(of: eventValue)
            guard case .entries(let rules) = admission else {
                print("no match: the event would not be sent (\(admission.refusal ?? ""))")
                throw ExitCode(1)
            }
            envelopes = []
            for rule in rules {
                switch target.busEvents(payload: eventValue.serialized(), rule: rule) {
                case nil:
                    printError("destination \"\(destination)\" (\(target.config.type)) does not publish EventBridge events")
                    throw ExitCode(64)
                case .drop(let reason)?:
                    print("no match: the event would not be sent (\(reason))")
                    throw ExitCode(1)
                case .events(let made)?:
                    envelopes += made
                    labels += made.map { envelope in rule.map { "rule \($0.name)" } ?? envelope[path: "detail-type"]?.stringValue ?? "" }
                }
            }
        }
        var matched = false
        for (n, envelope) in envelopes.enumerated() {
            let label = envelopes.count > 1 && n < labels.count ? labels[n] : nil
            switch compiled.match(envelope) {
            case .match:
                matched = true
                print(label.map { "match: \($0)" } ?? "match")
            case .noMatch(let field):
                print("no match: \(field.isEmpty ? "the pattern" : field) did not match" + (label.map { " (\($0))" } ?? ""))
            }
        }
        if envelopes.isEmpty { print("no match: the destination makes no entry of this event") }
        if !matched { throw ExitCode(1) }
    }

    func read(_ path: String, what: String) throws -> String { try readInput(path, what: what) }
}

/// The text of a file named on the command line (`-`: standard input); exit 66 when unreadable.
func readInput(_ path: String, what: String) throws -> String {
    let data: Data?
    if path == "-" {
        data = FileHandle.standardInput.readDataToEndOfFile()
    } else {
        data = FileManager.default.contents(atPath: path)
    }
    guard let data, let text = String(data: data, encoding: .utf8) else {
        printError("cannot read the \(what) from \(path)")
        throw ExitCode(66)
    }
    return text
}
