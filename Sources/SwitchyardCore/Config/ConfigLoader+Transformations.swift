import Foundation

extension ConfigLoader {
    /// The largest transformation or library file read: code, not data.
    static let maxScriptBytes = 1 << 20

    /// Reads `transformations:` and `libraries:` (inline or from their files, relative to the
    /// configuration's folder) and checks names, limits and the destinations' references.
    /// Whether the code compiles is the engine's to say (`validate`, and `serve` at start).
    func readScripts(_ config: SwitchyardConfig, file: String, root: ConfigNode, problems: inout [ConfigProblem]) -> TransformationScripts {
        func at(_ keys: Any...) -> SourceLocation { root.location(nearest: keys) }
        let folder = (file as NSString).deletingLastPathComponent
        func read(_ section: String, _ entries: [TransformationConfig]) -> [TransformationSource] {
            var names: Set<String> = []
            var sources: [TransformationSource] = []
            for (n, entry) in entries.enumerated() {
                let what = section == "transformations" ? "transformation" : "library"
                if entry.name.trimmingWhitespace().isEmpty {
                    problems.append(.init(location: at(section, n, "name"), message: "a \(what) needs a name"))
                }
                if !names.insert(entry.name).inserted {
                    problems.append(.init(location: at(section, n, "name"), message: "\(what) \"\(entry.name)\" is defined twice"))
                }
                if !(10...600_000).contains(entry.timeout.milliseconds) {
                    problems.append(
                        .init(
                            location: at(section, n, "timeout"),
                            message: "\(what) \"\(entry.name)\": timeout must be between 10ms and 10m"
                        )
                    )
                }
                if !((8 << 20)...(4 << 30)).contains(entry.memoryLimit) {
                    problems.append(
                        .init(
                            location: at(section, n, "memoryLimit"),
                            message: "\(what) \"\(entry.name)\": memoryLimit must be between 8388608 (8 MiB) and 4294967296 (4 GiB) bytes"
                        )
                    )
                }
                switch (entry.code, entry.file) {
                case (let code?, nil):
                    // A block scalar (`code: |`) starts on the line after its key.
                    let line = (entry.codeLocation?.line ?? 1) + (code.contains("\n") ? 1 : 0)
                    sources.append(
                        TransformationSource(
                            name: entry.name,
                            code: code,
                            origin: file,
                            firstLine: line,
                            timeout: entry.timeout,
                            memoryLimit: entry.memoryLimit
                        )
                    )
                case (nil, let path?):
                    let full = path.hasPrefix("/") || folder.isEmpty ? path : folder + "/" + path
                    let size = (try? FileManager.default.attributesOfItem(atPath: full)[.size] as? Int) ?? 0
                    guard size <= Self.maxScriptBytes, let code = Self.readFile(full) else {
                        let why = size > Self.maxScriptBytes ? "is larger than 1 MiB" : "cannot be read as UTF-8 text (does it exist?)"
                        problems.append(.init(location: at(section, n, "file"), message: "\(what) \"\(entry.name)\": \(full) \(why)"))
                        continue
                    }
                    sources.append(
                        TransformationSource(
                            name: entry.name,
                            code: code,
                            origin: full,
                            timeout: entry.timeout,
                            memoryLimit: entry.memoryLimit
                        )
                    )
                default:
                    problems.append(
                        .init(
                            location: at(section, n),
                            message: "\(what) \"\(entry.name)\" takes its code inline (code:) or from a file (file:): one of them"
                        )
                    )
                }
            }
            return sources
        }
        let scripts = TransformationScripts(
            transformations: read("transformations", config.transformations),
            libraries: read("libraries", config.libraries)
        )
        let defined = Set(config.transformations.map(\.name))
        for (n, destination) in config.destinations.enumerated() {
            for (k, name) in destination.transformations.enumerated() where !defined.contains(name) {
                problems.append(
                    .init(
                        location: at("destinations", n, "transformations", k),
                        message: "destination \"\(destination.name)\" runs unknown transformation \"\(name)\"\(didYouMean(name, defined))"
                    )
                )
            }
        }
        return scripts
    }
}
