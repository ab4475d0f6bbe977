import Foundation
import RecstreamStorage
import Testing

/// Atomicity and durability within one process: reopening after `close()` (which does not flush:
/// recovery replays the write-ahead log) and after `flush()` (recovery reads table files).
/// Death of the writing process is covered in ``ProcessTests``; power loss is not testable here
/// and rests on `syncWrites` (fsync of the log before `write` returns).
@Suite struct DurabilityTests {
    static func key(_ i: Int) -> [UInt8] {
        var k = KeyBuilder(prefix: bytes("s/"))
        k.append(bigEndian: UInt32(i))
        return k.bytes
    }

    static func value(_ i: Int) -> [UInt8] {
        var v = KeyBuilder()
        v.append(bigEndian: UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
        return v.bytes
    }

    static func expectAll(_ store: StateStore, count: Int) throws {
        var seen = 0
        try store.scan(prefix: bytes("s/")) { key, value in
            #expect(copy(key) == Self.key(seen))
            #expect(copy(value) == Self.value(seen))
            seen += 1
            return true
        }
        #expect(seen == count)
    }

    @Test(arguments: [false, true])
    func aTenThousandPutBatchIsAllVisibleAndSurvivesReopen(flushBeforeClose: Bool) throws {
        try withTemporaryDirectory { dir in
            do {
                let store = try StateStore(path: dir)
                var batch = WriteBatch()
                for i in 0..<10_000 { batch.put(Self.key(i), Self.value(i)) }
                batch.put(bytes("offsets"), [0, 0, 0, 42])
                #expect(batch.count == 10_001)
                try store.write(batch)
                try Self.expectAll(store, count: 10_000)
                if flushBeforeClose { try store.flush() }
                store.close()
            }
            let reopened = try StateStore(path: dir)
            try Self.expectAll(reopened, count: 10_000)
            #expect(try reopened.get(bytes("offsets")) == [0, 0, 0, 42])
        }
    }

    @Test func aBatchThatIsNeverWrittenLeavesNothing() throws {
        try withTemporaryDirectory { dir in
            do {
                let store = try StateStore(path: dir)
                var committed = WriteBatch()
                committed.put(bytes("committed"), [1])
                try store.write(committed)
                do {
                    var abandoned = WriteBatch()
                    for i in 0..<10_000 { abandoned.put(Self.key(i), Self.value(i)) }
                    abandoned.delete(bytes("committed"))
                    #expect(abandoned.count == 10_001)
                    // Dropped here without a write.
                }
                try Self.expectAll(store, count: 0)
                #expect(try store.get(bytes("committed")) == [1])
                store.close()
            }
            let reopened = try StateStore(path: dir)
            try Self.expectAll(reopened, count: 0)
            #expect(try reopened.get(bytes("committed")) == [1])
        }
    }

    @Test func manyCommitsSurviveRepeatedReopenWithAndWithoutFlush() throws {
        try withTemporaryDirectory { dir in
            var written = 0
            for round in 0..<4 {
                let store = try StateStore(path: dir)
                try Self.expectAll(store, count: written)
                for _ in 0..<25 {
                    var batch = WriteBatch()
                    for _ in 0..<40 {
                        batch.put(Self.key(written), Self.value(written))
                        written += 1
                    }
                    try store.write(batch)
                }
                if round.isMultiple(of: 2) { try store.flush() }
                store.close()
            }
            let store = try StateStore(path: dir)
            try Self.expectAll(store, count: 4 * 25 * 40)
        }
    }

    @Test func aTornLogTailLosesWholeTrailingBatchesNeverPartOfOne() throws {
        try withTemporaryDirectory { dir in
            do {
                let store = try StateStore(path: dir)
                for b in 0..<10 {
                    var batch = WriteBatch()
                    for i in (b * 100)..<((b + 1) * 100) { batch.put(Self.key(i), Self.value(i)) }
                    try store.write(batch)
                }
                store.close()
            }
            // Cut the newest write-ahead log in the middle of its last batch, as a crash during the
            // append would (for a write that therefore never returned).
            let logs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".log") }.sorted()
            let log = dir + "/" + (try #require(logs.last))
            let size = try #require(try FileManager.default.attributesOfItem(atPath: log)[.size] as? Int)
            let handle = try #require(FileHandle(forUpdatingAtPath: log))
            try handle.truncate(atOffset: UInt64(size - 700))
            try handle.close()

            let reopened = try StateStore(path: dir)
            var seen = 0
            try reopened.scan(prefix: bytes("s/")) { _, _ in
                seen += 1
                return true
            }
            #expect(seen == 900, "point-in-time recovery keeps the 9 intact batches and drops the torn one")
        }
    }
}
