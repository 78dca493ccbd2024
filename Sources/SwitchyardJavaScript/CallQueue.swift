import Foundation

/// One `run` request waiting for a worker.
struct PoolCall: Sendable {
    var program: String
    var inputs: [(event: [UInt8], metadata: [UInt8])]
    var continuation: CheckedContinuation<[JavaScriptResult], Never>

    func fail(_ message: String) {
        continuation.resume(returning: inputs.map { _ in JavaScriptResult(outcome: .failed(message)) })
    }
}

/// The lock-protected queue the pool's threads take jobs from. Worker threads block in `next()`;
/// callers never block: `submit` only appends.
final class CallQueue: @unchecked Sendable {  // all state is guarded by `condition`
    static let shutDownMessage = "the JavaScript pool was shut down"
    private let condition = NSCondition()
    private var jobs: [PoolCall] = []
    private var head = 0
    private var closed = false

    /// False when the queue is closed (the caller then fails the job itself).
    func submit(_ job: PoolCall) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    /// The next job, or nil once closed; blocks the (dedicated) calling thread while empty.
    func next() -> PoolCall? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count, !closed { condition.wait() }
        guard head < jobs.count, !closed else { return nil }
        let job = jobs[head]
        head += 1
        if head > 64, head * 2 > jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }

    /// Stops accepting work and fails what no thread has taken yet.
    func close() {
        condition.lock()
        let pending = jobs[head...]
        jobs = []
        head = 0
        closed = true
        condition.broadcast()
        condition.unlock()
        for job in pending { job.fail(Self.shutDownMessage) }
    }
}

/// Lets `JavaScriptPool.init` wait until every thread has compiled its contexts.
final class StartupLatch: @unchecked Sendable {  // guarded by `condition`
    private let condition = NSCondition()
    private var remaining: Int
    private var errors: [JavaScriptSourceError] = []

    init(count: Int) { remaining = count }

    func report(_ error: JavaScriptSourceError?) {
        condition.lock()
        if let error { errors.append(error) }
        remaining -= 1
        condition.broadcast()
        condition.unlock()
    }

    /// The first error reported, after all threads have reported.
    func wait() -> JavaScriptSourceError? {
        condition.lock()
        defer { condition.unlock() }
        while remaining > 0 { condition.wait() }
        return errors.first
    }
}
