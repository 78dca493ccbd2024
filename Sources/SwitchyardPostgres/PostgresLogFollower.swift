import Foundation
import Logging
import NIOCore
import PostgresNIO
import SwitchyardCore

/// Log positions, and how each node learns of every node's commits.
extension PostgresJobStore {
    /// The first log position of the calling transaction, as a query for a `WITH` clause: its
    /// id shifted past the room for its rows (`base`). The rows' own numbers are added to it.
    static let positionBase = "SELECT pg_current_xact_id()::text::bigint << \(positionBits) AS base"

    /// Where a transaction's log records start among its positions; its events take those below.
    static let recordOffset: Int64 = 1 << (positionBits - 1)

    /// Room for this many rows per transaction in a log position; batches stay well below.
    static let positionBits: Int64 = 20

    /// Positions below this belong to transactions that are all over: no row will ever be
    /// committed below it again, so readers may go up to it without skipping a late commit.
    static func horizon(_ connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        for xmin in try await connection.run("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint", logger: logger)
            .decode(Int64.self)
        {
            return xmin << positionBits
        }
        throw StoreError.unavailable("the database gave no snapshot")
    }

    /// Wakes this node's workers and live readers when another node commits; reconnects on loss.
    func listen() async {
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.channel) { notifications in
                        for try await notification in notifications {
                            // Every commit writes log records (an event is its `received` record).
                            if notification.payload == "jobs" { self.gate.newJobs.signal() }
                            self.logWritten.signal()
                        }
                    }
                }
            } catch {
                if Task.isCancelled { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// Reads every node's committed records in position order and hands them to live readers.
    func followLog() async {
        while !Task.isCancelled {
            let seen = logWritten.generation
            do {
                // With nobody watching, the tail only moves to the horizon: reading every node's
                // records back would cost each node a read per event for nothing. A reader that
                // subscribes later resumes from the store itself (`records(after:)`).
                if !liveLog.hasSubscribers {
                    let logger = self.logger
                    let horizon = try await Self.within(Self.readDeadline, client) { try await Self.horizon($0, logger: logger) }
                    moveTail { max($0, horizon - 1) }
                }
                while liveLog.hasSubscribers {
                    let after = moveTail { $0 }
                    let page = try await records(after: after, filter: LogFilter(), limit: 1000)
                    guard let last = page.last else { break }
                    liveLog.publish(page)
                    moveTail { _ in last.id }
                    if page.count < 1000 { break }
                }
            } catch {
                if Task.isCancelled { return }
            }
            await logWritten.wait(since: seen, timeout: .milliseconds(250))
        }
    }

    /// Moves the live readers' tail (only once started) and returns where it is.
    @discardableResult
    private func moveTail(_ move: (Int64) -> Int64) -> Int64 {
        state.withLockedValue { state in
            guard case .started(let tail) = state else { return 0 }
            let moved = move(tail)
            state = .started(tail: moved)
            return moved
        }
    }
}
