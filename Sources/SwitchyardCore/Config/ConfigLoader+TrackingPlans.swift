import Foundation

extension ConfigLoader {
    /// The largest tracking plan file read.
    static let maxPlanBytes = 4 << 20

    /// Reads `trackingPlans:` (their events inline or from their files, relative to the
    /// configuration's folder), compiles every schema, and checks the names sources and plans use.
    func readTrackingPlans(
        _ config: SwitchyardConfig,
        file: String,
        root: ConfigNode,
        problems: inout [ConfigProblem]
    ) -> [String: TrackingPlan] {
        func at(_ keys: Any...) -> SourceLocation { root.location(nearest: keys) }
        let folder = (file as NSString).deletingLastPathComponent
        let destinations = Set(config.destinations.map(\.name))
        var plans: [String: TrackingPlan] = [:]
        for (n, entry) in config.trackingPlans.enumerated() {
            var entry = entry
            if entry.name.trimmingWhitespace().isEmpty {
                problems.append(.init(location: at("trackingPlans", n, "name"), message: "a tracking plan needs a name"))
            } else if plans[entry.name] != nil {
                problems.append(
                    .init(location: at("trackingPlans", n, "name"), message: "tracking plan \"\(entry.name)\" is defined twice")
                )
            }
            if let target = entry.forwardViolationsTo, !destinations.contains(target) {
                problems.append(
                    .init(
                        location: at("trackingPlans", n, "forwardViolationsTo"),
                        message:
                            "tracking plan \"\(entry.name)\" forwards violations to unknown destination \"\(target)\"\(didYouMean(target, destinations))"
                    )
                )
            }
            var eventsLocation = at("trackingPlans", n, "events")
            if let path = entry.file {
                guard entry.events.isEmpty else {
                    problems.append(
                        .init(
                            location: at("trackingPlans", n),
                            message: "tracking plan \"\(entry.name)\" takes its events inline (events:) or from a file (file:): one of them"
                        )
                    )
                    continue
                }
                let full = path.hasPrefix("/") || folder.isEmpty ? path : folder + "/" + path
                guard let events = readPlanFile(full, problems: &problems) else { continue }
                entry.events = events
                eventsLocation = SourceLocation(file: full, line: 1, column: 1)
            }
            do {
                plans[entry.name] = try TrackingPlan(entry)
            } catch {
                let location = error.location ?? (entry.file == nil ? at("trackingPlans", n, "events", error.event) : eventsLocation)
                problems.append(.init(location: location, message: "tracking plan \"\(entry.name)\": \(error)"))
            }
        }
        // Names as written, so a plan that failed to decode (already reported) is not also unknown.
        var written = Set(config.trackingPlans.map(\.name))
        if case .mapping(let entries, _) = root, case .sequence(let items, _)? = entries.first(where: { $0.key == "trackingPlans" })?.value
        {
            for case .mapping(let fields, _) in items {
                if case .scalar(let name)? = fields.first(where: { $0.key == "name" })?.value { written.insert(name.value) }
            }
        }
        for (n, source) in config.sources.enumerated() {
            guard let name = source.trackingPlan, !written.contains(name) else { continue }
            problems.append(
                .init(
                    location: at("sources", n, "trackingPlan"),
                    message:
                        "source \"\(source.name)\" uses unknown tracking plan \"\(name)\"\(didYouMean(name, config.trackingPlans.map(\.name)))"
                )
            )
        }
        return plans
    }

    /// A plan file: YAML or JSON holding `events:` (RudderStack's export has `name`, `version`
    /// and `events` with `eventType` and `rules`).
    private func readPlanFile(_ path: String, problems: inout [ConfigProblem]) -> [PlannedEventConfig]? {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= Self.maxPlanBytes, let text = Self.readFile(path) else {
            let why = size > Self.maxPlanBytes ? "is larger than 4 MiB" : "cannot be read as UTF-8 text (does it exist?)"
            problems.append(.init(location: nil, file: path, message: "tracking plan file \(path) \(why)"))
            return nil
        }
        // Plans are data: no ${VAR} interpolation.
        guard let node = ConfigParser(file: path, environment: [:]).parse(text, problems: &problems) else { return nil }
        struct PlanFile: Decodable {
            var events: [PlannedEventConfig]
            enum CodingKeys: String, CodingKey { case events, name, version, id, description, workspaceId, createdAt, updatedAt }
            init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: CodingKeys.self)
                events = try c.decodeEach(PlannedEventConfig.self, forKey: .events, decoder: decoder)
                // The rest of RudderStack's export: read, so it is not an unknown key, and unused.
                for key in [CodingKeys.name, .version, .id, .description, .workspaceId, .createdAt, .updatedAt] {
                    _ = try c.decodeIfPresent(ConfigJSON.self, forKey: key)
                }
            }
        }
        let decoder = ConfigDecoder()
        let decoded = decoder.decode(PlanFile.self, from: node)
        problems += decoder.problems + decoder.unknownKeyProblems()
        return decoder.problems.isEmpty ? decoded?.events : nil
    }
}
