import Foundation

/// `storage.postgres`: where the shared database is. The password is a secret (never printed);
/// give it apart from the URL, e.g. `password: ${PGPASSWORD:-}`.
public struct PostgresStorageConfig: Codable, Sendable {
    /// `postgres://USER@HOST:PORT/DATABASE`, optionally `?sslmode=disable|prefer|require`.
    public var url: String
    public var password: Secret?
    /// Connections this node opens at most (one more is kept for LISTEN).
    public var maxConnections: Int = 10

    public init(url: String, password: Secret? = nil) {
        self.url = url
        self.password = password
    }

    enum CodingKeys: String, CodingKey { case url, password, maxConnections }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        url = try c.decode(String.self, forKey: .url)
        password = try c.decodeIfPresent(Secret.self, forKey: .password)
        if password?.isEmpty == true { password = nil }
        maxConnections = try c.decodeIfPresent(Int.self, forKey: .maxConnections) ?? maxConnections
        guard let parts = PostgresURL(url) else {
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message:
                    "storage.postgres.url must look like postgres://USER@HOST:5432/DATABASE (without the password; give it as storage.postgres.password)"
            )
        }
        if parts.password != nil, password == nil {
            // Kept working, but the URL is printed in places a password must not be.
            password = parts.password.map { Secret($0) }
        }
        url = parts.redacted
        guard (1...200).contains(maxConnections) else {
            throw ConfigProblem(
                location: decoder.configNode?.location,
                message: "storage.postgres.maxConnections must be between 1 and 200"
            )
        }
    }
}

/// The parts of a `postgres://` URL.
public struct PostgresURL: Sendable, Hashable {
    public var user: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var sslMode: String

    public init?(_ text: String) {
        guard let c = URLComponents(string: text), c.scheme == "postgres" || c.scheme == "postgresql",
            let host = c.host, !host.isEmpty, let user = c.user, !user.isEmpty
        else { return nil }
        self.user = user.removingPercentEncoding ?? user
        self.password = c.password.map { $0.removingPercentEncoding ?? $0 }
        self.host = host
        self.port = c.port ?? 5432
        let path = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        self.database = path.isEmpty ? self.user : path
        let mode = c.queryItems?.first { $0.name == "sslmode" }?.value ?? "prefer"
        guard ["disable", "prefer", "require"].contains(mode) else { return nil }
        self.sslMode = mode
    }

    /// The URL without its password, safe to print.
    public var redacted: String { "postgres://\(user)@\(host):\(port)/\(database)\(sslMode == "prefer" ? "" : "?sslmode=\(sslMode)")" }
}
