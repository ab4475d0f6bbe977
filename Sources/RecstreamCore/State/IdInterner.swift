/// Maps id byte strings (user or item ids, 1 to 128 bytes) to dense indices 0, 1, 2, ... in
/// first-seen order, and back. Families index their per-id state by these numbers, so the hot
/// path hashes an id once and never allocates a String.
///
/// Cost: one 64-bit MurmurHash3 of the id plus, on average, about one probe of an open-addressing
/// table kept at most half full. Memory: the id bytes plus 16 bytes per id (offset, hash) plus
/// 8 bytes per slot (two slots per id at the worst load).
///
/// - Important: indices are stable for the life of the interner and are persisted with the
///   state (see ``newIDs``); they are never reused.
public struct IdInterner: Sendable {
    private var arena: [UInt8] = []
    /// `starts[i]` is the arena offset of id i; `starts[count]` is the end of the last id.
    private var starts: [UInt32] = [0]
    private var hashes: [UInt64] = []
    /// Open-addressing slots holding an id index, or -1 when empty. Capacity is a power of two.
    private var slots: [Int32]
    private var mask: Int
    /// Ids below this index are already persisted.
    public private(set) var persistedCount: Int = 0

    public init(expectedCount: Int = 16) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = Array(repeating: -1, count: capacity)
        mask = capacity - 1
    }

    /// The number of distinct ids interned.
    public var count: Int { hashes.count }

    /// Approximate heap bytes held.
    public var approximateBytes: Int { arena.capacity + starts.capacity * 4 + hashes.capacity * 8 + slots.count * 4 }

    @inline(__always) static func hash(_ bytes: Span<UInt8>) -> UInt64 {
        MurmurHash3.hash128(bytes, seed: 0x5eed_1d5).low
    }

    @inline(__always) private func matches(_ index: Int32, _ bytes: Span<UInt8>) -> Bool {
        let start = Int(starts[Int(index)])
        let end = Int(starts[Int(index) + 1])
        guard end - start == bytes.count else { return false }
        var i = 0
        while i < bytes.count {
            if arena[start + i] != bytes[i] { return false }
            i += 1
        }
        return true
    }

    /// The index of `bytes`, or nil if never interned.
    public func lookup(_ bytes: Span<UInt8>) -> Int32? {
        lookup(bytes, hash: Self.hash(bytes))
    }

    private func lookup(_ bytes: Span<UInt8>, hash: UInt64) -> Int32? {
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = slots[slot]
            if index < 0 { return nil }
            if hashes[Int(index)] == hash && matches(index, bytes) { return index }
            slot = (slot + 1) & mask
        }
    }

    /// The index of `bytes`, interning it first if needed.
    /// - Returns: the index and whether it was new.
    public mutating func intern(_ bytes: Span<UInt8>) -> (index: Int32, isNew: Bool) {
        let hash = Self.hash(bytes)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let index = slots[slot]
            if index < 0 { break }
            if hashes[Int(index)] == hash && matches(index, bytes) { return (index, false) }
            slot = (slot + 1) & mask
        }
        precondition(count < Int(Int32.max), "IdInterner is full: \(count) ids")
        let index = Int32(count)
        for i in bytes.indices { arena.append(bytes[i]) }
        precondition(arena.count <= Int(UInt32.max), "IdInterner arena exceeds 4 GiB")
        starts.append(UInt32(arena.count))
        hashes.append(hash)
        slots[slot] = index
        if count * 2 > slots.count { grow() }
        return (index, true)
    }

    /// Interns an id given as a String (restore, tests, tools).
    @discardableResult
    public mutating func intern(_ string: String) -> (index: Int32, isNew: Bool) {
        let bytes = Array(string.utf8)
        return intern(bytes.span)
    }

    /// The index of a String id, or nil.
    public func lookup(_ string: String) -> Int32? {
        let bytes = Array(string.utf8)
        return lookup(bytes.span)
    }

    private mutating func grow() {
        let capacity = slots.count * 2
        var newSlots = [Int32](repeating: -1, count: capacity)
        let newMask = capacity - 1
        for index in 0..<count {
            var slot = Int(truncatingIfNeeded: hashes[index]) & newMask
            while newSlots[slot] >= 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = Int32(index)
        }
        slots = newSlots
        mask = newMask
    }

    /// The bytes of id `index`.
    public func bytes(of index: Int32) -> ArraySlice<UInt8> {
        arena[Int(starts[Int(index)])..<Int(starts[Int(index) + 1])]
    }

    /// The id `index` as a String (ids are validated UTF-8 on ingest).
    public func string(of index: Int32) -> String {
        String(decoding: bytes(of: index), as: UTF8.self)
    }

    /// Ids interned since the last ``markPersisted()``, for the next commit.
    public var newIDs: Range<Int32> { Int32(persistedCount)..<Int32(count) }

    /// Records that every current id is in the committed state.
    public mutating func markPersisted() { persistedCount = count }

    /// Re-adds a persisted id during restore; ids must arrive in index order.
    /// - Throws: if `index` is not the next index or the id is already present.
    public mutating func restore(index: Int32, bytes: [UInt8]) throws(StateDecodingError) {
        guard Int(index) == count else {
            throw StateDecodingError("id index \(index) restored out of order (expected \(count))")
        }
        let (assigned, isNew) = intern(bytes.span)
        guard isNew, assigned == index else { throw StateDecodingError("id index \(index) is a duplicate") }
        persistedCount = count
    }
}
