/// Records to write in the next atomic commit: puts, point deletes and range deletes, with keys
/// in the store's global keyspace. The runtime turns one of these plus the input offsets into a
/// single storage write batch.
public struct StateChanges: Sendable {
    public struct Put: Sendable, Hashable {
        public var key: [UInt8]
        public var value: [UInt8]
    }

    /// A half-open key range `[from, to)` to delete.
    public struct RangeDelete: Sendable, Hashable {
        public var from: [UInt8]
        public var to: [UInt8]
    }

    public private(set) var puts: [Put] = []
    public private(set) var deletes: [[UInt8]] = []
    public private(set) var rangeDeletes: [RangeDelete] = []
    /// Bytes of keys and values, for commit-size metrics.
    public private(set) var byteCount: Int = 0

    public init() {}

    public var isEmpty: Bool { puts.isEmpty && deletes.isEmpty && rangeDeletes.isEmpty }
    public var recordCount: Int { puts.count + deletes.count + rangeDeletes.count }

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) {
        byteCount += key.count + value.count
        puts.append(Put(key: key, value: value))
    }

    public mutating func delete(_ key: [UInt8]) {
        byteCount += key.count
        deletes.append(key)
    }

    public mutating func deleteRange(from: [UInt8], to: [UInt8]) {
        byteCount += from.count + to.count
        rangeDeletes.append(RangeDelete(from: from, to: to))
    }

    /// Folds in `later`, changes drained after these, so that writing the result equals writing
    /// these and then `later` (a storage batch applies range deletes, then deletes, then puts).
    /// A put here whose key `later` deletes, point-wise or by range, is dropped. Used to carry an
    /// abandoned commit's changes into the next one. Cost: O(n log n) in the records.
    public mutating func merge(later: StateChanges) {
        if !later.deletes.isEmpty || !later.rangeDeletes.isEmpty {
            let deleted = Set(later.deletes)
            let ranges = later.rangeDeletes
            puts.removeAll { put in
                deleted.contains(put.key)
                    || ranges.contains { range in
                        put.key.lexicographicallyPrecedes(range.to) && !put.key.lexicographicallyPrecedes(range.from)
                    }
            }
            byteCount = puts.reduce(0) { $0 + $1.key.count + $1.value.count } + deletes.reduce(0) { $0 + $1.count }
                + rangeDeletes.reduce(0) { $0 + $1.from.count + $1.to.count }
        }
        append(later)
    }

    public mutating func append(_ other: StateChanges) {
        puts.append(contentsOf: other.puts)
        deletes.append(contentsOf: other.deletes)
        rangeDeletes.append(contentsOf: other.rangeDeletes)
        byteCount += other.byteCount
    }
}

/// The changes of one family, with keys relative to the family's own keyspace.
public struct FamilyChanges: Sendable {
    public private(set) var records: [(key: [UInt8], value: [UInt8]?)] = []
    /// Key ranges `[from, to)` to delete, applied before ``records``.
    public private(set) var deletedRanges: [(from: [UInt8], to: [UInt8])] = []

    public init() {}

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { records.append((key, value)) }
    public mutating func delete(_ key: [UInt8]) { records.append((key, nil)) }
    public mutating func deleteRange(from: [UInt8], to: [UInt8]) { deletedRanges.append((from, to)) }
}
