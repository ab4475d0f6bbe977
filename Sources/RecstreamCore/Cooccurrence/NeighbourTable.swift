/// Bounds of a ``NeighbourTable``: slots are 16-bit, so a table holds fewer than 65,535 entries;
/// the state prunes a table back to `candidatesPerItem` (at most ``maxKept``) whenever it reaches
/// twice that.
enum NeighbourTableLimits {
    static let maxKept = 16_000
    static let maxEntries = 2 * maxKept
}

/// A value accumulated per (item, neighbour) pair: a co-occurrence count or a similarity sum.
protocol NeighbourValue: Sendable, Equatable {
    static var zero: Self { get }
    static func + (lhs: Self, rhs: Self) -> Self
    /// The value as a Double, for ranking.
    var score: Double { get }
    func encode(into writer: inout BinaryWriter)
    static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> Self
}

extension UInt32: NeighbourValue {
    @inline(__always) var score: Double { Double(self) }
    func encode(into writer: inout BinaryWriter) { writer.appendVarint(UInt64(self)) }
    static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> UInt32 {
        let v = try reader.readVarint()
        guard v <= UInt64(UInt32.max) else { throw StateDecodingError("count \(v) exceeds 32 bits") }
        return UInt32(v)
    }
}

extension Double: NeighbourValue {
    @inline(__always) var score: Double { self }
    func encode(into writer: inout BinaryWriter) { writer.appendDouble(self) }
    static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> Double {
        let v = try reader.readDouble()
        guard v.isFinite else { throw StateDecodingError("non-finite score") }
        return v
    }
}

/// One neighbour and its accumulated value.
struct NeighbourEntry<Value: NeighbourValue>: Sendable {
    var neighbour: Int32
    var value: Value
}

/// The neighbours of one item with a value each: a dense entry array plus, once it holds more than
/// eight entries, an open-addressing index of 16-bit slots (kept at most half full).
///
/// Cost: a lookup or an add is one multiplicative hash and about one probe; small tables are
/// scanned. Memory: `stride(entry)` bytes per entry (8 for counts, 16 for scores) plus 2 to 4
/// bytes of slots per entry, plus two array headers.
struct NeighbourTable<Value: NeighbourValue>: Sendable {
    private(set) var entries: [NeighbourEntry<Value>] = []
    /// 0 = empty, else entry position + 1; a power of two long. Empty while the table is small.
    private var slots: [UInt16] = []

    private static var linearLimit: Int { 8 }

    init() {}

    /// A table holding `entries` (neighbours distinct).
    init(entries: [NeighbourEntry<Value>]) {
        precondition(entries.count < NeighbourTableLimits.maxEntries, "a neighbour table of \(entries.count) entries")
        self.entries = entries
        if entries.count > Self.linearLimit { rebuildSlots() }
    }

    var count: Int { entries.count }
    var isEmpty: Bool { entries.isEmpty }

    /// The home slot of `neighbour`: the top bits of a multiplicative hash (slots.count >= 32).
    @inline(__always) private func home(_ neighbour: Int32) -> Int {
        let shift = UInt32(32 - slots.count.trailingZeroBitCount)
        return Int(truncatingIfNeeded: (UInt32(bitPattern: neighbour) &* 0x9E37_79B1) >> shift)
    }

    /// The position of `neighbour` in ``entries``, or nil.
    @inline(__always) func position(of neighbour: Int32) -> Int? {
        if slots.isEmpty {
            var i = 0
            while i < entries.count {
                if entries[i].neighbour == neighbour { return i }
                i += 1
            }
            return nil
        }
        let mask = slots.count - 1
        var s = home(neighbour)
        while true {
            let p = Int(slots[s])
            if p == 0 { return nil }
            if entries[p - 1].neighbour == neighbour { return p - 1 }
            s = (s + 1) & mask
        }
    }

    @inline(__always) func value(of neighbour: Int32) -> Value? {
        guard let p = position(of: neighbour) else { return nil }
        return entries[p].value
    }

    /// Adds `value` to `neighbour`'s entry, creating the entry at `value` if absent.
    /// - Returns: the number of entries afterwards.
    @inline(__always) @discardableResult
    mutating func add(_ neighbour: Int32, _ value: Value) -> Int {
        if slots.isEmpty {
            var i = 0
            while i < entries.count {
                if entries[i].neighbour == neighbour {
                    entries[i].value = entries[i].value + value
                    return entries.count
                }
                i += 1
            }
            entries.append(NeighbourEntry(neighbour: neighbour, value: value))
            if entries.count > Self.linearLimit { rebuildSlots() }
            return entries.count
        }
        let mask = slots.count - 1
        var s = home(neighbour)
        while true {
            let p = Int(slots[s])
            if p == 0 { break }
            if entries[p - 1].neighbour == neighbour {
                entries[p - 1].value = entries[p - 1].value + value
                return entries.count
            }
            s = (s + 1) & mask
        }
        precondition(entries.count < NeighbourTableLimits.maxEntries, "neighbour table overflow: \(entries.count) entries")
        entries.append(NeighbourEntry(neighbour: neighbour, value: value))
        slots[s] = UInt16(entries.count)
        if entries.count * 2 > slots.count { rebuildSlots() }
        return entries.count
    }

    private mutating func rebuildSlots() {
        guard entries.count > Self.linearLimit else {
            slots = []
            return
        }
        var capacity = 32
        while capacity < entries.count * 2 { capacity <<= 1 }
        slots = [UInt16](repeating: 0, count: capacity)
        let mask = capacity - 1
        for i in entries.indices {
            var s = home(entries[i].neighbour)
            while slots[s] != 0 { s = (s + 1) & mask }
            slots[s] = UInt16(i + 1)
        }
    }

    /// Keeps the `keep` entries that rank highest by `rank` (ties: the smaller neighbour index),
    /// dropping the rest. Cost O(n log n) for n entries; callers prune only when a table has
    /// doubled, so the amortised cost per add is O(log n).
    mutating func prune(keeping keep: Int, rank: (NeighbourEntry<Value>) -> Double) {
        guard entries.count > keep else { return }
        var ranked = entries.map { (rank: rank($0), entry: $0) }
        ranked.sort { $0.rank != $1.rank ? $0.rank > $1.rank : $0.entry.neighbour < $1.entry.neighbour }
        entries = ranked.prefix(keep).map(\.entry)
        rebuildSlots()
    }

    /// Removes every entry.
    mutating func removeAll() {
        entries = []
        slots = []
    }

    /// Heap bytes held.
    var approximateBytes: Int {
        (entries.capacity > 0 ? 32 + entries.capacity * MemoryLayout<NeighbourEntry<Value>>.stride : 0)
            + (slots.capacity > 0 ? 32 + slots.capacity * 2 : 0)
    }

    /// Entries ordered by neighbour, for persistence.
    var entriesByNeighbour: [NeighbourEntry<Value>] { entries.sorted { $0.neighbour < $1.neighbour } }

    /// Appends the persisted form: entry count, then neighbours ascending as deltas, each with its value.
    func encode(into writer: inout BinaryWriter) {
        let sorted = entriesByNeighbour
        writer.appendVarint(UInt64(sorted.count))
        var previous: Int64 = -1
        for e in sorted {
            writer.appendVarint(UInt64(Int64(e.neighbour) - previous - 1))
            e.value.encode(into: &writer)
            previous = Int64(e.neighbour)
        }
    }

    static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> NeighbourTable {
        let n = try reader.readVarint()
        guard n < UInt64(NeighbourTableLimits.maxEntries), n <= UInt64(reader.remaining) else {
            throw StateDecodingError("neighbour table of \(n) entries")
        }
        var entries: [NeighbourEntry<Value>] = []
        entries.reserveCapacity(Int(n))
        var previous: Int64 = -1
        for _ in 0..<Int(n) {
            let gap = try reader.readVarint()
            guard gap <= UInt64(Int32.max) else { throw StateDecodingError("neighbour gap \(gap)") }
            let neighbour = previous + 1 + Int64(gap)
            guard neighbour <= Int64(Int32.max) else { throw StateDecodingError("neighbour index \(neighbour)") }
            entries.append(NeighbourEntry(neighbour: Int32(neighbour), value: try Value.decode(from: &reader)))
            previous = neighbour
        }
        return NeighbourTable(entries: entries)
    }
}
