import Foundation
import SwitchyardJavaScript
import Testing

/// Scripts that try to take the worker: each must fail clearly and leave the pool serving.
/// One at a time: each burns a core until it is stopped, and the other suites share the machine.
@Suite(.serialized) struct HostileTests {
    static let pass = "if (event.probe) return event;\n"

    func hostile(_ body: String, limits: JavaScriptLimits = Fixture.fast) throws -> JavaScriptPool {
        try Fixture.pool("export function transformEvent(event) {\n" + Self.pass + body + "\n}", limits: limits)
    }

    @Test(.timeLimit(.minutes(1))) func infiniteLoopTimesOut() async throws {
        let pool = try hostile("while (true) {}")
        let start = ContinuousClock.now
        let r = await Fixture.one(pool)
        let took = ContinuousClock.now - start
        #expect(Fixture.failure(r.outcome) == "timed out after 0.2 s")
        // It cannot end before its limit; how long after depends on the machine, so not asserted.
        #expect(took >= .milliseconds(190), "\(took)")
        #expect(await Fixture.stillWorks(pool))
        #expect(Fixture.failure(await Fixture.one(pool).outcome) == "timed out after 0.2 s")  // again, on the rebuilt context
    }

    /// Promise jobs are stopped on time, whoever queued them, even while every core is busy: the
    /// engine's watchdog thread then runs late, which once let these run for many minutes.
    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            "export async function transformEvent(event) {\n" + pass + "await null; while (true) {}\n}",
            "export async function transformEvent(event) {\n" + pass + "let n = 0; while (true) { await null; n++; }\n}",
            // Started, not returned: its jobs would run after the call.
            "export function transformEvent(event) {\n" + pass + "(async () => { while (true) await null; })(); return event;\n}",
            // Queued, then a synchronous loop: the jobs are left behind when the loop is stopped.
            "export function transformEvent(event) {\n" + pass
                + "for (let k = 0; k < 5; k++) (async () => { while (true) await null; })(); while (true) {}\n}",
            // Queued while the result is turned into JSON.
            "export function transformEvent(event) {\n" + pass
                + "return { toJSON() { (async () => { while (true) await null; })(); return { a: 1 }; } };\n}",
        ]
    )
    func promiseJobsAreStopped(_ code: String) async throws {
        let pool = try Fixture.pool(code)
        let results = await Fixture.whileCoresAreBusy {
            [await Fixture.one(pool), await Fixture.one(pool)]
        }
        for r in results { #expect(Fixture.failure(r.outcome) == "timed out after 0.2 s", "\(code)") }
        #expect(await Fixture.stillWorks(pool))
    }

    @Test(.timeLimit(.minutes(1))) func forkingJobsAreStopped() async throws {
        let pool = try hostile("const go = async () => { await null; go(); go(); }; go(); return event;")
        let message = try #require(Fixture.failure(await Fixture.one(pool).outcome))
        #expect(message == "timed out after 0.2 s" || message.contains("MiB"), "\(message)")
        #expect(await Fixture.stillWorks(pool))
    }

    @Test(.timeLimit(.minutes(1))) func deepRecursionIsARangeError() async throws {
        // Reaching the stack's limit takes milliseconds; the roomy deadline is for a loaded machine.
        let pool = try hostile("function f() { return f() + 1; }\nreturn f();", limits: JavaScriptLimits(timeout: .seconds(10)))
        let message = Fixture.failure(await Fixture.one(pool).outcome)
        #expect(message?.hasPrefix("RangeError: Maximum call stack size exceeded") == true, "\(message ?? "nil")")
        #expect(await Fixture.stillWorks(pool))
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            "const a = []; while (true) a.push({ i: a.length, s: 'x' + a.length });",
            "return { n: new Array(1e9).fill(0).length };",
            "return { n: new Uint8Array(2 ** 31).length };",
            "return { n: new ArrayBuffer(4e9).byteLength };",
            "return { n: 'x'.repeat(2 ** 30).length };",
            "const keep = []; while (true) keep.push(new Uint8Array(16 << 20));",
            "const keep = []; for (let i = 0; ; i++) keep.push(('y' + i).repeat(1 << 20));",
        ]
    )
    func hugeAllocationsStopAtTheMemoryLimit(_ body: String) async throws {
        let limits = JavaScriptLimits(timeout: .seconds(20), memoryLimit: 64 << 20)
        let pool = try hostile(body, limits: limits)
        let message = Fixture.failure(await Fixture.one(pool).outcome)
        #expect(message?.contains("64 MiB") == true, "\(body): \(message ?? "nil")")
        #expect(await Fixture.stillWorks(pool))
    }

    @Test(.timeLimit(.minutes(1))) func doublingStringEndsCleanly() async throws {
        let pool = try hostile("let s = 'x'; while (true) s += s;", limits: JavaScriptLimits(timeout: .seconds(5), memoryLimit: 64 << 20))
        let message = try #require(Fixture.failure(await Fixture.one(pool).outcome))
        #expect(message.contains("Out of memory") || message.contains("64 MiB"), "\(message)")
        #expect(await Fixture.stillWorks(pool))
    }

    @Test(.timeLimit(.minutes(1))) func loopOnOneThreadDoesNotDelayAnother() async throws {
        let pool = try Fixture.pool(
            "export function transformEvent(event) {\n if (event.loop) { while (true) {} }\n return event;\n}",
            limits: JavaScriptLimits(timeout: .seconds(3)),
            threads: 2
        )
        let loopEnded = Flag()
        async let looping = {
            let result = await pool.run("t", inputs: [Fixture.input(["loop": true])])
            loopEnded.set()
            return result
        }()
        try await Task.sleep(for: .milliseconds(100))
        let normal = await pool.run("t", inputs: [Fixture.input(["messageId": "n"])])
        // Order, not time: the other thread answered while this one was still looping.
        #expect(!loopEnded.isSet, "the normal call waited for the loop")
        #expect(Fixture.objects(normal[0].outcome)?.first?["messageId"] as? String == "n")
        let loopResult = await looping
        #expect(Fixture.failure(loopResult[0].outcome) == "timed out after 3 s")
    }

    @Test(
        .timeLimit(.minutes(1)),
        arguments: [
            "while (true) {}", "(async () => { while (true) await null; })();", "Promise.resolve().then(() => { while (true) {} });",
        ]
    )
    func topLevelLoopsFailLoading(_ top: String) throws {
        let error = #expect(throws: JavaScriptSourceError.self) {
            try Fixture.pool(top + "\nexport function transformEvent(e) { return e; }")
        }
        #expect(error?.message == "timed out after 0.2 s while loading", "\(top): \(String(describing: error))")
    }
}

/// Set once, read from another task.
final class Flag: @unchecked Sendable {  // guarded by `lock`
    private let lock = NSLock()
    private var value = false

    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}
