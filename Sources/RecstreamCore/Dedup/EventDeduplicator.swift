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

    private var lows: [UInt64]
    private var highs: [UInt64]
    private var mask: Int
    public private(set) var count: Int = 0

    /// Ids per minute of event time, for expiry; `minutes` lists the keys in ascending order.
    private var byMinute: [UInt32: [Hash128]] = [:]
    private var minutes: [UInt32] = []
    /// Ids added since the last ``drainNew()``, for the next commit.
    private var pending: [UInt32: [Hash128]] = [:]
    /// Every minute at or before this has been forgotten; persisted records up to it can be deleted.
    public private(set) var expiredThroughMinute: UInt32? = nil

    public init(windowMillis: Int64, expectedCount: Int = 1024) {
        precondition(windowMillis >= 0, "dedup window must be >= 0, got \(windowMillis)")
        self.windowMillis = windowMillis
        var capacity = 64
        while Double(capacity) * 0.7 < Double(expectedCount) { capacity <<= 1 }
        lows = Array(repeating: 0, count: capacity)
        highs = Array(repeating: 0, count: capacity)
        mask = capacity - 1
    }

    /// The hash stored for an id; (0, 0) marks an empty slot, so that value is remapped.
    @inline(__always) public static func key(for eventID: Span<UInt8>) -> Hash128 {
        let h = MurmurHash3.hash128(eventID, seed: 0)
        return (h.low == 0 && h.high == 0) ? Hash128(low: 0, high: 1) : h
    }

    @inline(__always) private func isEmpty(_ slot: Int) -> Bool { lows[slot] == 0 && highs[slot] == 0 }

    /// Whether `key` is remembered.
    public func contains(_ key: Hash128) -> Bool {
        var slot = Int(truncatingIfNeeded: key.low) & mask
        while !isEmpty(slot) {
            if lows[slot] == key.low && highs[slot] == key.high { return true }
            slot = (slot + 1) & mask
        }
        return false
    }

    /// Remembers `key` for an event at `time`. Returns false if it was already remembered.
    @discardableResult
    public mutating func insert(_ key: Hash128, at time: EventTime) -> Bool {
        guard insertIntoTable(key) else { return false }
        let minute = UInt32(truncatingIfNeeded: time.millis / 60_000)
        if byMinute[minute] == nil {
            let position = minutes.partitionPoint { $0 >= minute }
            minutes.insert(minute, at: position)
        }
        byMinute[minute, default: []].append(key)
        pending[minute, default: []].append(key)
        return true
    }

    private mutating func insertIntoTable(_ key: Hash128) -> Bool {
        var slot = Int(truncatingIfNeeded: key.low) & mask
        while !isEmpty(slot) {
            if lows[slot] == key.low && highs[slot] == key.high { return false }
            slot = (slot + 1) & mask
        }
        lows[slot] = key.low
        highs[slot] = key.high
        count += 1
        if Double(count) > Double(lows.count) * 0.7 { resize(to: lows.count * 2) }
        return true
    }

    private mutating func resize(to capacity: Int) {
        let oldLows = lows
        let oldHighs = highs
        lows = Array(repeating: 0, count: capacity)
        highs = Array(repeating: 0, count: capacity)
        mask = capacity - 1
        for i in oldLows.indices where !(oldLows[i] == 0 && oldHighs[i] == 0) {
            var slot = Int(truncatingIfNeeded: oldLows[i]) & mask
            while !isEmpty(slot) { slot = (slot + 1) & mask }
            lows[slot] = oldLows[i]
            highs[slot] = oldHighs[i]
        }
    }

    /// Linear-probing removal with backward shift, so no tombstones accumulate.
    private mutating func removeFromTable(_ key: Hash128) {
        var slot = Int(truncatingIfNeeded: key.low) & mask
        while true {
            if isEmpty(slot) { return }
            if lows[slot] == key.low && highs[slot] == key.high { break }
            slot = (slot + 1) & mask
        }
        count -= 1
        var hole = slot
        var next = (hole + 1) & mask
        while !isEmpty(next) {
            let home = Int(truncatingIfNeeded: lows[next]) & mask
            // Move `next` into the hole if its home is not cyclically within (hole, next].
            let distanceToNext = (next - home) & mask
            let distanceToHole = (hole - home) & mask
            if distanceToHole < distanceToNext || hole == home {
                lows[hole] = lows[next]
                highs[hole] = highs[next]
                hole = next
            }
            next = (next + 1) & mask
        }
        lows[hole] = 0
        highs[hole] = 0
    }

    /// Forgets every minute that lies entirely before `watermark - window`.
    public mutating func expire(watermark: EventTime) {
        let horizon = watermark.millis - windowMillis
        guard horizon > 0 else { return }
        // Minute m is forgotten when (m + 1) * 60_000 <= horizon.
        let firstKept = horizon / 60_000
        guard firstKept > 0 else { return }
        let lastExpired = UInt32(clamping: firstKept - 1)
        var removed = 0
        while removed < minutes.count && minutes[removed] <= lastExpired {
            let minute = minutes[removed]
            for key in byMinute[minute] ?? [] { removeFromTable(key) }
            byMinute[minute] = nil
            pending[minute] = nil
            removed += 1
        }
        if removed > 0 { minutes.removeFirst(removed) }
        if expiredThroughMinute.map({ $0 < lastExpired }) ?? true { expiredThroughMinute = lastExpired }
    }

    /// The ids remembered since the last call, grouped by minute, for persisting.
    public mutating func drainNew() -> [(minute: UInt32, keys: [Hash128])] {
        defer { pending.removeAll(keepingCapacity: true) }
        return pending.sorted { $0.key < $1.key }.map { (minute: $0.key, keys: $0.value) }
    }

    /// Re-adds persisted ids on restore.
    public mutating func restore(minute: UInt32, keys: [Hash128]) {
        for key in keys where insertIntoTable(key) {
            if byMinute[minute] == nil {
                let position = minutes.partitionPoint { $0 >= minute }
                minutes.insert(minute, at: position)
            }
            byMinute[minute, default: []].append(key)
        }
    }

    /// Restores the expiry horizon recorded in the shard's metadata.
    public mutating func restore(expiredThroughMinute: UInt32?) { self.expiredThroughMinute = expiredThroughMinute }

    /// Approximate heap bytes held.
    public var approximateBytes: Int { lows.count * 16 + count * 16 + minutes.count * 48 }
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
