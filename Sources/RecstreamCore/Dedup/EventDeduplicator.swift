/// Remembers the ids of recently applied events so that a retried event (same `event_id`) is
/// applied once.
///
/// Guarantee: an event whose id was applied earlier is recognised as a duplicate as long as the
/// earlier event's time is within ``windowMillis`` of the watermark (the largest event time
/// applied so far). Ids are kept by 1-minute buckets of event time and a bucket is forgotten once
/// all of its minute is older than `watermark - window`, so an id can be remembered up to one
/// minute longer than the window, never shorter. With the window at least the allowed lateness
/// (the configuration enforces it) every event that is not dropped as late is checked against
/// every earlier event it could duplicate.
///
/// Ids are stored as their 128-bit MurmurHash3 (seed 0): two different ids collide with
/// probability about n²/2¹²⁹, below 10⁻²⁰ for a billion ids in the window.
///
/// Cost: one hash and about one probe per event; memory about 40 bytes per remembered id (a slot
/// of a table kept at most 70% full plus the id in its minute's expiry list).
public struct EventDeduplicator: Sendable {
    /// How far behind the watermark ids are still remembered, in milliseconds of event time.
    public let windowMillis: Int64

    /// Open-addressing table, linear probing: slot i holds (low, high) at 2i and 2i + 1, so one
    /// probe touches one cache line. (0, 0) marks an empty slot.
    private var table: [UInt64]
    private var mask: Int
    public private(set) var count: Int = 0

    /// Ids per minute of event time, ascending by minute, for expiry.
    private var byMinute: [MinuteKeys] = []
    /// Ids added since the last ``drainNew()``, ascending by minute, for the next commit.
    private var pending: [MinuteKeys] = []
    /// Every minute at or before this has been forgotten; persisted records up to it can be deleted.
    public private(set) var expiredThroughMinute: UInt32? = nil

    private struct MinuteKeys: Sendable {
        var minute: UInt32
        var keys: [Hash128]
    }

    public init(windowMillis: Int64, expectedCount: Int = 1024) {
        precondition(windowMillis >= 0, "dedup window must be >= 0, got \(windowMillis)")
        self.windowMillis = windowMillis
        var capacity = 64
        while Double(capacity) * 0.7 < Double(expectedCount) { capacity <<= 1 }
        table = Array(repeating: 0, count: capacity * 2)
        mask = capacity - 1
    }

    /// The hash stored for an id; (0, 0) marks an empty slot, so that value is remapped.
    @inline(__always) public static func key(for eventID: Span<UInt8>) -> Hash128 {
        let h = MurmurHash3.hash128(eventID, seed: 0)
        return (h.low == 0 && h.high == 0) ? Hash128(low: 0, high: 1) : h
    }

    /// Where `key` is, or where it would go.
    public enum Probe: Sendable {
        case present
        /// Not remembered; `slot` is where ``insert(_:at:probe:)`` puts it if the table is not
        /// changed in between.
        case absent(slot: Int)
    }

    /// One probe sequence: finds `key` or the empty slot it would take.
    @inline(__always) public func probe(_ key: Hash128) -> Probe {
        var slot = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let low = table[2 &* slot]
            let high = table[2 &* slot &+ 1]
            if low == key.low && high == key.high { return .present }
            if low == 0 && high == 0 { return .absent(slot: slot) }
            slot = (slot &+ 1) & mask
        }
    }

    /// Whether `key` is remembered.
    public func contains(_ key: Hash128) -> Bool {
        if case .present = probe(key) { return true }
        return false
    }

    /// Remembers `key` for an event at `time`. Returns false if it was already remembered.
    @discardableResult
    public mutating func insert(_ key: Hash128, at time: EventTime) -> Bool {
        let p = probe(key)
        guard case .absent = p else { return false }
        insert(key, at: time, probe: p)
        return true
    }

    /// Remembers `key`, which `probe` (taken with no change to the table since) found absent.
    public mutating func insert(_ key: Hash128, at time: EventTime, probe: Probe) {
        guard case .absent(let slot) = probe else { return }
        table[2 &* slot] = key.low
        table[2 &* slot &+ 1] = key.high
        count &+= 1
        if Double(count) > Double(mask + 1) * 0.7 { resize(to: (mask + 1) * 2) }
        let minute = UInt32(truncatingIfNeeded: time.millis / 60_000)
        Self.append(key, minute: minute, to: &byMinute)
        Self.append(key, minute: minute, to: &pending)
    }

    /// Appends to the list of `minute`, keeping the lists ascending; O(1) for the newest minute.
    @inline(__always) private static func append(_ key: Hash128, minute: UInt32, to lists: inout [MinuteKeys]) {
        if let last = lists.indices.last, lists[last].minute == minute {
            lists[last].keys.append(key)
            return
        }
        let position = lists.partitionPoint { $0.minute >= minute }
        if position < lists.count && lists[position].minute == minute {
            lists[position].keys.append(key)
        } else {
            lists.insert(MinuteKeys(minute: minute, keys: [key]), at: position)
        }
    }

    private mutating func insertIntoTable(_ key: Hash128) -> Bool {
        let p = probe(key)
        guard case .absent(let slot) = p else { return false }
        table[2 &* slot] = key.low
        table[2 &* slot &+ 1] = key.high
        count &+= 1
        if Double(count) > Double(mask + 1) * 0.7 { resize(to: (mask + 1) * 2) }
        return true
    }

    private mutating func resize(to capacity: Int) {
        let old = table
        table = Array(repeating: 0, count: capacity * 2)
        mask = capacity - 1
        var i = 0
        while i < old.count {
            let low = old[i]
            let high = old[i + 1]
            if !(low == 0 && high == 0) {
                var slot = Int(truncatingIfNeeded: low) & mask
                while !(table[2 * slot] == 0 && table[2 * slot + 1] == 0) { slot = (slot + 1) & mask }
                table[2 * slot] = low
                table[2 * slot + 1] = high
            }
            i += 2
        }
    }

    /// Linear-probing removal with backward shift, so no tombstones accumulate.
    private mutating func removeFromTable(_ key: Hash128) {
        var slot = Int(truncatingIfNeeded: key.low) & mask
        while true {
            let low = table[2 * slot]
            let high = table[2 * slot + 1]
            if low == 0 && high == 0 { return }
            if low == key.low && high == key.high { break }
            slot = (slot + 1) & mask
        }
        count -= 1
        var hole = slot
        var next = (hole + 1) & mask
        while !(table[2 * next] == 0 && table[2 * next + 1] == 0) {
            let home = Int(truncatingIfNeeded: table[2 * next]) & mask
            // Move `next` into the hole if the hole lies on its probe path, cyclically in [home, next).
            if (hole - home) & mask < (next - home) & mask {
                table[2 * hole] = table[2 * next]
                table[2 * hole + 1] = table[2 * next + 1]
                hole = next
            }
            next = (next + 1) & mask
        }
        table[2 * hole] = 0
        table[2 * hole + 1] = 0
    }

    /// Forgets every minute that lies entirely before `watermark - window`.
    /// - Returns: whether anything was forgotten (a pending ``Probe`` is then stale).
    @discardableResult
    public mutating func expire(watermark: EventTime) -> Bool {
        let horizon = watermark.millis - windowMillis
        guard horizon >= 60_000, let oldest = byMinute.first?.minute else { return false }
        // Minute m is forgotten when (m + 1) * 60_000 <= horizon.
        let lastExpired = UInt32(clamping: horizon / 60_000 - 1)
        guard oldest <= lastExpired else { return false }
        var removed = 0
        while removed < byMinute.count && byMinute[removed].minute <= lastExpired {
            for key in byMinute[removed].keys { removeFromTable(key) }
            removed += 1
        }
        byMinute.removeFirst(removed)
        let stale = pending.partitionPoint { $0.minute > lastExpired }
        pending.removeFirst(stale)
        if expiredThroughMinute.map({ $0 < lastExpired }) ?? true { expiredThroughMinute = lastExpired }
        return true
    }

    /// Repairs a memory that a far-future watermark reached: forgets the ids of minutes after
    /// `watermark` and moves the expiry horizon back to where `watermark` puts it, so ids of the
    /// minutes in between are remembered again as they arrive. Returns how many ids were forgotten.
    public mutating func rewind(to watermark: EventTime) -> Int {
        let lastMinute = UInt32(clamping: max(watermark.millis, 0) / 60_000)
        var forgotten = 0
        while let newest = byMinute.last, newest.minute > lastMinute {
            for key in newest.keys { removeFromTable(key) }
            forgotten += newest.keys.count
            byMinute.removeLast()
        }
        pending.removeAll { $0.minute > lastMinute }
        let horizon = watermark.millis - windowMillis
        let expired: UInt32? = horizon >= 60_000 ? UInt32(clamping: horizon / 60_000 - 1) : nil
        if let current = expiredThroughMinute, expired.map({ current > $0 }) ?? true { expiredThroughMinute = expired }
        return forgotten
    }

    /// The ids remembered since the last call, grouped by minute, for persisting.
    public mutating func drainNew() -> [(minute: UInt32, keys: [Hash128])] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending.map { (minute: $0.minute, keys: $0.keys) }
    }

    /// Re-adds persisted ids on restore.
    public mutating func restore(minute: UInt32, keys: [Hash128]) {
        for key in keys where insertIntoTable(key) { Self.append(key, minute: minute, to: &byMinute) }
    }

    /// Restores the expiry horizon recorded in the shard's metadata.
    public mutating func restore(expiredThroughMinute: UInt32?) { self.expiredThroughMinute = expiredThroughMinute }

    /// Approximate heap bytes held.
    public var approximateBytes: Int { table.count * 8 + count * 16 + byMinute.count * 48 }
}

extension Array {
    /// The first index whose element satisfies `predicate`, for an array partitioned so that
    /// every element failing it comes first. Binary search.
    func partitionPoint(where predicate: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
