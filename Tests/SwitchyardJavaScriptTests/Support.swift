import Foundation
import SwitchyardJavaScript

/// Builds pools and inputs for the tests.
enum Fixture {
    static let fast = JavaScriptLimits(timeout: .milliseconds(200))

    static func source(_ code: String, name: String = "t", origin: String = "t.js", firstLine: Int = 1) -> JavaScriptSource {
        JavaScriptSource(name: name, code: code, origin: origin, firstLine: firstLine)
    }

    static func pool(
        _ code: String,
        libraries: [JavaScriptSource] = [],
        limits: JavaScriptLimits = fast,
        threads: Int = 1
    ) throws -> JavaScriptPool {
        try JavaScriptPool(programs: [source(code)], libraries: libraries, limits: limits, threads: threads)
    }

    static func input(_ event: [String: Any], metadata: [String: Any] = [:]) -> (event: [UInt8], metadata: [UInt8]) {
        (Array(try! JSONSerialization.data(withJSONObject: event)), Array(try! JSONSerialization.data(withJSONObject: metadata)))
    }

    static func objects(_ outcome: JavaScriptOutcome) -> [[String: Any]]? {
        guard case .events(let list) = outcome else { return nil }
        return list.map { try! JSONSerialization.jsonObject(with: Data($0)) as! [String: Any] }
    }

    static func failure(_ outcome: JavaScriptOutcome) -> String? {
        if case .failed(let message) = outcome { return message }
        return nil
    }

    /// Runs one event through `pool` and returns its result.
    static func one(
        _ pool: JavaScriptPool,
        _ event: [String: Any] = ["messageId": "m1", "event": "ok"],
        metadata: [String: Any] = [:]
    ) async -> JavaScriptResult {
        await pool.run("t", inputs: [input(event, metadata: metadata)])[0]
    }

    /// Runs `body` while threads spin on every core, as other work does on a busy CI machine.
    static func whileCoresAreBusy<T>(_ body: () async -> T) async -> T {
        let done = Flag()
        for _ in 0..<ProcessInfo.processInfo.activeProcessorCount {
            Thread { while !done.isSet {} }.start()
        }
        defer { done.set() }
        return await body()
    }

    /// A normal event must still come back transformed after something hostile ran.
    static func stillWorks(_ pool: JavaScriptPool) async -> Bool {
        let r = await pool.run("t", inputs: [input(["messageId": "ok", "probe": true])])
        return objects(r[0].outcome)?.first?["probe"] as? Bool == true
    }
}
