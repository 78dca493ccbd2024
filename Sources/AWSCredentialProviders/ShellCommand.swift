import Subprocess

/// A command run with `/bin/sh -c`, as the AWS SDKs run a profile's `credential_process`.
///
/// Spawned with swift-subprocess rather than Foundation's `Process`, whose Linux `run()` can read
/// past a directory entry while it closes inherited descriptors and crash the whole server now and
/// then. The command gets its own session, so a timeout ends whatever the shell started too.
enum ShellCommand {
    enum Outcome: Sendable, Equatable {
        /// The exit status (128 + the signal's number when a signal ended it), standard output and
        /// the start of standard error.
        case exited(Int32, output: [UInt8], errors: String)
        /// Still running at the deadline; it and its process group were ended.
        case timedOut
        /// Could not be started, or wrote more than the bounds allow.
        case failed(String)
    }

    /// Bounds on what is kept: credentials are a few hundred bytes; an answer past this is wrong.
    static let outputLimit = 1 << 20
    static let errorLimit = 1 << 16

    static func run(_ command: String, timeout: Duration) async -> Outcome {
        let finished: Outcome? = await withTaskGroup(of: Outcome?.self) { group in
            group.addTask {
                var options = PlatformOptions()
                options.createSession = true
                options.teardownSequence = [
                    .send(signal: .terminate, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))
                ]
                do {
                    let result = try await Subprocess.run(
                        .path("/bin/sh"),
                        arguments: ["-c", command],
                        platformOptions: options,
                        input: .none,
                        output: .bytes(limit: outputLimit),
                        error: .string(limit: errorLimit)
                    )
                    let status: Int32
                    switch result.terminationStatus {
                    case .exited(let code): status = code
                    case .signaled(let signal): status = 128 + signal
                    }
                    return .exited(status, output: result.standardOutput, errors: result.standardError)
                } catch let error as SubprocessError where error.code == .init(.outputLimitExceeded) {
                    return .failed("the command wrote more than \(outputLimit) bytes of output or \(errorLimit) of errors")
                } catch {
                    return .failed("cannot run /bin/sh: \(error)")
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        return finished ?? .timedOut
    }
}
