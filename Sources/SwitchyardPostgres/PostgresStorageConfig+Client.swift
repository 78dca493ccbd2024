import NIOSSL
import PostgresNIO
import SwitchyardCore

extension PostgresStorageConfig {
    /// The client's configuration; the password comes from `password`, never from a printed URL.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        guard let url = PostgresURL(url) else { throw StoreError.unavailable("storage.postgres.url is not a postgres:// URL") }
        let tls: PostgresClient.Configuration.TLS
        switch url.sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(.makeClientConfiguration())
        default: tls = .prefer(.makeClientConfiguration())
        }
        return PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: password?.reveal(),
            database: url.database,
            tls: tls
        )
    }
}
