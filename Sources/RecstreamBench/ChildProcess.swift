import Foundation
import Synchronization

/// A child process whose stdout lines are captured (and stderr kept for diagnostics): how the
/// benchmark starts pinned helpers and how integration tests drive the `recstream` binary.
public final class ChildProcess: @unchecked Sendable {
    /// The child misbehaved (exited early, never printed what was awaited).
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    private final class Output: Sendable {
        let lines = Mutex<[String]>([])
        let partial = Mutex<[UInt8]>([])
        let errors = Mutex<[String]>([])
        /// Set when the pipe reached its end: every line the child wrote has been read.
        let stdoutClosed = Atomic<Bool>(false)
        let stderrClosed = Atomic<Bool>(false)
    }

    public let process = Process()
    public let command: [String]
    private let output = Output()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()

    /// Starts `command[0]` with the remaining arguments.
    public init(_ command: [String], environment: [String: String] = [:]) throws {
        precondition(!command.isEmpty, "ChildProcess needs a command")
        self.command = command
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let output = self.output
        // One blocking reader thread per pipe, each ending at the pipe's end of file: every line
        // the child printed is read before ``waitForExit(within:)`` returns.
        let stdoutHandle = stdoutPipe.fileHandleForReading
        let stdoutReader = Thread {
            while true {
                let data = stdoutHandle.availableData
                if data.isEmpty { break }
                output.partial.withLock { partial in
                    partial.append(contentsOf: data)
                    while let newline = partial.firstIndex(of: 0x0A) {
                        let line = String(decoding: partial[..<newline], as: UTF8.self)
                        partial.removeSubrange(...newline)
                        output.lines.withLock { $0.append(line) }
                    }
                }
            }
            output.partial.withLock { partial in
                if !partial.isEmpty { output.lines.withLock { $0.append(String(decoding: partial, as: UTF8.self)) } }
                partial.removeAll()
            }
            output.stdoutClosed.store(true, ordering: .releasing)
        }
        let stderrHandle = stderrPipe.fileHandleForReading
        let stderrReader = Thread {
            while true {
                let data = stderrHandle.availableData
                if data.isEmpty { break }
                let text = String(decoding: data, as: UTF8.self)
                output.errors.withLock { lines in
                    lines.append(contentsOf: text.split(separator: "\n").map(String.init))
                    if lines.count > 2000 { lines.removeFirst(lines.count - 2000) }
                }
            }
            output.stderrClosed.store(true, ordering: .releasing)
        }
        try process.run()
        // The child holds the write ends now; this process must not, or the readers never see
        // the end of file.
        try? stdoutPipe.fileHandleForWriting.close()
        try? stderrPipe.fileHandleForWriting.close()
        stdoutReader.start()
        stderrReader.start()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Lines printed on stdout so far.
    public var lines: [String] { output.lines.withLock { $0 } }
    /// The last lines printed on stderr.
    public var errorLines: [String] { output.errors.withLock { $0 } }
    public var isRunning: Bool { process.isRunning }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it, trimmed.
    /// - Throws: ``Failure`` when the child exits first or `limit` passes.
    public func value(after prefix: String, within limit: Duration = .seconds(30)) async throws -> String {
        let deadline = ContinuousClock.now + limit
        while true {
            if let line = lines.first(where: { $0.hasPrefix(prefix) }) {
                return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
            }
            if !process.isRunning {
                // Output may still be in the pipe: one last look once the reader has drained it.
                await drained(within: .seconds(5))
                if let line = lines.first(where: { $0.hasPrefix(prefix) }) {
                    return String(line.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
                }
                throw Failure(
                    description: "\(command.joined(separator: " ")) exited (\(process.terminationStatus)) before printing '\(prefix)':\n"
                        + errorLines.suffix(20).joined(separator: "\n"))
            }
            if ContinuousClock.now >= deadline {
                throw Failure(description: "\(command.joined(separator: " ")) printed no '\(prefix)' line within \(limit)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Sends `signal` to the child while it runs. A no-op once it has exited and been reaped: its
    /// pid may then belong to an unrelated process (pids wrap quickly on a busy machine), which a
    /// late `kill` (a `defer` after a clean exit) would otherwise hit.
    public func signal(_ signal: Int32) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
    }

    /// SIGTERM, then SIGKILL if it is still running after `grace`.
    public func terminate(grace: Duration = .seconds(10)) {
        guard process.isRunning else { return }
        signal(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { signal(SIGKILL) }
    }

    /// Waits for the process to exit and returns its status.
    @discardableResult
    public func waitForExit(within limit: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + limit
        while process.isRunning {
            if ContinuousClock.now >= deadline { throw Failure(description: "\(command.joined(separator: " ")) still running after \(limit)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Every line the child printed is read only once its pipes reach their end.
        await drained(within: .seconds(30))
        return process.terminationStatus
    }

    /// Waits until both output pipes reached their end (or `limit` passed: a grandchild that
    /// inherited them may keep them open).
    private func drained(within limit: Duration) async {
        let deadline = ContinuousClock.now + limit
        while !(output.stdoutClosed.load(ordering: .acquiring) && output.stderrClosed.load(ordering: .acquiring)) {
            if ContinuousClock.now >= deadline { return }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// Kills with SIGKILL (no cleanup, no final commit) and waits.
    public func crash() async throws {
        signal(SIGKILL)
        try await waitForExit()
    }
}
