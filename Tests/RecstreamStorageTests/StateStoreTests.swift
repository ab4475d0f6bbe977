import Foundation
import RecstreamStorage
import Testing

@Suite struct StateStoreTests {
    @Test func putThenGetReturnsTheValueAndAbsentKeysAreNil() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir + "/db")
            var batch = WriteBatch()
            batch.put(bytes("a"), bytes("1"))
            batch.put(bytes("b"), bytes("2"))
            #expect(batch.count == 2)
            #expect(batch.byteSize > 4)
            try store.write(batch)
            #expect(try store.get(bytes("a")) == bytes("1"))
            #expect(try store.get(bytes("b")) == bytes("2"))
            #expect(try store.get(bytes("c")) == nil)
        }
    }

    @Test func laterOperationsInABatchWin() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            batch.put(bytes("k"), bytes("first"))
            batch.put(bytes("k"), bytes("second"))
            batch.put(bytes("gone"), bytes("x"))
            batch.delete(bytes("gone"))
            try store.write(batch)
            #expect(try store.get(bytes("k")) == bytes("second"))
            #expect(try store.get(bytes("gone")) == nil)
        }
    }

    @Test func deleteRemovesAKeyAndDeletingAnAbsentKeyIsFine() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var put = WriteBatch()
            put.put(bytes("a"), bytes("1"))
            try store.write(put)
            var delete = WriteBatch()
            delete.delete(bytes("a"))
            delete.delete(bytes("never-written"))
            try store.write(delete)
            #expect(try store.get(bytes("a")) == nil)
        }
    }

    @Test func deleteRangeRemovesTheHalfOpenRangeOnly() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var put = WriteBatch()
            for i in 0..<10 { put.put([UInt8(i)], [UInt8(i)]) }
            try store.write(put)
            var delete = WriteBatch()
            delete.deleteRange(from: [3], to: [7])  // removes 3, 4, 5, 6
            try store.write(delete)
            let left = try collect(store, from: [0], to: [10]).map { $0.0[0] }
            #expect(left == [0, 1, 2, 7, 8, 9])
        }
    }

    @Test func deleteRangeAlsoCoversFlushedData() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var put = WriteBatch()
            for i in 0..<100 { put.put([1, UInt8(i)], [UInt8(i)]) }
            put.put([2], [2])
            try store.write(put)
            try store.flush()
            var delete = WriteBatch()
            delete.deletePrefix([1])
            try store.write(delete)
            #expect(try collect(store, prefix: [1]).isEmpty)
            #expect(try store.get([1, 50]) == nil)
            #expect(try store.get([2]) == [2])
        }
    }

    @Test func prefixScanVisitsOnlyThePrefixInAscendingByteOrder() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            // Inserted out of order, with neighbours on both sides of the prefix.
            let keys: [[UInt8]] = [
                [0x10, 0xFF], [0x10, 0x00, 0x05], [0x10], [0x10, 0x00], [0x0F, 0xFF, 0xFF], [0x11], [0x10, 0x80],
            ]
            for key in keys { batch.put(key, key.reversed()) }
            try store.write(batch)
            let rows = try collect(store, prefix: [0x10])
            #expect(rows.map(\.0) == [[0x10], [0x10, 0x00], [0x10, 0x00, 0x05], [0x10, 0x80], [0x10, 0xFF]])
            #expect(rows.allSatisfy { $0.1 == $0.0.reversed() })
        }
    }

    @Test func prefixOfAll0xFFScansToTheEnd() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            batch.put([0xFE], [1])
            batch.put([0xFF], [2])
            batch.put([0xFF, 0xFF, 0x01], [3])
            try store.write(batch)
            #expect(try collect(store, prefix: [0xFF]).map(\.1) == [[2], [3]])
            #expect(try collect(store, prefix: []).count == 3)
        }
    }

    @Test func rangeScanIsHalfOpenAndInvertedRangesAreEmpty() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            for day in [Int64(-3), -1, 0, 2, 5, 9] {
                var key = KeyBuilder()
                key.append(7)
                key.append(bigEndian: day)
                batch.put(key.bytes, [])
            }
            try store.write(batch)
            func key(_ day: Int64) -> [UInt8] {
                var k = KeyBuilder()
                k.append(7)
                k.append(bigEndian: day)
                return k.bytes
            }
            let days = try collect(store, from: key(-1), to: key(5)).map { row in
                var reader = KeyReader(row.0)
                _ = try reader.readByte()
                return try reader.readInt64()
            }
            #expect(days == [-1, 0, 2])
            #expect(try collect(store, from: key(5), to: key(-1)).isEmpty)
            #expect(try collect(store, from: key(2), to: key(2)).isEmpty)
        }
    }

    @Test func scanStopsWhenTheBodyReturnsFalse() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            for i in 0..<50 { batch.put([9, UInt8(i)], []) }
            try store.write(batch)
            var visited = 0
            try store.scan(prefix: [9]) { _, _ in
                visited += 1
                return visited < 5
            }
            #expect(visited == 5)
        }
    }

    struct Stop: Error, Equatable {}

    @Test func scanRethrowsTheBodysErrorUnchanged() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            batch.put([1], [1])
            batch.put([2], [2])
            try store.write(batch)
            var visited = 0
            #expect(throws: Stop()) {
                try store.scan(prefix: []) { _, _ in
                    visited += 1
                    throw Stop()
                }
            }
            #expect(visited == 1)
            // The store is still usable: the scan released its lock and iterator.
            #expect(try store.get([2]) == [2])
        }
    }

    @Test func oneMebibyteValuesRoundTripThroughMemtableAndTableFile() throws {
        try withTemporaryDirectory { dir in
            let big = incompressibleBytes(count: 1 << 20, seed: 7)
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            batch.put(bytes("big"), big)
            try store.write(batch)
            #expect(try store.get(bytes("big")) == big)
            try store.flush()
            #expect(try store.get(bytes("big")) == big)
            var seen = 0
            try store.scan(prefix: bytes("big")) { _, value in
                seen = value.count
                return true
            }
            #expect(seen == big.count)
        }
    }

    @Test func emptyValuesAreStoredAndDistinctFromAbsence() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            batch.put(bytes("empty"), [])
            try store.write(batch)
            #expect(try store.get(bytes("empty")) == [])
            try store.flush()
            #expect(try store.get(bytes("empty")) == [])
            #expect(try store.get(bytes("absent")) == nil)
            #expect(try collect(store, prefix: bytes("empty")).map(\.1) == [[]])
        }
    }

    @Test func spanAndRawBufferPutsMatchArrayPuts() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            let key = bytes("span-key")
            let value = bytes("span-value")
            var batch = WriteBatch()
            batch.put(key.span, value.span)
            key.withUnsafeBytes { k in
                bytes("raw-value").withUnsafeBytes { v in
                    batch.put(UnsafeRawBufferPointer(rebasing: k[0..<3]), v)  // key "spa"
                }
            }
            try store.write(batch)
            #expect(try store.get(key) == value)
            #expect(try store.get(bytes("spa")) == bytes("raw-value"))
        }
    }

    @Test func anEmptyBatchIsANoOp() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            let batch = WriteBatch()
            #expect(batch.count == 0)
            try store.write(batch)
            #expect(try collect(store, prefix: []).isEmpty)
        }
    }

    @Test func propertiesAndSizesAreReported() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            var batch = WriteBatch()
            for i in 0..<1000 {
                var key = KeyBuilder()
                key.append(1)
                key.append(bigEndian: UInt32(i))
                batch.put(key.bytes, incompressibleBytes(count: 100, seed: UInt64(i + 1)))
            }
            try store.write(batch)
            try store.flush()
            let keys = try #require(store.property("rocksdb.estimate-num-keys").flatMap { UInt64($0) })
            #expect(keys == 1000)
            #expect(store.property("rocksdb.no-such-property") == nil)
            let inPrefix = try store.approximateSize(prefix: [1])
            let outside = try store.approximateSize(prefix: [2])
            #expect(inPrefix > 50_000, "1000 × 100 incompressible bytes: \(inPrefix)")
            #expect(outside == 0)
            #expect(try store.approximateSize(prefix: []) >= inPrefix)
            #expect(store.compression == .lz4)
        }
    }

    @Test func aClosedStoreRejectsCallsAndCloseIsIdempotent() throws {
        try withTemporaryDirectory { dir in
            let store = try StateStore(path: dir)
            store.close()
            store.close()
            do throws(StorageError) {
                _ = try store.get([1])
                Issue.record("get on a closed store returned")
            } catch {
                #expect(error.kind == .invalidArgument)
                #expect(error.message.contains("closed"))
            }
            #expect(throws: StorageError.self) { try store.flush() }
            #expect(throws: StorageError.self) {
                var batch = WriteBatch()
                batch.put([1], [1])
                try store.write(batch)
            }
            #expect(throws: StorageError.self) { try store.scan(prefix: []) { _, _ in true } }
            #expect(store.property("rocksdb.estimate-num-keys") == nil)
        }
    }

    @Test func concurrentReadersAndAWriterSeeWholeBatches() async throws {
        try await withTemporaryDirectoryAsync { dir in
            var options = StoreOptions()
            options.syncWrites = false
            let store = try StateStore(path: dir, options: options)
            // Each batch writes the same generation number under 20 keys; a reader must never see
            // two generations mixed in one scan (a scan reads one snapshot).
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    for generation in 1...200 {
                        var batch = WriteBatch()
                        for k in 0..<20 { batch.put([5, UInt8(k)], [UInt8(generation % 256)]) }
                        guard (try? store.write(batch)) != nil else { return false }
                    }
                    return true
                }
                for _ in 0..<2 {
                    group.addTask {
                        for _ in 0..<200 {
                            var values = Set<UInt8>()
                            var count = 0
                            guard
                                (try? store.scan(prefix: [5]) { _, v in
                                    values.insert(v[0])
                                    count += 1
                                    return true
                                }) != nil
                            else { return false }
                            if !(count == 0 || (count == 20 && values.count == 1)) { return false }
                        }
                        return true
                    }
                }
                for await ok in group { #expect(ok) }
            }
        }
    }
}

func withTemporaryDirectoryAsync(_ body: (String) async throws -> Void) async throws {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("recstream-storage-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    try await body(url.path)
}
