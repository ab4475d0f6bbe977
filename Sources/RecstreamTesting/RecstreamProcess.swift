import Foundation
import Synchronization

/// The `recstream` binary run as a child process, for integration tests: captures its output
/// lines, waits for the `bootstrap:` and `api:` lines, and stops it with any signal.
public final class RecstreamProcess: @unchecked Sendable {
    /// Why a child could not be used.
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
    private let output = Output()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    public let arguments: [String]

    /// The binary next to the test bundle (`swift build` puts both in the same directory), or
    /// `RECSTREAM_BINARY` when set.
    public static var binaryPath: String {
        if let path = ProcessInfo.processInfo.environment["RECSTREAM_BINARY"] { return path }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundleDir, bundleDir.deletingLastPathComponent(), bundleDir.deletingLastPathComponent().deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("recstream").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/recstream").path
    }

    /// Starts `recstream <arguments>`.
    public init(_ arguments: [String], environment: [String: String] = [:]) throws {
        self.arguments = arguments
        let path = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure(description: "no recstream binary at \(path): run `swift build` first")
        }
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
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
        if process.isRunning { process.interrupt() ; kill(process.processIdentifier, SIGKILL) }
        stdoutPipe.fileHandleForReading.readabilityHandler = nil
        stderrPipe.fileHandleForReading.readabilityHandler = nil
    }

    /// Lines printed on stdout so far.
    public var lines: [String] { output.lines.withLock { $0 } }
    /// The last lines printed on stderr (logs), for failure messages.
    public var errorLines: [String] { output.errors.withLock { $0 } }

    /// Waits for a stdout line starting with `prefix` and returns the rest of it, trimmed.
    public func value(after prefix: String, within limit: Duration = .seconds(30)) async throws -> String {
        var found: String? = nil
        do {
            try await eventually(within: limit, "a line starting with '\(prefix)' from recstream \(arguments.first ?? "")") {
                if !process.isRunning && lines.first(where: { $0.hasPrefix(prefix) }) == nil {
                    throw Failure(
                        description: "recstream \(arguments.joined(separator: " ")) exited (\(process.terminationStatus)) before printing '\(prefix)':\n"
                            + errorLines.suffix(20).joined(separator: "\n"))
                }
                found = lines.first(where: { $0.hasPrefix(prefix) }).map { String($0.dropFirst(prefix.count)) }
                return found != nil
            }
        }
        return found!.trimmingCharacters(in: .whitespaces)
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit and returns its status.
    @discardableResult
    public func waitForExit(within limit: Duration = .seconds(30)) async throws -> Int32 {
        try await eventually(within: limit, "recstream \(arguments.first ?? "") to exit") { !process.isRunning }
        return process.terminationStatus
    }

    /// Kills with SIGKILL (no cleanup, no final commit) and waits.
    public func crash() async throws {
        signal(SIGKILL)
        try await waitForExit()
    }
}

/// A fresh directory under the system temporary directory, removed by `remove()`.
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-\(label)-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func remove() { try? FileManager.default.removeItem(atPath: path) }
}
