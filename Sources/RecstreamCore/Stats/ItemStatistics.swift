/// The item-statistics family: ``ItemCounters`` per item of a shard.
///
/// Per event: one counter update (O(1) for in-order events) and a dirty mark. Persisted as one
/// record per changed item per commit, keyed by the item's shard index.
public struct ItemStatistics: ShardFamily {
    public static let tag: UInt8 = 0x01
    public static let name = "item_stats"

    private var counters: [ItemCounters] = []
    private var dirty = DirtySet()
    private var itemsWithData = 0

    public init() {}

    @inline(__always) private mutating func ensure(_ item: Int32) {
        let needed = Int(item) + 1
        if counters.count < needed {
            counters.append(contentsOf: repeatElement(ItemCounters(), count: needed - counters.count))
        }
    }

    public mutating func apply(_ event: ShardEvent) {
        ensure(event.item)
        counters[Int(event.item)].record(event.type, at: event.time, watermark: event.watermark)
        dirty.insert(event.item)
    }

    public mutating func recordLateDrop(_ event: ShardEvent) {
        ensure(event.item)
        counters[Int(event.item)].recordLateDrop(event.type)
        dirty.insert(event.item)
    }

    /// Removes every event after `time` (see ``WindowedCounter/removeEvents(after:)``); changed
    /// items are written by the next drain. Returns how many events were removed.
    public mutating func removeEvents(after time: EventTime) -> UInt64 {
        var removed: UInt64 = 0
        for i in counters.indices {
            let n = counters[i].removeEvents(after: time)
            if n > 0 {
                removed += n
                dirty.insert(Int32(i))
            }
        }
        return removed
    }

    /// The counters of item `index`, or nil if it has none here.
    public func counters(of index: Int32) -> ItemCounters? {
        Int(index) < counters.count ? counters[Int(index)] : nil
    }

    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for item in dirty.drain() {
            var key = BinaryWriter(capacity: 4)
            key.appendBigEndian(UInt32(bitPattern: item))
            var value = BinaryWriter(capacity: 64)
            counters[Int(item)].encode(into: &value)
            changes.put(key.bytes, value.bytes)
        }
    }

    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        var keyReader = BinaryReader(key)
        let item = Int32(bitPattern: try keyReader.readBigEndianUInt32())
        try keyReader.expectEnd()
        guard item >= 0 else { throw StateDecodingError("negative item index") }
        var reader = BinaryReader(value)
        let decoded = try ItemCounters.decode(from: &reader)
        try reader.expectEnd()
        ensure(item)
        counters[Int(item)] = decoded
    }

    /// The `limit` items of this shard with the most events of `type` in `window` ending at
    /// `now`, highest first (ties by lower index). O(items) per call.
    public func topItems(type: EventType, window: StatsWindow, now: EventTime, limit: Int) -> [(item: Int32, count: UInt64)] {
        guard limit > 0 else { return [] }
        var top: [(item: Int32, count: UInt64)] = []
        for index in counters.indices {
            let count = counters[index][type].count(in: window, now: now)
            guard count > 0 else { continue }
            if top.count < limit || count > top[top.count - 1].count {
                let position = top.partitionPoint { $0.count < count }
                top.insert((Int32(index), count), at: position)
                if top.count > limit { top.removeLast() }
            }
        }
        return top
    }

    public var entryCount: Int { counters.count }

    public var approximateBytes: Int { counters.reduce(0) { $0 + $1.approximateBytes } }
}
