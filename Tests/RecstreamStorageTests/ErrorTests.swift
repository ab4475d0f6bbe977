import Foundation
import RecstreamStorage
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite struct ErrorTests {
    @Test(arguments: [
        ("IO error: No space left on device: While appending to file: /s/000012.log", StorageError.Kind.noSpace),
        ("IO error: While open a file for appending: /s/LOCK: Read-only file system", .readOnly),
        ("IO error: While open a file for lock: /s/LOCK: Permission denied", .readOnly),
        ("IO error: While lock file: /s/LOCK: Resource temporarily unavailable", .lockHeld),
        (
            "IO error: lock hold by current process, acquire time 1700000000 acquiring thread 1: /s/LOCK: No locks available",
            .lockHeld
        ),
        (
            "Corruption: block checksum mismatch: stored = 1, computed = 2 in /s/000009.sst offset 0 size 4034",
            .corruption
        ),
        ("NotFound: /s/000009.sst", .notFound),
        ("Invalid argument: /s/CURRENT: does not exist (create_if_missing is false)", .invalidArgument),
        ("Not implemented: Unsupported", .invalidArgument),
        ("Resource busy: ", .busy),
        ("Operation failed. Try again.: ", .busy),
        ("IO error: While fsync: a file: Input/output error", .io),
        ("Merge in progress: ", .other),
    ])
    func rocksDBMessagesAreClassifiedByPrefixAndCondition(message: String, kind: StorageError.Kind) {
        #expect(StorageError.classify(rocksDBMessage: message) == kind)
        let error = StorageError(rocksDBMessage: message, context: "open the state store at /s")
        #expect(error.kind == kind)
        #expect(error.message.contains(message), "RocksDB's text is kept")
    }

    @Test func aRegularFileIsNotAStateDirectory() throws {
        try withTemporaryDirectory { dir in
            let file = dir + "/plain-file"
            _ = FileManager.default.createFile(atPath: file, contents: Array("x".utf8).withUnsafeBytes { Data($0) })
            for path in [file, file + "/db"] {
                do throws(StorageError) {
                    _ = try StateStore(path: path)
                    Issue.record("opened a store at \(path)")
                } catch {
                    #expect(error.kind == .invalidArgument, "\(error)")
                    #expect(error.message.contains("not a directory"), "\(error)")
                }
            }
        }
    }

    @Test func aDirectoryWithoutWritePermissionIsReadOnly() throws {
        if getuid() == 0 {
            // Root ignores permission bits, so use a directory the kernel itself refuses to create
            // files in: sysfs answers EACCES even to root.
            let path = "/sys/kernel"
            #expect(!FileManager.default.fileExists(atPath: path + "/LOCK"))
            do throws(StorageError) {
                _ = try StateStore(path: path)
                Issue.record("opened a store in \(path)")
            } catch {
                #expect(error.kind == .readOnly, "\(error)")
                #expect(error.message.contains(path), "\(error)")
            }
        } else {
            try withTemporaryDirectory { dir in
                let path = dir + "/db"
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
                try FileManager.default.setAttributes([.posixPermissions: 0o555], ofItemAtPath: path)
                defer { try? FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path) }
                do throws(StorageError) {
                    _ = try StateStore(path: path)
                    Issue.record("opened a store in a directory without write permission")
                } catch {
                    #expect(error.kind == .readOnly, "\(error)")
                    #expect(error.message.contains("Permission denied"), "\(error)")
                }
            }
        }
    }

    @Test func aSecondStoreOnTheSameDirectoryInThisProcessIsLockHeld() throws {
        try withTemporaryDirectory { dir in
            let first = try StateStore(path: dir + "/db")
            // A different spelling of the same directory still meets the lock.
            for path in [dir + "/db", dir + "/./db/", dir + "/db/../db"] {
                do throws(StorageError) {
                    _ = try StateStore(path: path)
                    Issue.record("a second store opened \(path)")
                } catch {
                    #expect(error.kind == .lockHeld, "\(error)")
                    #expect(error.message.contains("another recstream process"), "\(error)")
                }
            }
            first.close()
            let second = try StateStore(path: dir + "/db")
            second.close()
        }
    }

    @Test func openingAMissingStoreWithoutCreateIfMissingFails() throws {
        try withTemporaryDirectory { dir in
            var options = StoreOptions()
            options.createIfMissing = false
            do throws(StorageError) {
                _ = try StateStore(path: dir + "/missing", options: options)
                Issue.record("opened a missing store")
            } catch {
                #expect(error.kind == .invalidArgument || error.kind == .notFound, "\(error)")
                #expect(error.message.contains("does not exist"), "\(error)")
            }
            // RocksDB creates the directory (and its LOCK) before it looks for a database, but no
            // database: there is no CURRENT file.
            #expect(!FileManager.default.fileExists(atPath: dir + "/missing/CURRENT"))
        }
    }

    @Test func outOfRangeOptionsAreRejectedBeforeOpening() throws {
        try withTemporaryDirectory { dir in
            var options = StoreOptions()
            options.blockCacheBytes = 0
            #expect(
                throws: StorageError(kind: .invalidArgument, message: "blockCacheBytes is 0; the minimum is 1048576")
            ) {
                _ = try StateStore(path: dir + "/db", options: options)
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/db"))
        }
    }
}
