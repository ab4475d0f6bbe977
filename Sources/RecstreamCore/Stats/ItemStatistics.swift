/// The item-statistics family: ``ItemCounters`` per item of a shard, keyed by the item id's bytes,
/// at home in the store and held in a ``PagedTable`` (the whole of it in a table created complete).
///
/// Per event: one table access (a hash of the item id) and one counter update (O(1) for in-order
/// events). Persisted as one record per changed item per commit: family key = the item id bytes.
public struct ItemStatistics: Sendable {
    public static let tag: UInt8 = 0x01
    public static let name = "item_stats"

    public private(set) var table: PagedTable<ItemCounters>

    /// - Parameter complete: true when no store stands behind the shard (everything in memory).
    public init(complete: Bool = true) { table = PagedTable(complete: complete) }

    /// Counts one applied event of `item` (its id bytes).
    public mutating func apply(item: [UInt8], type: EventType, time: EventTime, watermark: EventTime) {
        table.update(item, make: ItemCounters.init) { $0.record(type, at: time, watermark: watermark) }
    }

    /// Notes an event of `item` dropped for arriving later than the allowed lateness.
    public mutating func recordLateDrop(item: [UInt8], type: EventType) {
        table.update(item, make: ItemCounters.init) { $0.recordLateDrop(type) }
    }

    /// The counters of `item`, if resident and present.
    public func counters(of item: [UInt8]) -> ItemCounters? { table.peek(item) }

    /// Removes every event after `time` from the resident entries (see
    /// ``WindowedCounter/removeEvents(after:)``). Returns how many were removed.
    public mutating func removeEvents(after time: EventTime) -> UInt64 {
        var removed: UInt64 = 0
        for key in table.residentKeys {
            guard var copy = table.peek(key) else { continue }
            let n = copy.removeEvents(after: time)
            guard n > 0 else { continue }
            removed += n
            table.update(key, make: ItemCounters.init) { $0 = copy }
        }
        return removed
    }

    public mutating func drainChanges(prefix: [UInt8], into changes: inout StateChanges) {
        table.drainChanges(prefix: prefix, into: &changes)
    }

    /// Installs one committed record (restore, or a prefetch of the store's value).
    public mutating func install(item: [UInt8], record: [UInt8]?) throws(StateDecodingError) {
        try table.install(item, record: record)
    }

    /// The `limit` resident items with the most events of `type` in `window` ending at `now`,
    /// highest first (ties by id). O(resident items) per call; a paged shard's answer covers its
    /// store instead (the runtime scans it).
    public func topItems(type: EventType, window: StatsWindow, now: EventTime, limit: Int) -> [(item: [UInt8], count: UInt64)] {
        guard limit > 0 else { return [] }
        var top = TopCounts(limit: limit)
        for key in table.residentKeys {
            guard let c = table.peek(key) else { continue }
            top.offer(key, c[type].count(in: window, now: now))
        }
        return top.ranked
    }

    /// Evicts clean entries to at most `budget` resident bytes (see ``PagedTable/evict(toBytes:)``).
    @discardableResult
    public mutating func evict(toBytes budget: Int) -> Int { table.evict(toBytes: budget) }

    public var entryCount: Int { table.residentEntries }

    public var approximateBytes: Int { table.residentBytes }
}

/// The `limit` largest counts offered, highest first, ties by key; counts of 0 are left out.
public struct TopCounts: Sendable {
    public let limit: Int
    public private(set) var ranked: [(item: [UInt8], count: UInt64)] = []

    public init(limit: Int) { self.limit = limit }

    @inline(__always) static func before(_ a: (item: [UInt8], count: UInt64), _ b: (item: [UInt8], count: UInt64)) -> Bool {
        a.count != b.count ? a.count > b.count : a.item.lexicographicallyPrecedes(b.item)
    }

    public mutating func offer(_ item: [UInt8], _ count: UInt64) {
        guard count > 0, limit > 0 else { return }
        let candidate = (item: item, count: count)
        if ranked.count == limit, let last = ranked.last, !Self.before(candidate, last) { return }
        let position = ranked.partitionPoint { !Self.before($0, candidate) }
        ranked.insert(candidate, at: position)
        if ranked.count > limit { ranked.removeLast() }
    }
}
