import Foundation
import Logging

/// The same lines as swift-log's `StreamLogHandler` on stderr, but metadata is formatted when a
/// line is written instead of each time it is set: Hummingbird sets a request id on every
/// request's logger, and the stream handler formatted all of its metadata again each time (about
/// 3% of a request's CPU, for lines that are almost never written).
struct LineLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    private static let output = NSLock()

    init(label: String, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.metadataProvider = metadataProvider
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { _, new in new } }
        if let explicit = event.metadata { all.merge(explicit) { _, new in new } }
        if let error = event.error {
            all["error.message"] = "\(error)"
            all["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        let pretty = all.isEmpty ? "" : " " + all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "\(Self.timestamp()) \(event.level) \(label):\(pretty) [\(event.source)] \(event.message)\n"
        Self.output.lock()
        FileHandle.standardError.write(Data(text.utf8))
        Self.output.unlock()
    }

    private static func timestamp() -> String {
        var buffer = [Int8](repeating: 0, count: 255)
        var now = time(nil)
        var local = tm()
        localtime_r(&now, &local)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}
