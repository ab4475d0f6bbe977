import RecstreamCore

/// The contents of a key-value store as a sorted map, built by applying ``StateChanges`` in
/// order: lets core tests check drain/restore without a database. Integration tests use the real
/// store.
public struct StateImage: Sendable {
    public private(set) var records: [[UInt8]: [UInt8]] = [:]

    public init() {}

    public mutating func apply(_ changes: StateChanges) {
        for range in changes.rangeDeletes {
            for key in records.keys where Self.less(key, range.to) && !Self.less(key, range.from) {
                records[key] = nil
            }
        }
        for key in changes.deletes { records[key] = nil }
        for put in changes.puts { records[put.key] = put.value }
    }

    /// Records whose key starts with `prefix`, in ascending byte order.
    public func scan(prefix: [UInt8]) -> [(key: [UInt8], value: [UInt8])] {
        records.filter { $0.key.starts(with: prefix) }.sorted { Self.less($0.key, $1.key) }.map { ($0.key, $0.value) }
    }

    public static func less(_ a: [UInt8], _ b: [UInt8]) -> Bool { a.lexicographicallyPrecedes(b) }

    /// Restores a shard from the image.
    public func restoreShard(partition: Int32, configuration: ShardConfiguration) throws -> Shard {
        var shard = Shard(partition: partition, configuration: configuration)
        for record in scan(prefix: shard.keyPrefix) { try shard.restore(key: record.key, value: record.value) }
        return shard
    }
}
