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

    public init() {}

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { records.append((key, value)) }
    public mutating func delete(_ key: [UInt8]) { records.append((key, nil)) }
}
