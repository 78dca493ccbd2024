import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Every database call under a deadline, its failure a `StoreError` that says what is wrong.
extension PostgresJobStore {
    /// Every read and write outside the commit loops: waits a little for the database to be
    /// reached at start (workers and readers start with the server), and turns driver errors
    /// into `StoreError`s that say what is wrong without the connection's details.
    func guarded<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        if !isStarted { try await waitUntilStarted(timeout: .seconds(5)) }
        do {
            return try await Self.within(Self.readDeadline, client, body)
        } catch let error as StoreError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw StoreError.unavailable(Self.describe(error))
        }
    }

    /// A transaction whose failure is a `StoreError` with a reason a person can act on (never the
    /// connection's password).
    func transaction<T: Sendable>(
        deadline: Duration = writeDeadline,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws(StoreError) -> T {
        do {
            let logger = self.logger
            return try await Self.within(deadline, client) { try await $0.runTransaction(logger: logger, body) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw .unavailable(Self.describe(error))
        }
    }

    /// How long a write may wait for the database before the client is told 503: the pool
    /// keeps trying to connect while the database is down, and a request must not hang on it.
    static let writeDeadline: Duration = .seconds(3)
    static let readDeadline: Duration = .seconds(10)
    /// An operator's bulk work that no client's request waits on: a regulation's up to 100,000
    /// ids written or read back at once, which a busy database may take well over 10 s for.
    static let bulkDeadline: Duration = .seconds(60)

    /// Runs `body` on a connection of the pool, or throws `StoreError.unavailable` once
    /// `deadline` passes, cancelling it. Both ways postgres-nio can hold a call end on that
    /// cancellation: a pending lease fails (the pool honours it), and a statement already sent
    /// fails when its connection is closed (a query itself ignores cancellation, and a database
    /// that stopped answering, SIGSTOPped or behind a half-open socket, would hold it). Every
    /// statement in `body` goes through `run`, which never writes to a closed connection. A
    /// write cut off this way may still commit: the client, told 503, sends it again, which
    /// at-least-once delivery allows; nothing acknowledged is lost.
    static func within<T: Sendable>(
        _ deadline: Duration,
        _ client: PostgresClient,
        _ body: @escaping @Sendable (PostgresConnection) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await client.withConnection { connection in
                    try await withTaskCancellationHandler {
                        try await body(connection)
                    } onCancel: {
                        connection.close().whenComplete { _ in }
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: deadline)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw StoreError.unavailable("the database did not answer within \(deadline)")
            }
            return value
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? StoreError { return error.description }
        if let error = error as? PostgresTransactionError {
            if let inner = error.closureError ?? error.commitError ?? error.beginError { return describe(inner) }
        }
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let code = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return "the database refused: \(message)\(code)"
            }
            switch error.code {
            case .connectionError, .serverClosedConnection, .clientClosedConnection:
                return "the database cannot be reached" + (error.underlying.map { " (\(connectionFailure($0)))" } ?? "")
            case .authMechanismRequiresPassword:
                return "the database asks for a password and none is configured (storage.postgres.password)"
            case .unsupportedAuthMechanism:
                return "the database asks for an authentication method this client does not support"
            case .sslUnsupported:
                return "the database does not accept TLS (add sslmode=disable to storage.postgres.url, or turn TLS on at the server)"
            default:
                return "database error: \(error.code)"
            }
        }
        if error is CancellationError { return "cancelled" }
        return "the database cannot be reached (\(connectionFailure(error)))"
    }

    /// Why a connection failed, in the operating system's words ("Connection refused"), without
    /// the addresses and types a driver error prints.
    static func connectionFailure(_ error: any Error) -> String {
        if let error = error as? NIOConnectionError, let first = error.connectionErrors.first {
            return connectionFailure(first.error)
        }
        if let error = error as? NIOConnectionError, let dns = error.dnsAError ?? error.dnsAAAAError {
            return "the host name was not found (\(dns))"
        }
        if let error = error as? IOError { return String(cString: strerror(error.errnoCode)) }
        if let error = error as? ChannelError, case .connectTimeout(let timeout) = error {
            return "no connection within \(timeout)"
        }
        if let error = error as? PSQLError, let underlying = error.underlying { return connectionFailure(underlying) }
        return "\(type(of: error))"
    }
}

extension PostgresConnection {
    /// Sends a statement and collects its rows. The check that the connection is open and the
    /// write happen in one turn of its event loop: postgres-nio 1.33.2 drops the answer of a
    /// statement written to a connection that has just closed, and its caller would wait
    /// forever (the pool can lease a connection for a moment after the server closed it).
    @discardableResult
    func run(_ query: PostgresQuery, logger: Logger) async throws -> PostgresQueryResult {
        try await eventLoop.flatSubmit { () -> EventLoopFuture<PostgresQueryResult> in
            guard !self.isClosed else { return self.eventLoop.makeFailedFuture(StoreError.unavailable("the connection closed")) }
            return self.query(query, logger: logger)
        }.get()
    }

    /// BEGIN, `body`, COMMIT (or ROLLBACK when `body` throws), every statement through `run`.
    func runTransaction<T: Sendable>(logger: Logger, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        _ = try await run("BEGIN", logger: logger)
        do {
            let value = try await body(self)
            _ = try await run("COMMIT", logger: logger)
            return value
        } catch {
            _ = try? await run("ROLLBACK", logger: logger)
            throw error
        }
    }
}

extension PostgresQueryResult {
    /// Every row decoded, as a streamed result's `decode` does.
    func decode<Column: PostgresDecodable>(_ column: Column.Type) throws -> [Column] {
        try map { try $0.decode(column) }
    }

    func decode<each Column: PostgresDecodable>(_ columns: (repeat each Column).Type) throws -> [(repeat each Column)] {
        try map { try $0.decode(columns) }
    }
}
