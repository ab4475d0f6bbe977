import Foundation
import RecstreamBench
import RecstreamRuntime

/// The `recstream` binary as a child process (see ``ChildProcess``), found next to the test
/// bundle, for integration tests.
public final class RecstreamProcess: @unchecked Sendable {
    public typealias Failure = ChildProcess.Failure
    public let child: ChildProcess
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
        let path = Self.binaryPath
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure(description: "no recstream binary at \(path): run `swift build` first")
        }
        self.arguments = arguments
        child = try ChildProcess([path] + arguments, environment: environment)
    }

    public var process: Process { child.process }
    public var lines: [String] { child.lines }
    public var errorLines: [String] { child.errorLines }
    public var isRunning: Bool { child.isRunning }

    /// The rest of the first stdout line starting with `prefix`. A process that exits first fails
    /// at once; the limit only bounds a live process that is slow to print (a busy machine).
    public func value(after prefix: String, within limit: Duration = .seconds(120)) async throws -> String {
        try await child.value(after: prefix, within: limit)
    }

    public func signal(_ signal: Int32) { child.signal(signal) }

    /// Waits for the exit; the limit bounds a live process (a clean stop ends with a final commit,
    /// which a busy machine makes slow).
    @discardableResult
    public func waitForExit(within limit: Duration = .seconds(120)) async throws -> Int32 {
        try await child.waitForExit(within: limit)
    }

    public func crash() async throws { try await child.crash() }
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
