import Testing

@testable import RecstreamCore

/// The arena against a dictionary of byte arrays: random creates, growth inside records, removals
/// and frees, with records straddling segments, recycled slots and in-place compactions.
@Suite("ExposureRecordArena")
struct ExposureRecordArenaTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func arenaHoldsWhatADictionaryHolds(seed: UInt64) {
        print("arenaHoldsWhatADictionaryHolds seed \(seed)")
        var rng = SplitMix64(seed: seed)
        var arena = ExposureRecordArena()
        var model: [Int: [UInt8]] = [:]
        var compactions = 0
        var mismatches = 0
        for step in 0..<40_000 {
            let index = Int(rng.next() % 500)
            let choice = rng.next() % 10
            if var record = model[index] {
                switch choice {
                case 0:
                    arena.free(index)
                    model[index] = nil
                case 1...5:
                    // Grow: zeros opened at a random offset, then a byte written into them.
                    let count = 1 + Int(rng.next() % (choice == 5 ? 3_000 : 24))
                    let offset = Int(rng.next() % UInt64(record.count + 1))
                    let start = arena.insertZeros(count, at: offset, in: index)
                    let value = UInt8(truncatingIfNeeded: rng.next() | 1)
                    arena.setUInt8(value, at: start + offset)
                    record.insert(contentsOf: repeatElement(0, count: count), at: offset)
                    record[offset] = value
                    model[index] = record
                default:
                    guard record.count > 1 else { continue }
                    let offset = Int(rng.next() % UInt64(record.count - 1))
                    let count = 1 + Int(rng.next() % UInt64(record.count - offset - 1))
                    arena.remove(count, at: offset, in: index)
                    record.removeSubrange(offset..<(offset + count))
                    model[index] = record
                }
            } else {
                let length = 1 + Int(rng.next() % 200)
                let start = arena.create(index, length: length)
                let value = UInt8(truncatingIfNeeded: rng.next())
                arena.setUInt8(value, at: start + length - 1)
                var record = [UInt8](repeating: 0, count: length)
                record[length - 1] = value
                model[index] = record
            }
            if step % 97 == 0 {
                let before = arena.garbageBytes
                arena.compactIfWasteful()
                if before > 0 && arena.garbageBytes == 0 { compactions += 1 }
            }
            if step % 1_000 == 999 {
                for (index, record) in model {
                    guard let start = arena.start(of: index), arena.length(of: index) == record.count,
                        arena.bytes(in: start..<(start + record.count)) == record
                    else {
                        mismatches += 1
                        continue
                    }
                }
                if arena.recordCount != model.count { mismatches += 1 }
            }
        }
        print("seed \(seed): \(model.count) records, \(compactions) compactions, \(arena.approximateBytes) bytes")
        #expect(mismatches == 0)
        #expect(compactions > 0)
        // Every record freed: no segment is kept.
        for index in Array(model.keys) { arena.free(index) }
        #expect(arena.recordCount == 0)
        #expect(arena.approximateBytes < ExposureRecordArena.segmentBytes)
    }
}
