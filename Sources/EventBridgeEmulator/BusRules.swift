import AWSEmulator
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// The rules of the emulator's bus (`--rules F.yaml`), so a quickstart or an example shows which
/// events a subscriber's EventBridge rule would receive:
///
/// ```yaml
/// rules:
///   - name: retention-team
///     pattern: { source: [contact-lens], detail-type: [Contact Lens Post Call Rules Matched] }
///     target: { file: out/retention.jsonl }
///   - name: webhook
///     eventBusName: orders          # optional: without it the rule sees every bus
///     pattern: { detail: { ruleName: [ACCOUNT_CANCELLATION] } }
///     target: { url: http://127.0.0.1:9000/events }
/// ```
public struct BusRule: Codable, Sendable, Hashable {
    public var name: String
    public var eventBusName: String?
    public var pattern: EventPattern
    public var target: Target

    public enum Target: Sendable, Hashable, CustomStringConvertible {
        /// Each matched event is appended to this JSON-lines file.
        case file(String)
        /// Each matched event is POSTed as JSON, as an API destination receives it.
        case url(String)

        public var description: String {
            switch self {
            case .file(let path): return "file \(path)"
            case .url(let url): return "url \(url)"
            }
        }
    }

    enum CodingKeys: String, CodingKey { case name, eventBusName, pattern, target }
    enum TargetKeys: String, CodingKey { case file, url }

    public init(name: String, eventBusName: String? = nil, pattern: EventPattern, target: Target) {
        self.name = name
        self.eventBusName = eventBusName
        self.pattern = pattern
        self.target = target
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        // Every key is read before any is judged, so one mistake is not reported as several.
        name = try c.decode(String.self, forKey: .name)
        eventBusName = try c.decodeIfPresent(String.self, forKey: .eventBusName)
        let t = try c.nestedContainer(keyedBy: TargetKeys.self, forKey: .target)
        let file = try t.decodeIfPresent(String.self, forKey: .file)
        let url = try t.decodeIfPresent(String.self, forKey: .url)
        do {
            pattern = try c.decode(EventPattern.self, forKey: .pattern)
        } catch var problem as ConfigProblem {
            problem.message = "rule \"\(name)\": \(problem.message)"
            throw problem
        }
        if let problem = Self.nameProblem(name) {
            throw ConfigProblem(location: try c.superDecoder(forKey: .name).configNode?.location, message: problem)
        }
        let location = try c.superDecoder(forKey: .target).configNode?.location
        switch (file, url) {
        case (let path?, nil) where !path.isEmpty:
            target = .file(path)
        case (nil, let url?):
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw ConfigProblem(
                    location: location,
                    message: "rule \"\(name)\": target url \"\(url)\" is not an http:// or https:// URL"
                )
            }
            target = .url(url)
        default:
            throw ConfigProblem(location: location, message: "rule \"\(name)\": the target is one of file: PATH or url: http://…")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        try c.encodeIfPresent(eventBusName, forKey: .eventBusName)
        try c.encode(pattern, forKey: .pattern)
        var t = c.nestedContainer(keyedBy: TargetKeys.self, forKey: .target)
        switch target {
        case .file(let path): try t.encode(path, forKey: .file)
        case .url(let url): try t.encode(url, forKey: .url)
        }
    }

    /// EventBridge's own constraint on rule names (PutRule): 1 to 64 of `[.-_A-Za-z0-9]`.
    static func nameProblem(_ name: String) -> String? {
        let allowed = name.unicodeScalars.allSatisfy {
            $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ".-_".unicodeScalars.contains($0))
        }
        guard (1...64).contains(name.count), allowed else {
            return "rule name \"\(name)\" is not valid: EventBridge rule names are 1 to 64 letters, digits, '.', '-' or '_'"
        }
        return nil
    }

    /// Whether an event put on `bus` (a name or an ARN; nil is the default bus) reaches this rule.
    func watches(bus: String?) -> Bool {
        guard let eventBusName else { return true }
        func name(_ s: String) -> String { s.hasPrefix("arn:") ? String(s.split(separator: "/").last ?? "") : s }
        return name(eventBusName) == name(bus ?? "default")
    }
}

/// The bus's rules, loaded and checked the way EventBridge checks `PutRule`.
public struct BusRules: Sendable {
    public var rules: [BusRule]

    public init(_ rules: [BusRule]) {
        self.rules = rules
    }

    struct File: Decodable {
        var rules: [BusRule]

        enum CodingKeys: String, CodingKey { case rules }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            guard c.contains(.rules) else {
                throw ConfigProblem(
                    location: decoder.configNode?.location,
                    message: "the file lists no rules (rules: [ {name, pattern, target}, … ])"
                )
            }
            rules = try c.decodeEach(BusRule.self, forKey: .rules, decoder: decoder)
        }
    }

    /// Every problem in the file, each at its line; a pattern EventBridge would refuse is named
    /// with EventBridge's reason.
    public static func load(path: String) throws(ConfigError) -> BusRules {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(problems: [ConfigProblem(location: nil, file: path, message: "cannot read the rules file")])
        }
        return try parse(text, file: path)
    }

    public static func parse(_ text: String, file: String) throws(ConfigError) -> BusRules {
        var problems: [ConfigProblem] = []
        guard let root = ConfigParser(file: file, environment: [:]).parse(text, problems: &problems) else {
            throw ConfigError(problems: problems)
        }
        let decoder = ConfigDecoder()
        let found = decoder.decode(File.self, from: root)
        problems += decoder.problems + decoder.unknownKeyProblems()
        var names: Set<String> = []
        for (n, rule) in (found?.rules ?? []).enumerated() where !names.insert(rule.name).inserted {
            let location = root.node(at: [IndexKey(stringValue: "rules")!, IndexKey(n), IndexKey(stringValue: "name")!])?.location
            problems.append(ConfigProblem(location: location, file: file, message: "rule \"\(rule.name)\" is defined twice"))
        }
        guard let found, problems.isEmpty else { throw ConfigError(problems: problems) }
        return BusRules(found.rules)
    }

    public func matching(_ envelope: JSONValue, bus: String?) -> [BusRule] {
        rules.filter { $0.watches(bus: bus) && $0.pattern.matches(envelope) }
    }
}

/// Hands matched events to their rules' targets: a file target is written before PutEvents
/// answers; a URL target is posted in the background, in order, retried with backoff as
/// EventBridge retries a target, and never holds up the bus.
public final class BusTargets: Service, Sendable {
    let files: [String: JSONLinesFile]
    let queue: AsyncStream<(url: String, body: [UInt8])>
    let input: AsyncStream<(url: String, body: [UInt8])>.Continuation
    let httpClient: HTTPClient
    let logger: Logger
    /// Attempts per event before it is given up (logged).
    static let attempts = 5
    /// Events waiting for URL targets; past it, new ones are dropped and logged.
    static let backlog = 10_000

    public init(rules: BusRules, httpClient: HTTPClient, logger: Logger) throws {
        var files: [String: JSONLinesFile] = [:]
        for rule in rules.rules {
            if case .file(let path) = rule.target, files[path] == nil {
                let folder = (path as NSString).deletingLastPathComponent
                if !folder.isEmpty { try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) }
                files[path] = try JSONLinesFile(path: path)
            }
        }
        self.files = files
        (queue, input) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(Self.backlog))
        self.httpClient = httpClient
        self.logger = logger
    }

    /// Delivers one envelope to every rule's target; false when a file target could not be written.
    func deliver(_ envelope: [UInt8], to rules: [BusRule]) -> Bool {
        var written = true
        for rule in rules {
            switch rule.target {
            case .file(let path):
                written = (files[path]?.append(envelope + [UInt8(ascii: "\n")]) ?? false) && written
            case .url(let url):
                if case .dropped = input.yield((url, envelope)) {
                    logger.warning(
                        "URL targets are \(Self.backlog) events behind; an event for rule \"\(rule.name)\" was dropped",
                        metadata: ["url": "\(url)"]
                    )
                }
            }
        }
        return written
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            for await item in queue {
                await post(item.body, to: item.url)
            }
        } onGracefulShutdown: {
            self.input.finish()
        }
    }

    func post(_ body: [UInt8], to url: String) async {
        for attempt in 1...Self.attempts {
            do {
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.body = .bytes(ByteBuffer(bytes: body))
                let response = try await httpClient.execute(request, timeout: .seconds(5))
                _ = try await response.body.collect(upTo: 64 * 1024)
                if (200..<300).contains(response.status.code) { return }
                // A 4xx other than throttling will not pass by retrying, as EventBridge treats it.
                if response.status.code != 429, (400..<500).contains(response.status.code) {
                    logger.warning(
                        "URL target refused an event with HTTP \(response.status.code); not retried",
                        metadata: ["url": "\(url)"]
                    )
                    return
                }
            } catch {
                if attempt == Self.attempts { logger.warning("URL target failed: \(error)", metadata: ["url": "\(url)"]) }
            }
            if attempt < Self.attempts { try? await Task.sleep(for: .milliseconds(200 << attempt)) }
        }
        logger.warning("gave up on an event for a URL target after \(Self.attempts) attempts", metadata: ["url": "\(url)"])
    }
}
