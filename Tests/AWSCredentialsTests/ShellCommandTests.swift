import Foundation
import Testing

@testable import AWSCredentialProviders

@Suite("Running a credential_process command", .timeLimit(.minutes(1)))
struct ShellCommandTests {
    @Test("the exit status, the output and the errors, a signal as 128 + its number")
    func outcomes() async {
        #expect(
            await ShellCommand.run("printf out; echo err >&2; exit 4", timeout: .seconds(10))
                == .exited(4, output: Array("out".utf8), errors: "err\n")
        )
        #expect(await ShellCommand.run("kill -9 $$", timeout: .seconds(10)) == .exited(137, output: [], errors: ""))
        #expect(
            await ShellCommand.run("exec /no/such/program", timeout: .seconds(10))
                == .exited(127, output: [], errors: "/bin/sh: 1: exec: /no/such/program: not found\n")
        )
    }

    @Test("more output than the bound fails instead of being cut short")
    func outputBound() async {
        let outcome = await ShellCommand.run("head -c 2000000 /dev/zero", timeout: .seconds(10))
        guard case .failed(let why) = outcome else {
            Issue.record("expected a failure, got \(outcome)")
            return
        }
        #expect(why.contains("more than 1048576 bytes"))
    }

    @Test("past the deadline the command and what it started are ended")
    func timeout() async throws {
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("shell-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: pidFile) }
        let started = ContinuousClock.now
        let outcome = await ShellCommand.run("sleep 60 & echo $! > \(pidFile); wait", timeout: .milliseconds(300))
        #expect(outcome == .timedOut)
        // Far under the 60 s the `sleep` would take: the deadline ended it, however loaded the machine.
        #expect(ContinuousClock.now - started < .seconds(30))
        let pid = try #require(
            Int32(
                String(decoding: FileManager.default.contents(atPath: pidFile) ?? Data(), as: UTF8.self).trimmingCharacters(
                    in: .whitespacesAndNewlines
                )
            )
        )
        // The background `sleep` got the process group's SIGTERM: gone, or a zombie of whoever adopted it.
        var alive = true
        for _ in 0..<100 where alive {
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ").dropFirst(2).first
            alive = state != nil && state != "Z"
            if alive { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(!alive)
    }

    @Test("the server's open descriptors do not reach the command")
    func descriptorsClosed() async throws {
        let fd = open("/dev/null", O_RDONLY)
        let high = dup2(fd, 900)
        defer {
            close(fd)
            close(high)
        }
        #expect(high == 900)
        guard case .exited(0, let output, _) = await ShellCommand.run("ls /proc/$$/fd", timeout: .seconds(10)) else {
            Issue.record("ls failed")
            return
        }
        let open = String(decoding: output, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        #expect(open.contains("0") && open.contains("1"))
        #expect(!open.contains("900"))
    }

    /// Foundation's `Process.run()` crashed the process about once in many thousand spawns; these
    /// run eight at a time, as refreshes of several profiles would.
    @Test("many commands at once all finish with their own output")
    func manyAtOnce() async {
        let failures = await withTaskGroup(of: Bool.self) { group in
            var failures = 0
            for i in 0..<400 {
                if i >= 8, await group.next() == false { failures += 1 }
                group.addTask {
                    await ShellCommand.run("printf \(i)", timeout: .seconds(20)) == .exited(0, output: Array("\(i)".utf8), errors: "")
                }
            }
            for await ok in group where !ok { failures += 1 }
            return failures
        }
        #expect(failures == 0)
    }
}
