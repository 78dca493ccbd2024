import NIOSSL
import PostgresNIO
import SwitchyardCore

extension PostgresStorageConfig {
    /// The client's configuration; the password comes from `password`, never from a printed URL.
    func clientConfiguration() throws -> PostgresClient.Configuration {
        let (url, sslContext) = try server()
        let tls: PostgresClient.Configuration.TLS
        switch url.sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(sslContext)
        default: tls = .prefer(sslContext)
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

    /// The same server for one connection of its own: the store opens one when the pool cannot
    /// reach the database, because the pool only retries and keeps the reason to itself.
    func connectionConfiguration() throws -> PostgresConnection.Configuration {
        let (url, sslContext) = try server()
        let tls: PostgresConnection.Configuration.TLS
        switch url.sslMode {
        case "disable": tls = .disable
        case "require": tls = .require(try NIOSSLContext(configuration: sslContext))
        default: tls = .prefer(try NIOSSLContext(configuration: sslContext))
        }
        var configuration = PostgresConnection.Configuration(
            host: url.host,
            port: url.port,
            username: url.user,
            password: password?.reveal(),
            database: url.database,
            tls: tls
        )
        configuration.options.connectTimeout = .seconds(2)
        return configuration
    }

    /// The URL's parts, and the TLS client settings both configurations use.
    private func server() throws -> (PostgresURL, TLSConfiguration) {
        guard let parsed = PostgresURL(url) else { throw StoreError.unavailable("storage.postgres.url is not a postgres:// URL") }
        return (parsed, .makeClientConfiguration())
    }
}
