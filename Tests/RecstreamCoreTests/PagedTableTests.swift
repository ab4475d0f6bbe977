import Testing

@testable import RecstreamCore

/// A paged entry small enough to reason about: a sum, deleted when it returns to zero.
private struct Sum: PagedEntry, Equatable {
    var value: Int64 = 0
    func encoded() -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }
    static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> Sum {
        guard bytes.count == 8 else { throw StateDecodingError("sum record of \(bytes.count) bytes") }
        return Sum(value: bytes.withUnsafeBytes { Int64(littleEndian: $0.loadUnaligned(as: Int64.self)) })
    }
    var isEmpty: Bool { value == 0 }
    var approximateBytes: Int { 8 }
}

/// The paged-table contract: a store-backed table whose entries are installed on demand, written
/// back when drained and evicted when clean holds, at every moment, exactly the values of a table
/// that kept everything in memory.
@Suite("Paged table")
struct PagedTableTests {
    private let prefix: [UInt8] = [0x7F]

    private func key(_ n: Int) -> [UInt8] { Array("k\(n)".utf8) }

    /// Applies `changes` to `store` the way a commit would.
    private func commit(_ changes: StateChanges, to store: inout [[UInt8]: [UInt8]]) {
        for put in changes.puts { store[Array(put.key.dropFirst(prefix.count))] = put.value }
        for delete in changes.deletes { store[Array(delete.dropFirst(prefix.count))] = nil }
    }

    @Test func aDrainedEntryIsEvictedAndReadBackUnchanged() throws {
        var table = PagedTable<Sum>(complete: false)
        var store: [[UInt8]: [UInt8]] = [:]
        try table.install(key(1), record: nil)
        table.update(key(1), make: Sum.init) { $0.value += 41 }
        table.update(key(1), make: Sum.init) { $0.value += 1 }
        // Dirty: never evicted, whatever the budget.
        #expect(table.evict(toBytes: 0) == 0)
        #expect(table.isResident(key(1)))
        var changes = StateChanges()
        table.drainChanges(prefix: prefix, into: &changes)
        #expect(changes.puts.count == 1)
        #expect(changes.puts.first?.key == prefix + key(1))
        commit(changes, to: &store)
        // Clean: the first pass clears its reference bit, the second evicts it.
        #expect(table.evict(toBytes: 0) > 0)
        #expect(!table.isResident(key(1)))
        #expect(table.residentBytes == 0)
        #expect(table.evictions == 1)
        try table.install(key(1), record: store[key(1)])
        #expect(table.peek(key(1)) == Sum(value: 42))
        #expect(table.misses == 2)
    }

    @Test func anEntryThatEmptiesIsDeletedFromTheStore() throws {
        var table = PagedTable<Sum>(complete: false)
        try table.install(key(1), record: Sum(value: 5).encoded())
        #expect(table.residentEntries == 1)
        table.update(key(1), make: Sum.init) { $0.value -= 5 }
        #expect(table.peek(key(1)) == nil)
        #expect(table.residentEntries == 0)
        var changes = StateChanges()
        table.drainChanges(prefix: prefix, into: &changes)
        #expect(changes.puts.isEmpty)
        #expect(changes.deletes == [prefix + key(1)])
    }

    @Test func anEntryUsedSinceTheLastPassSurvivesIt() throws {
        var table = PagedTable<Sum>(complete: false)
        for n in 0..<3 { try table.install(key(n), record: Sum(value: Int64(n + 1)).encoded()) }
        let one = table.residentBytes / 3
        // Every bit is set: one pass clears them, the next evicts the first key met.
        table.evict(toBytes: 2 * one)
        #expect(!table.isResident(key(0)))
        #expect(table.isResident(key(1)) && table.isResident(key(2)))
        // key 1 is read again; the hand passes it (clearing its bit) and evicts key 2.
        table.touch(key(1))
        table.evict(toBytes: one)
        #expect(table.isResident(key(1)))
        #expect(!table.isResident(key(2)))
    }

    @Test func aResidentValueIsNeverReplacedByTheStoresOlderOne() throws {
        var table = PagedTable<Sum>(complete: false)
        try table.install(key(1), record: nil)
        table.update(key(1), make: Sum.init) { $0.value = 9 }
        try table.install(key(1), record: Sum(value: 1).encoded())
        #expect(table.peek(key(1)) == Sum(value: 9))
    }

    @Test func aDamagedRecordIsRefused() {
        var table = PagedTable<Sum>(complete: false)
        #expect(throws: StateDecodingError.self) { try table.install(key(1), record: [1, 2, 3]) }
        #expect(!table.isResident(key(1)))
    }

    /// Random updates, commits, evictions under a tight budget and reads, against a dictionary
    /// that keeps everything: every value read and the store after the last commit agree.
    @Test(arguments: [1 as UInt64, 2, 3, 4])
    func agreesWithATableThatKeepsEverything(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var table = PagedTable<Sum>(complete: false)
        var store: [[UInt8]: [UInt8]] = [:]
        var reference: [[UInt8]: Int64] = [:]
        let keys = 500
        let budget = 40 * (PagedTable<Sum>.slotOverhead + 12)
        for step in 0..<20_000 {
            let k = key(Int(rng.next() % UInt64(keys)))
            if !table.isResident(k) { try table.install(k, record: store[k]) }
            let roll = rng.next() % 10
            if roll < 6 {
                let delta = Int64(rng.next() % 7) - 3
                table.update(k, make: Sum.init) { $0.value += delta }
                reference[k, default: 0] += delta
                if reference[k] == 0 { reference[k] = nil }
            } else {
                table.touch(k)
                #expect(table.peek(k)?.value == reference[k], "step \(step)")
            }
            if step % 50 == 49 {
                var changes = StateChanges()
                table.drainChanges(prefix: prefix, into: &changes)
                commit(changes, to: &store)
                table.evict(toBytes: budget)
                #expect(table.residentBytes <= budget)
            }
        }
        var changes = StateChanges()
        table.drainChanges(prefix: prefix, into: &changes)
        commit(changes, to: &store)
        #expect(table.evictions > 1000)
        #expect(store.count == reference.count)
        for (k, value) in reference { #expect(try Sum.decode(store[k] ?? []).value == value) }
    }
}
