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
        stdoutPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            output.partial.withLock { partial in
                partial.append(contentsOf: data)
                while let newline = partial.firstIndex(of: 0x0A) {
                    let line = String(decoding: partial[..<newline], as: UTF8.self)
                    partial.removeSubrange(...newline)
                    output.lines.withLock { $0.append(line) }
                }
            }
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { handle in
            let data = handle.availableData
            guard !data.isEmpty else { return }
            let text = String(decoding: data, as: UTF8.self)
            output.errors.withLock { lines in
                lines.append(contentsOf: text.split(separator: "\n").map(String.init))
                if lines.count > 2000 { lines.removeFirst(lines.count - 2000) }
            }
        }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
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
                // Output may still be in the pipe: one last look after the reader drains it.
                try await Task.sleep(for: .milliseconds(50))
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

    /// Sends `signal` while the child runs, and nothing once it has exited and been reaped: its
    /// pid may belong to another process by then (pids wrap around quickly on a busy machine).
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
        // Let the pipe readers deliver the last lines.
        try await Task.sleep(for: .milliseconds(50))
        return process.terminationStatus
    }

    /// Kills with SIGKILL (no cleanup, no final commit) and waits.
    public func crash() async throws {
        signal(SIGKILL)
        try await waitForExit()
    }
}
