#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds credentials the way the AWS SDKs do, minus the network providers: explicit values, then
/// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, then the shared files
/// (`~/.aws/credentials`, then `~/.aws/config`) for `AWS_PROFILE` or `default`.
public struct CredentialChain: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String]) {
        self.environment = environment
    }

    public struct Resolved: Sendable {
        public var credentials: AWSCredentials
        /// Where they came from, for the start-up log (never the values).
        public var origin: String
    }

    public func resolve(explicit: AWSCredentials?) -> Resolved? {
        if let explicit { return Resolved(credentials: explicit, origin: "configuration") }
        if let id = nonEmpty(environment["AWS_ACCESS_KEY_ID"]), let secret = nonEmpty(environment["AWS_SECRET_ACCESS_KEY"]) {
            return Resolved(credentials: AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: nonEmpty(environment["AWS_SESSION_TOKEN"])), origin: "environment")
        }
        let profile = nonEmpty(environment["AWS_PROFILE"]) ?? nonEmpty(environment["AWS_DEFAULT_PROFILE"]) ?? "default"
        let home = nonEmpty(environment["HOME"]) ?? "~"
        let credentialsFile = nonEmpty(environment["AWS_SHARED_CREDENTIALS_FILE"]) ?? "\(home)/.aws/credentials"
        let configFile = nonEmpty(environment["AWS_CONFIG_FILE"]) ?? "\(home)/.aws/config"
        if let text = Self.read(credentialsFile), let found = Self.credentials(in: text, section: profile) {
            return Resolved(credentials: found, origin: "\(credentialsFile) [\(profile)]")
        }
        let configSection = profile == "default" ? "default" : "profile \(profile)"
        if let text = Self.read(configFile), let found = Self.credentials(in: text, section: configSection) {
            return Resolved(credentials: found, origin: "\(configFile) [\(configSection)]")
        }
        return nil
    }

    func nonEmpty(_ s: String?) -> String? {
        guard let s, !s.isEmpty else { return nil }
        return s
    }

    /// Reads `aws_access_key_id`, `aws_secret_access_key` and `aws_session_token` from one INI section.
    static func credentials(in text: String, section wanted: String) -> AWSCredentials? {
        var current: String?
        var values: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters()
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters()
                continue
            }
            guard current == wanted, let eq = line.firstIndex(of: "=") else { continue }
            values[line[..<eq].trimmingCharacters().lowercased()] = line[line.index(after: eq)...].trimmingCharacters()
        }
        guard let id = values["aws_access_key_id"], !id.isEmpty, let secret = values["aws_secret_access_key"], !secret.isEmpty else { return nil }
        let token = values["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while bytes.count < 1 << 20 {
            let n = fread(&chunk, 1, chunk.count, file)
            if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
            if n < chunk.count { break }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Where to send requests for a service, as the AWS SDKs decide it: an explicit endpoint, then
/// `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then the public regional endpoint.
public enum EndpointResolver {
    public static func endpoint(explicit: String?, serviceEnvName: String, hostPrefix: String, region: String, environment: [String: String]) -> String {
        if let explicit, !explicit.isEmpty { return explicit }
        if let url = environment["AWS_ENDPOINT_URL_\(serviceEnvName)"], !url.isEmpty { return url }
        if let url = environment["AWS_ENDPOINT_URL"], !url.isEmpty { return url }
        let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
        return "https://\(hostPrefix).\(region).\(suffix)"
    }
}

extension StringProtocol {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
