import Yams

/// Where something stands in a configuration file, for messages of the form `file:line:column: ...`.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int

    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }

    public var description: String { "\(file):\(line):\(column)" }
}

/// A parsed YAML tree that remembers positions and is `Sendable`, unlike Yams' node. Destination
/// plugins receive their `config:` block as one of these and decode it with `ConfigDecoder`.
public indirect enum ConfigNode: Sendable {
    case scalar(Scalar)
    case mapping([Entry], SourceLocation)
    case sequence([ConfigNode], SourceLocation)

    public struct Scalar: Sendable {
        public var value: String
        /// Plain (unquoted) scalars may mean null, a boolean or a number; quoted ones are always strings.
        public var isPlain: Bool
        public var location: SourceLocation
        /// The text as the file has it, `${VAR}` not substituted. Messages quote this, never
        /// `value`: an environment variable may hold a write key or an AWS secret.
        public var written: String

        public init(value: String, isPlain: Bool, location: SourceLocation, written: String? = nil) {
            self.value = value
            self.isPlain = isPlain
            self.location = location
            self.written = written ?? value
        }
    }

    public struct Entry: Sendable {
        public var key: String
        public var keyLocation: SourceLocation
        public var value: ConfigNode
    }

    public var location: SourceLocation {
        switch self {
        case .scalar(let s): return s.location
        case .mapping(_, let l), .sequence(_, let l): return l
        }
    }

    public var isNull: Bool {
        if case .scalar(let s) = self, s.isPlain, ["", "~", "null", "Null", "NULL"].contains(s.value) { return true }
        return false
    }

    public var kindDescription: String {
        switch self {
        case .scalar(let s): return isNull ? "null" : "\"\(s.written)\""
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// The node at a coding path, used to point semantic errors at the right line.
    public func node(at path: [any CodingKey]) -> ConfigNode? {
        var current = self
        for key in path {
            switch current {
            case .mapping(let entries, _):
                guard let entry = entries.first(where: { $0.key == key.stringValue }) else { return nil }
                current = entry.value
            case .sequence(let items, _):
                guard let index = key.intValue, items.indices.contains(index) else { return nil }
                current = items[index]
            case .scalar:
                return nil
            }
        }
        return current
    }

    /// The deepest existing node along a path: a missing key is reported at its parent mapping.
    /// `location(nearest:)` for a path written as keys and indices: `("sources", 2, "name")`.
    public func location(nearest keys: [Any]) -> SourceLocation {
        location(
            nearest: keys.map { key -> any CodingKey in
                if let i = key as? Int { return IndexKey(i) }
                return IndexKey(stringValue: "\(key)")!
            }
        )
    }

    public func location(nearest path: [any CodingKey]) -> SourceLocation {
        var current = self
        for key in path {
            guard let next = current.node(at: [key]) else { break }
            current = next
        }
        return current.location
    }
}

/// Reads YAML text into a `ConfigNode`, interpolating `${VAR}` and `${VAR:-default}` in scalar
/// values (`$$` is a literal `$`). Problems are collected, not thrown, so a user sees all of them.
public struct ConfigParser: Sendable {
    public var file: String
    public var environment: [String: String]

    public init(file: String, environment: [String: String]) {
        self.file = file
        self.environment = environment
    }

    public func parse(_ text: String, problems: inout [ConfigProblem]) -> ConfigNode? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            problems.append(Self.problem(from: error, file: file))
            return nil
        } catch {
            problems.append(ConfigProblem(location: nil, file: file, message: "cannot read YAML: \(error)"))
            return nil
        }
        guard let root else {
            problems.append(ConfigProblem(location: SourceLocation(file: file, line: 1, column: 1), message: "the file is empty"))
            return nil
        }
        return convert(root, problems: &problems)
    }

    private func location(_ mark: Mark?) -> SourceLocation {
        SourceLocation(file: file, line: mark?.line ?? 1, column: mark?.column ?? 1)
    }

    private func convert(_ node: Node, problems: inout [ConfigProblem]) -> ConfigNode {
        switch node {
        case .scalar(let scalar):
            let loc = location(scalar.mark)
            let value = interpolate(scalar.string, at: loc, problems: &problems)
            return .scalar(.init(value: value, isPlain: scalar.style == .plain, location: loc, written: scalar.string))
        case .mapping(let mapping):
            var entries: [ConfigNode.Entry] = []
            var seen: Set<String> = []
            for (key, value) in mapping {
                let keyLoc = location(key.mark)
                guard case .scalar(let keyScalar) = key else {
                    problems.append(ConfigProblem(location: keyLoc, message: "mapping keys must be plain names"))
                    continue
                }
                if !seen.insert(keyScalar.string).inserted {
                    problems.append(
                        ConfigProblem(location: keyLoc, message: "key \"\(keyScalar.string)\" appears twice in the same mapping")
                    )
                    continue
                }
                entries.append(.init(key: keyScalar.string, keyLocation: keyLoc, value: convert(value, problems: &problems)))
            }
            return .mapping(entries, location(mapping.mark))
        case .sequence(let sequence):
            return .sequence(sequence.map { convert($0, problems: &problems) }, location(sequence.mark))
        case .alias(let alias):
            problems.append(
                ConfigProblem(location: location(alias.mark), message: "YAML aliases are not supported here; repeat the value instead")
            )
            return .scalar(.init(value: "", isPlain: true, location: location(alias.mark)))
        }
    }

    func interpolate(_ text: String, at loc: SourceLocation, problems: inout [ConfigProblem]) -> String {
        guard text.contains("$") else { return text }
        var out = ""
        var rest = Substring(text)
        while let dollar = rest.firstIndex(of: "$") {
            out += rest[..<dollar]
            let after = rest.index(after: dollar)
            if after < rest.endIndex, rest[after] == "$" {
                out += "$"
                rest = rest[rest.index(after: after)...]
                continue
            }
            guard after < rest.endIndex, rest[after] == "{", let close = rest[after...].firstIndex(of: "}") else {
                out += "$"
                rest = rest[after...]
                continue
            }
            let inner = rest[rest.index(after: after)..<close]
            rest = rest[rest.index(after: close)...]
            let name: Substring
            let fallback: Substring?
            if let sep = inner.range(of: ":-") {
                name = inner[..<sep.lowerBound]
                fallback = inner[sep.upperBound...]
            } else {
                name = inner
                fallback = nil
            }
            guard !name.isEmpty, name.allSatisfy({ $0 == "_" || $0.isASCII && ($0.isLetter || $0.isNumber) }) else {
                problems.append(
                    ConfigProblem(
                        location: loc,
                        message: "\"${\(inner)}\" is not a valid variable reference; use ${NAME} or ${NAME:-default}"
                    )
                )
                continue
            }
            if let value = environment[String(name)], !(fallback != nil && value.isEmpty) {
                out += value
            } else if let fallback {
                out += fallback
            } else {
                problems.append(
                    ConfigProblem(
                        location: loc,
                        message: "environment variable \(name) is not set (write ${\(name):-default} to give a default)"
                    )
                )
            }
        }
        out += rest
        return out
    }

    static func problem(from error: YamlError, file: String) -> ConfigProblem {
        switch error {
        case .scanner(let context, let problem, let mark, _),
            .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let text = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return ConfigProblem(
                location: SourceLocation(file: file, line: mark.line, column: mark.column),
                message: "invalid YAML: \(text)"
            )
        default:
            return ConfigProblem(location: SourceLocation(file: file, line: 1, column: 1), message: "invalid YAML: \(error)")
        }
    }
}
