/// Bounds of the neighbour tables. A table of increments is pruned back to
/// `candidatesPerItem` (at most ``maxKept``) entries when it reaches ``pruneRatio`` times that; an
/// ItemCF batch may pass the trigger by up to N − 1 entries (N the history length, at most 1,000)
/// before the prune.
enum NeighbourTableLimits {
    static let maxKept = 16_000
    /// Trigger / kept. 3 rather than 2: the amortised pruning cost per new entry is
    /// ratio / (ratio − 1), 1.5 instead of 2, which measured 15–25% more ItemCF throughput.
    static let pruneRatio = 3
    static let maxEntries = pruneRatio * maxKept + 1_000
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

/// The neighbours of one item with a value each, in one array of entries: up to 8 entries packed
/// at the front and scanned; beyond that an open-addressing table (linear probing, at most 3/4
/// full, 32 slots or more) keyed by a multiplicative hash of the neighbour.
///
/// Cost: a lookup or an add touches one entry, or a short run of them (about 2.5 on a miss at the
/// highest load). Memory: `stride(entry)` bytes per slot (8 for counts, 16 for scores), 1.33 to
/// 2.67 slots per entry (hashed), plus one array header.
struct NeighbourTable<Value: NeighbourValue>: Sendable {
    /// Packed (neighbour ≥ 0) in linear mode; slots with neighbour −1 empty in hashed mode.
    private var slots: [NeighbourEntry<Value>] = []
    private(set) var count = 0

    private static var linearLimit: Int { 8 }
    private static var emptySlot: NeighbourEntry<Value> { NeighbourEntry(neighbour: -1, value: .zero) }

    init() {}

    /// A table holding `entries` (neighbours distinct).
    init(entries: [NeighbourEntry<Value>]) {
        precondition(entries.count < NeighbourTableLimits.maxEntries, "a neighbour table of \(entries.count) entries")
        rebuild(from: entries)
    }

    var isEmpty: Bool { count == 0 }

    @inline(__always) private var isHashed: Bool { slots.count > Self.linearLimit }

    /// The home slot of `neighbour` in hashed mode: the top bits of a multiplicative hash.
    @inline(__always) private func home(_ neighbour: Int32) -> Int {
        let shift = UInt32(32 - slots.count.trailingZeroBitCount)
        return Int(truncatingIfNeeded: (UInt32(bitPattern: neighbour) &* 0x9E37_79B1) >> shift)
    }

    /// The slot holding `neighbour`, or nil.
    @inline(__always) private func slot(of neighbour: Int32) -> Int? {
        if !isHashed {
            var i = 0
            while i < count {
                if slots[i].neighbour == neighbour { return i }
                i += 1
            }
            return nil
        }
        let mask = slots.count - 1
        var s = home(neighbour)
        while true {
            let n = slots[s].neighbour
            if n == neighbour { return s }
            if n < 0 { return nil }
            s = (s + 1) & mask
        }
    }

    @inline(__always) func value(of neighbour: Int32) -> Value? {
        guard let s = slot(of: neighbour) else { return nil }
        return slots[s].value
    }

    @inline(__always) func contains(_ neighbour: Int32) -> Bool { slot(of: neighbour) != nil }

    /// Adds `value` to `neighbour`'s entry, creating the entry at `value` if absent.
    /// - Returns: the number of entries afterwards.
    @inline(__always) @discardableResult
    mutating func add(_ neighbour: Int32, _ value: Value) -> Int {
        if !isHashed {
            var i = 0
            while i < count {
                if slots[i].neighbour == neighbour {
                    slots[i].value = slots[i].value + value
                    return count
                }
                i += 1
            }
            if count < slots.count {
                slots[count] = NeighbourEntry(neighbour: neighbour, value: value)
                count += 1
                return count
            }
            if count < Self.linearLimit {
                slots.append(NeighbourEntry(neighbour: neighbour, value: value))
                count += 1
                return count
            }
            var all = entries
            all.append(NeighbourEntry(neighbour: neighbour, value: value))
            rebuild(from: all)
            return count
        }
        let mask = slots.count - 1
        var s = home(neighbour)
        while true {
            let n = slots[s].neighbour
            if n == neighbour {
                slots[s].value = slots[s].value + value
                return count
            }
            if n < 0 { break }
            s = (s + 1) & mask
        }
        precondition(count < NeighbourTableLimits.maxEntries, "neighbour table overflow: \(count) entries")
        slots[s] = NeighbourEntry(neighbour: neighbour, value: value)
        count += 1
        if count * 4 > slots.count * 3 { rebuild(from: entries) }
        return count
    }

    /// Lays `entries` out afresh: packed when at most 8, else hashed in the smallest power of two
    /// of at least 32 slots that keeps the table at most half full.
    private mutating func rebuild(from entries: [NeighbourEntry<Value>]) {
        count = entries.count
        guard entries.count > Self.linearLimit else {
            slots = entries
            return
        }
        var capacity = 32
        while capacity < entries.count * 2 { capacity <<= 1 }
        slots = [NeighbourEntry<Value>](repeating: Self.emptySlot, count: capacity)
        let mask = capacity - 1
        for e in entries {
            var s = home(e.neighbour)
            while slots[s].neighbour >= 0 { s = (s + 1) & mask }
            slots[s] = e
        }
    }

    /// Calls `body` for every entry, in slot order.
    @inline(__always) func forEachEntry(_ body: (NeighbourEntry<Value>) -> Void) {
        if !isHashed {
            for i in 0..<count { body(slots[i]) }
        } else {
            for e in slots where e.neighbour >= 0 { body(e) }
        }
    }

    /// The entries, in slot order.
    var entries: [NeighbourEntry<Value>] {
        var out: [NeighbourEntry<Value>] = []
        out.reserveCapacity(count)
        forEachEntry { out.append($0) }
        return out
    }

    /// Keeps the `keep` entries that rank highest (ties: the smaller neighbour index), dropping the
    /// rest. `ranks` holds one rank per entry in ``forEachEntry(_:)`` order. Cost O(n) expected for
    /// n entries (a selection, not a sort); callers prune only when a table has doubled, so the
    /// amortised cost per add is O(1).
    /// - Returns: the largest `value.score` dropped, or 0.
    @discardableResult
    mutating func prune(keeping keep: Int, ranks: [Double]) -> Double {
        guard count > keep else { return 0 }
        precondition(ranks.count == count, "\(ranks.count) ranks for \(count) entries")
        var ranked: [RankedEntry] = []
        ranked.reserveCapacity(count)
        var k = 0
        forEachEntry { e in
            ranked.append(RankedEntry(rank: ranks[k], entry: e))
            k += 1
        }
        RankedEntry.selectBest(&ranked, keep)
        var largestDropped = 0.0
        for r in ranked[keep...] { largestDropped = max(largestDropped, r.entry.value.score) }
        rebuild(from: ranked[..<keep].map(\.entry))
        return largestDropped
    }

    /// Keeps the `keep` entries that rank highest by `rank`; see ``prune(keeping:ranks:)``.
    @discardableResult
    mutating func prune(keeping keep: Int, rank: (NeighbourEntry<Value>) -> Double) -> Double {
        guard count > keep else { return 0 }
        var ranks: [Double] = []
        ranks.reserveCapacity(count)
        forEachEntry { ranks.append(rank($0)) }
        return prune(keeping: keep, ranks: ranks)
    }

    private struct RankedEntry {
        var rank: Double
        var entry: NeighbourEntry<Value>

        /// The order pruning keeps by: rank descending, then neighbour ascending.
        @inline(__always) static func better(_ a: RankedEntry, _ b: RankedEntry) -> Bool {
            a.rank != b.rank ? a.rank > b.rank : a.entry.neighbour < b.entry.neighbour
        }

        /// Reorders `items` so that its first `k` are the best `k` (in no particular order):
        /// quickselect with a median-of-three pivot, deterministic.
        static func selectBest(_ items: inout [RankedEntry], _ k: Int) {
            var low = 0
            var high = items.count - 1
            while low < high {
                let mid = low + (high - low) / 2
                // Median of three to position `mid`.
                if better(items[mid], items[low]) { items.swapAt(mid, low) }
                if better(items[high], items[low]) { items.swapAt(high, low) }
                if better(items[high], items[mid]) { items.swapAt(high, mid) }
                let pivot = items[mid]
                var i = low
                var j = high
                while i <= j {
                    while better(items[i], pivot) { i += 1 }
                    while better(pivot, items[j]) { j -= 1 }
                    if i <= j {
                        items.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                // [low, j] are at least as good as the pivot, [i, high] at most.
                if k - 1 <= j {
                    high = j
                } else if k - 1 >= i {
                    low = i
                } else {
                    return
                }
            }
        }
    }

    /// Removes every entry.
    mutating func removeAll() {
        slots = []
        count = 0
    }

    /// Heap bytes held.
    var approximateBytes: Int {
        slots.capacity > 0 ? 32 + slots.capacity * MemoryLayout<NeighbourEntry<Value>>.stride : 0
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
