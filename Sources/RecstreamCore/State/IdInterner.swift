/// Maps id byte strings (user or item ids, 1 to 128 bytes) to dense indices 0, 1, 2, ... in
/// first-seen order, and back. Families index their per-id state by these numbers, so the hot
/// path hashes an id once and never allocates a String.
///
/// Layout for few cache misses per lookup: an open-addressing table of 16-byte slots (hash,
/// arena offset, index), kept at most half full, and an arena where each id is stored as a
/// length byte followed by its bytes. A lookup touches one slot and, when the hash matches, one
/// arena position. Cost: one 64-bit MurmurHash3 of the id plus about one probe. Memory: the id
/// bytes + 1, plus 16 bytes per slot (two slots per id at the worst load), plus 4 bytes per id
/// for the reverse map.
///
/// - Important: indices are stable for the life of the interner and are persisted with the
///   state (see ``newIDs``); they are never reused.
public struct IdInterner: Sendable {
    private struct Slot: Sendable {
        var hash: UInt64
        /// Arena offset of the id's length byte.
        var start: UInt32
        /// The id's index, or -1 for an empty slot.
        var index: Int32
    }

    private var arena: [UInt8] = []
    /// Arena offset of each id's length byte, by index.
    private var starts: [UInt32] = []
    private var slots: [Slot]
    private var mask: Int
    /// Ids below this index are already persisted.
    public private(set) var persistedCount: Int = 0

    public init(expectedCount: Int = 16) {
        var capacity = 16
        while capacity < expectedCount * 2 { capacity <<= 1 }
        slots = Array(repeating: Slot(hash: 0, start: 0, index: -1), count: capacity)
        mask = capacity - 1
    }

    /// The number of distinct ids interned.
    public var count: Int { starts.count }

    /// Approximate heap bytes held.
    public var approximateBytes: Int { arena.capacity + starts.capacity * 4 + slots.count * 16 }

    @inline(__always) static func hash(_ bytes: Span<UInt8>) -> UInt64 {
        MurmurHash3.hash128(bytes, seed: 0x5eed_1d5).low
    }

    @inline(__always) private func matches(_ start: UInt32, _ bytes: Span<UInt8>) -> Bool {
        let s = Int(start)
        guard Int(arena[s]) == bytes.count else { return false }
        var i = 0
        while i < bytes.count {
            if arena[s + 1 + i] != bytes[i] { return false }
            i += 1
        }
        return true
    }

    /// The index of `bytes`, or nil if never interned.
    public func lookup(_ bytes: Span<UInt8>) -> Int32? {
        let hash = Self.hash(bytes)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry.index < 0 { return nil }
            if entry.hash == hash && matches(entry.start, bytes) { return entry.index }
            slot = (slot + 1) & mask
        }
    }

    /// Whether one more id of any length fits: fewer than `maxCount` ids, and room for a longest
    /// id in the arena (offsets are 32-bit). O(1); callers check it before interning an id that
    /// may be new, so a full dictionary refuses input instead of trapping.
    @inline(__always) public func hasRoom(maxCount: Int) -> Bool {
        count < min(maxCount, Int(Int32.max)) && arena.count + Int(UInt8.max) + 1 <= Int(UInt32.max)
    }

    /// Whether interning `bytes` would succeed under `maxCount`: it is known, or there is room.
    public func admits(_ bytes: Span<UInt8>, maxCount: Int) -> Bool {
        hasRoom(maxCount: maxCount) || lookup(bytes) != nil
    }

    /// The index of `bytes`, interning it first if needed.
    /// - Returns: the index and whether it was new.
    public mutating func intern(_ bytes: Span<UInt8>) -> (index: Int32, isNew: Bool) {
        precondition(bytes.count <= Int(UInt8.max), "ids are at most 255 bytes here, got \(bytes.count)")
        let hash = Self.hash(bytes)
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = slots[slot]
            if entry.index < 0 { break }
            if entry.hash == hash && matches(entry.start, bytes) { return (entry.index, false) }
            slot = (slot + 1) & mask
        }
        precondition(count < Int(Int32.max), "IdInterner is full: \(count) ids")
        let index = Int32(count)
        let start = arena.count
        precondition(start + bytes.count + 1 <= Int(UInt32.max), "IdInterner arena exceeds 4 GiB")
        arena.append(UInt8(bytes.count))
        for i in bytes.indices { arena.append(bytes[i]) }
        starts.append(UInt32(start))
        slots[slot] = Slot(hash: hash, start: UInt32(start), index: index)
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
        var newSlots = [Slot](repeating: Slot(hash: 0, start: 0, index: -1), count: capacity)
        let newMask = capacity - 1
        for entry in slots where entry.index >= 0 {
            var slot = Int(truncatingIfNeeded: entry.hash) & newMask
            while newSlots[slot].index >= 0 { slot = (slot + 1) & newMask }
            newSlots[slot] = entry
        }
        slots = newSlots
        mask = newMask
    }

    /// The bytes of id `index`.
    public func bytes(of index: Int32) -> ArraySlice<UInt8> {
        let start = Int(starts[Int(index)])
        return arena[(start + 1)..<(start + 1 + Int(arena[start]))]
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
    /// - Throws: if `index` is not the next index, the id is already present, or it is empty or
    ///   longer than an id can be.
    public mutating func restore(index: Int32, bytes: [UInt8]) throws(StateDecodingError) {
        guard Int(index) == count else {
            throw StateDecodingError("id index \(index) restored out of order (expected \(count))")
        }
        guard !bytes.isEmpty, bytes.count <= Int(UInt8.max) else { throw StateDecodingError("id of \(bytes.count) bytes") }
        let (assigned, isNew) = intern(bytes.span)
        guard isNew, assigned == index else { throw StateDecodingError("id index \(index) is a duplicate") }
        persistedCount = count
    }
}
