import Foundation
import NIOPosix
import SwitchyardCore

/// An archive in a local directory. A file is written beside its final name, flushed to disk,
/// renamed into place and its directory flushed, so a crash leaves either the whole file or none.
public struct LocalArchiveBucket: ArchiveBucket {
    public let root: URL

    public init(path: String) {
        root = URL(fileURLWithPath: path, isDirectory: true)
    }

    public var location: String { root.path }

    public func put(_ key: String, _ bytes: [UInt8], contentType: String) async throws {
        let target = try url(key)
        try await NIOThreadPool.singleton.runIfActive {
            let directory = target.deletingLastPathComponent()
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let temporary = directory.appendingPathComponent(".\(target.lastPathComponent).\(UInt64.random(in: 0...UInt64.max)).tmp")
            try Self.write(bytes, to: temporary.path)
            guard rename(temporary.path, target.path) == 0 else {
                let code = errno
                unlink(temporary.path)
                throw ArchiveBucketError.io("cannot rename into \(target.path): \(String(cString: strerror(code)))")
            }
            try Self.sync(directory: directory.path)
        }
    }

    public func get(_ key: String) async throws -> [UInt8]? {
        let target = try url(key)
        return try await NIOThreadPool.singleton.runIfActive {
            guard FileManager.default.fileExists(atPath: target.path) else { return nil }
            return Array(try Data(contentsOf: target))
        }
    }

    public func list(under prefix: String) async throws -> [String] {
        let root = self.root
        return try await NIOThreadPool.singleton.runIfActive {
            guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
            var keys: [String] = []
            let base = root.standardizedFileURL.path
            for case let file as URL in walker {
                guard (try? file.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
                let path = file.standardizedFileURL.path
                guard path.hasPrefix(base + "/") else { continue }
                let key = String(path.dropFirst(base.count + 1))
                if key.hasPrefix(prefix), !file.lastPathComponent.hasPrefix(".") { keys.append(key) }
            }
            return keys
        }
    }

    public func delete(_ key: String) async throws {
        let target = try url(key)
        try await NIOThreadPool.singleton.runIfActive {
            if unlink(target.path) != 0, errno != ENOENT {
                throw ArchiveBucketError.io("cannot delete \(target.path): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// The file of a key; keys are the archive's own, but one with `..` is refused all the same.
    func url(_ key: String) throws -> URL {
        guard !key.isEmpty, !key.hasPrefix("/"), !key.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
            throw ArchiveBucketError.io("\"\(key)\" is not an archive key")
        }
        return root.appendingPathComponent(key)
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ArchiveBucketError.io("cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress! + written, bytes.count - written) }
            guard n > 0 else { throw ArchiveBucketError.io("cannot write \(path): \(String(cString: strerror(errno)))") }
            written += n
        }
        guard fsync(fd) == 0 else { throw ArchiveBucketError.io("cannot flush \(path): \(String(cString: strerror(errno)))") }
    }

    static func sync(directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw ArchiveBucketError.io("cannot open \(directory): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw ArchiveBucketError.io("cannot flush \(directory): \(String(cString: strerror(errno)))") }
    }
}

/// Why the archive could not be read or written.
public enum ArchiveBucketError: Error, CustomStringConvertible {
    case io(String)
    /// The store's answer: status, S3's error code and message.
    case refused(status: Int, code: String, message: String)
    case unreachable(String)

    public var description: String {
        switch self {
        case .io(let message): return message
        case .refused(let status, let code, let message): return "S3 answered \(status) \(code): \(message)"
        case .unreachable(let reason): return "S3 cannot be reached: \(reason)"
        }
    }
}
