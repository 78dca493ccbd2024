import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Every database call under a deadline, its failure a `StoreError` that says what is wrong.
extension PostgresJobStore {
    /// Every read and write outside the commit loops: waits a little for the database to be
    /// reached at start (workers and readers start with the server), and turns driver errors
    /// into `StoreError`s that say what is wrong without the connection's details.
    func guarded<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        if !isStarted { try await waitUntilStarted(timeout: .seconds(5)) }
        do {
            return try await Self.within(Self.readDeadline, body)
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
    func transaction<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws(StoreError) -> T {
        do {
            let client = self.client
            let logger = self.logger
            return try await Self.within(Self.writeDeadline) { try await client.withTransaction(logger: logger) { try await body($0) } }
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

    /// Runs `body`, or throws `StoreError.unavailable` once `deadline` passes. The body is
    /// cancelled then but not waited for: while the database is unreachable the pool may hold a
    /// connection request past cancellation, and the caller (a client waiting for its answer)
    /// must get its 503 now. The abandoned body ends when the pool gives up or the database
    /// answers. A write cut off this way may still commit: the client, told 503, sends it again,
    /// which at-least-once delivery allows; nothing acknowledged is lost.
    static func within<T: Sendable>(_ deadline: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let outcome = NIOLockedValueBox<CheckedContinuation<T, any Error>?>(nil)
        let work = NIOLockedValueBox<Task<Void, Never>?>(nil)
        let timer = NIOLockedValueBox<Task<Void, Never>?>(nil)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                outcome.withLockedValue { $0 = continuation }
                @Sendable func finish(_ result: Result<T, any Error>) {
                    outcome.withLockedValue { $0.take() }?.resume(with: result)
                }
                timer.withLockedValue {
                    $0 = Task {
                        guard (try? await Task.sleep(for: deadline)) != nil else { return }
                        finish(.failure(StoreError.unavailable("the database did not answer within \(deadline)")))
                        work.withLockedValue { $0 }?.cancel()
                    }
                }
                work.withLockedValue {
                    $0 = Task {
                        do { finish(.success(try await body())) } catch { finish(.failure(error)) }
                        timer.withLockedValue { $0 }?.cancel()
                    }
                }
            }
        } onCancel: {
            work.withLockedValue { $0 }?.cancel()
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
