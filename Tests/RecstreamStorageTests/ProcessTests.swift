import Foundation
import RecstreamStorage
import Testing

/// Tests with a second process (this test binary re-run as ``StorageChildProcess``).
@Suite(.timeLimit(.minutes(2))) struct ProcessTests {
    @Test func aSecondProcessCannotOpenAStoreThatIsOpen() throws {
        try withTemporaryDirectory { dir in
            let storePath = dir + "/db"
            let markers = dir + "/markers"
            try FileManager.default.createDirectory(atPath: markers, withIntermediateDirectories: true)
            let child = try startChild(role: .holdLock, storePath: storePath, markers: markers)
            let locked = eventually(within: 60) { FileManager.default.fileExists(atPath: markers + "/locked") }
            guard locked else {
                _ = waitForExit(child, within: 1)
                Issue.record("the child never opened the store; its log:\n\(childLog(markers))")
                return
            }
            do throws(StorageError) {
                _ = try StateStore(path: storePath)
                Issue.record("opened a store another process holds")
            } catch {
                #expect(error.kind == .lockHeld, "\(error)")
                #expect(error.message.contains("another recstream process"), "\(error)")
                #expect(error.message.contains(storePath), "\(error)")
            }
            _ = FileManager.default.createFile(atPath: markers + "/release", contents: nil)
            #expect(waitForExit(child, within: 60), "child did not exit; log:\n\(childLog(markers))")
            #expect(child.terminationStatus == 0, "child log:\n\(childLog(markers))")
            // Once the holder is gone the directory opens.
            let store = try StateStore(path: storePath)
            store.close()
        }
    }

    @Test func batchesCommittedBeforeAProcessDiesSurviveAndUnwrittenOnesLeaveNothing() throws {
        try withTemporaryDirectory { dir in
            let storePath = dir + "/db"
            let markers = dir + "/markers"
            try FileManager.default.createDirectory(atPath: markers, withIntermediateDirectories: true)
            let child = try startChild(role: .commitThenDie, storePath: storePath, markers: markers)
            #expect(waitForExit(child, within: 60), "child did not exit; log:\n\(childLog(markers))")
            try #require(
                FileManager.default.fileExists(atPath: markers + "/written"),
                "the child did not commit; log:\n\(childLog(markers))")
            #expect(child.terminationStatus == 0)

            let store = try StateStore(path: storePath)
            for n in 0..<ChildRole.committedBatches {
                #expect(
                    try store.get(bytes("state/\(n)")) == incompressibleBytes(count: 1000, seed: UInt64(n + 1)),
                    "batch \(n)")
            }
            var offset = KeyReader(try #require(try store.get(bytes("offsets/p0"))))
            #expect(try offset.readInt64() == Int64(ChildRole.committedBatches - 1))
            #expect(try collect(store, prefix: bytes("uncommitted/")).isEmpty)
        }
    }
}
