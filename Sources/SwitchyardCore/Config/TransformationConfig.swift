/// One entry of `transformations:` (user code a destination runs on each event before its
/// entry is made) or of `libraries:` (code transformations `import`): its name and its code,
/// inline or in a file.
public struct TransformationConfig: Codable, Sendable, Hashable {
    public var name: String
    public var code: String?
    /// Read relative to the configuration file's folder.
    public var file: String?
    /// How long one call may run before the engine stops it; rudder-transformer's 4 s.
    public var timeout: ConfigDuration = .seconds(4)
    /// The engine heap one call may grow to before it is stopped; isolated-vm's 128 MiB in rudder-transformer.
    public var memoryLimit: Int = 128 * 1024 * 1024
    /// Where inline `code` sits in the configuration file, so errors point into it.
    public var codeLocation: SourceLocation?

    public init(name: String, code: String? = nil, file: String? = nil) {
        self.name = name
        self.code = code
        self.file = file
    }

    enum CodingKeys: String, CodingKey { case name, code, file, timeout, memoryLimit }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        code = try c.decodeIfPresent(String.self, forKey: .code)
        if code != nil { codeLocation = try c.superDecoder(forKey: .code).configNode?.location }
        file = try c.decodeIfPresent(String.self, forKey: .file)
        timeout = try c.decodeIfPresent(ConfigDuration.self, forKey: .timeout) ?? timeout
        memoryLimit = try c.decodeIfPresent(Int.self, forKey: .memoryLimit) ?? memoryLimit
    }

    /// The dump (`validate --print`) names the code's file or says it is inline; the code itself
    /// is not configuration to review there.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(name, forKey: .name)
        if let file { try c.encode(file, forKey: .file) } else { try c.encode("(inline, \(code?.utf8.count ?? 0) bytes)", forKey: .code) }
        try c.encode(timeout, forKey: .timeout)
        try c.encode(memoryLimit, forKey: .memoryLimit)
    }
}

/// A transformation's or library's code as the engine gets it, with where it came from so that
/// an error's line and column point into the user's file.
public struct TransformationSource: Sendable, Hashable {
    public var name: String
    public var code: String
    /// The file the code is in: its own file, or the configuration file for inline code.
    public var origin: String
    /// The line of `origin` the code starts on.
    public var firstLine: Int
    public var timeout: ConfigDuration
    public var memoryLimit: Int

    public init(
        name: String,
        code: String,
        origin: String,
        firstLine: Int = 1,
        timeout: ConfigDuration = .seconds(4),
        memoryLimit: Int = 128 << 20
    ) {
        self.name = name
        self.code = code
        self.origin = origin
        self.firstLine = firstLine
        self.timeout = timeout
        self.memoryLimit = memoryLimit
    }
}

/// Every transformation and library of a configuration, read and ready for an engine.
public struct TransformationScripts: Sendable, Hashable {
    public var transformations: [TransformationSource] = []
    public var libraries: [TransformationSource] = []

    public init(transformations: [TransformationSource] = [], libraries: [TransformationSource] = []) {
        self.transformations = transformations
        self.libraries = libraries
    }

    /// The sources a destination runs, in its order.
    public func chain(_ names: [String]) -> [TransformationSource] {
        names.compactMap { name in transformations.first { $0.name == name } }
    }
}
