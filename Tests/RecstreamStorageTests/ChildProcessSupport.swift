import Foundation
import RecstreamStorage
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Tests that need a second process run this test binary again, filtered to
/// ``StorageChildProcess``, with this variable set to `<role>|<store path>|<marker directory>`.
/// The child reports progress by creating files in the marker directory.
let childVariable = "RECSTREAM_STORAGE_TEST_CHILD"

enum ChildRole: String {
    /// Open the store, create marker `locked`, wait for marker `release`, close, exit 0.
    case holdLock = "hold-lock"
    /// Commit ``committedBatches`` batches, create marker `written`, build one more batch without
    /// writing it, then `_exit(0)` without closing the store or running any deinit.
    case commitThenDie = "commit-then-die"

    static let committedBatches = 100
}

/// The child side. Disabled (reported as skipped) in a normal run, where the variable is unset.
@Suite struct StorageChildProcess {
    @Test(.enabled(if: ProcessInfo.processInfo.environment[childVariable] != nil))
    func run() throws {
        let parts = try #require(ProcessInfo.processInfo.environment[childVariable]).split(separator: "|").map(
            String.init)
        try #require(parts.count == 3)
        let role = try #require(ChildRole(rawValue: parts[0]))
        let storePath = parts[1]
        let markers = parts[2]
        func mark(_ name: String) { _ = FileManager.default.createFile(atPath: markers + "/" + name, contents: nil) }

        switch role {
        case .holdLock:
            let store = try StateStore(path: storePath)
            mark("locked")
            let released = eventually(within: 60) { FileManager.default.fileExists(atPath: markers + "/release") }
            store.close()
            #expect(released)
        case .commitThenDie:
            let store = try StateStore(path: storePath)
            for n in 0..<ChildRole.committedBatches {
                var batch = WriteBatch()
                batch.put(bytes("state/\(n)"), incompressibleBytes(count: 1000, seed: UInt64(n + 1)))
                var offset = KeyBuilder()
                offset.append(bigEndian: Int64(n))
                batch.put(bytes("offsets/p0"), offset.bytes)
                try store.write(batch)
            }
            mark("written")
            var pending = WriteBatch()
            for n in 0..<1000 { pending.put(bytes("uncommitted/\(n)"), [1]) }
            _ = pending.count
            // Die like a crash would: no close, no flush, no destructors, no exit handlers.
            _exit(0)
        }
    }
}

/// A child process running ``StorageChildProcess`` in `role`; its output goes to
/// `<markers>/child.log`.
func startChild(role: ChildRole, storePath: String, markers: String) throws -> Process {
    let process = Process()
    let executable =
        FileManager.default.fileExists(atPath: "/proc/self/exe")
        ? try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        : CommandLine.arguments[0]
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = ["--testing-library", "swift-testing", "--filter", "StorageChildProcess"]
    var environment = ProcessInfo.processInfo.environment
    environment[childVariable] = "\(role.rawValue)|\(storePath)|\(markers)"
    process.environment = environment
    _ = FileManager.default.createFile(atPath: markers + "/child.log", contents: nil)
    let log = try FileHandle(forWritingTo: URL(fileURLWithPath: markers + "/child.log"))
    process.standardOutput = log
    process.standardError = log
    try process.run()
    return process
}

/// Waits up to `seconds` for `process` to exit, terminating it if it does not.
func waitForExit(_ process: Process, within seconds: Double) -> Bool {
    if eventually(within: seconds, { !process.isRunning }) {
        process.waitUntilExit()
        return true
    }
    process.terminate()
    process.waitUntilExit()
    return false
}

func childLog(_ markers: String) -> String {
    (try? String(contentsOfFile: markers + "/child.log", encoding: .utf8)) ?? "(no log)"
}
