/// One user transformation or library, as written by the user.
public struct JavaScriptSource: Sendable, Hashable {
    /// The transformation's or library's name in the configuration.
    public var name: String
    public var code: String
    /// Where it came from, for messages: a file path, or e.g. "switchyard.yaml".
    public var origin: String
    /// The line in `origin` where `code` starts (1 for a file; the YAML line for inline code).
    public var firstLine: Int

    public init(name: String, code: String, origin: String, firstLine: Int = 1) {
        self.name = name
        self.code = code
        self.origin = origin
        self.firstLine = firstLine
    }
}

/// Bounds on what one call may take; defaults follow rudder-transformer / isolated-vm.
public struct JavaScriptLimits: Sendable, Hashable {
    /// Per call (rudder-transformer's IVM_EXECUTION_TIMEOUT is 4 s).
    public var timeout: Duration
    /// Bytes the engine may hold per context group (isolated-vm's 128 MiB).
    public var memoryLimit: Int
    /// Bytes of JSON one call may return.
    public var maxOutputBytes: Int
    /// `log()` lines kept per call; each line is cut to 1,000 characters.
    public var maxLogLines: Int

    public init(
        timeout: Duration = .seconds(4),
        memoryLimit: Int = 128 << 20,
        maxOutputBytes: Int = 8 << 20,
        maxLogLines: Int = 100
    ) {
        self.timeout = timeout
        self.memoryLimit = memoryLimit
        self.maxOutputBytes = maxOutputBytes
        self.maxLogLines = maxLogLines
    }
}

/// A syntax or load error, with the place in the user's file.
public struct JavaScriptSourceError: Error, Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var origin: String
    /// In `origin`'s numbering (firstLine-based).
    public var line: Int
    /// 1-based; JSC gives no column for syntax errors, so it is located from the token the message names.
    public var column: Int
    public var message: String

    public init(name: String, origin: String, line: Int, column: Int, message: String) {
        self.name = name
        self.origin = origin
        self.line = line
        self.column = column
        self.message = message
    }

    public var description: String { "\(origin):\(line):\(column): \(message)" }
}

/// What one input event became.
public enum JavaScriptOutcome: Sendable, Hashable {
    /// JSON object bytes, one per returned event.
    case events([[UInt8]])
    /// The function returned null/undefined (or transformEvent returned []).
    case dropped
    /// A throw, a timeout, the memory limit or a bad return value, as a message.
    case failed(String)
}

public struct JavaScriptResult: Sendable, Hashable {
    public var outcome: JavaScriptOutcome
    /// `log(...)` lines made while handling this input.
    public var logs: [String]

    public init(outcome: JavaScriptOutcome, logs: [String] = []) {
        self.outcome = outcome
        self.logs = logs
    }
}
