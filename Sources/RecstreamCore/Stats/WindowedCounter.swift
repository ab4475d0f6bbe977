/// Counts of one event type for one item: per-minute, per-hour and per-day buckets for the
/// sliding windows, plus an all-time total.
///
/// Buckets are stored sparsely (only non-empty ones, ascending), so an item seen once costs a few
/// bytes and a busy item at most 60 + 24 + 30 buckets of 8 bytes. Counts per bucket saturate at
/// 2³² - 1 (more than 4 billion events of one type for one item in one day of one partition).
///
/// Cost of ``record(_:watermark:)``: O(1) for in-order events (the bucket is the last one or
/// new), O(buckets) for a late event that lands in an older bucket.
public struct WindowedCounter: Sendable, Hashable {
    /// One non-empty bucket.
    public struct Bucket: Sendable, Hashable {
        public var index: UInt32
        public var count: UInt32
        public init(index: UInt32, count: UInt32) {
            self.index = index
            self.count = count
        }
    }

    /// Every bucket in one allocation, so an update touches one cache line or two: minute
    /// buckets, then hour buckets, then day buckets, each section ascending by index. An entry
    /// packs `index << 32 | count`.
    private var packed: [UInt64] = []
    private var minuteCount: UInt16 = 0
    private var hourCount: UInt16 = 0
    /// Every event ever applied, in or out of any window.
    public private(set) var total: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { total == 0 }

    public var minutes: [Bucket] { section(0, Int(minuteCount)) }
    public var hours: [Bucket] { section(Int(minuteCount), Int(hourCount)) }
    public var days: [Bucket] { section(Int(minuteCount) + Int(hourCount), packed.count - Int(minuteCount) - Int(hourCount)) }

    private func section(_ start: Int, _ count: Int) -> [Bucket] {
        (start..<(start + count)).map { Self.unpack(packed[$0]) }
    }

    @inline(__always) private static func unpack(_ entry: UInt64) -> Bucket {
        Bucket(index: UInt32(truncatingIfNeeded: entry >> 32), count: UInt32(truncatingIfNeeded: entry))
    }

    @inline(__always) private static func pack(_ index: UInt32, _ count: UInt32) -> UInt64 {
        UInt64(index) << 32 | UInt64(count)
    }

    /// The start and length of `resolution`'s section.
    @inline(__always) private func bounds(_ resolution: BucketResolution) -> (start: Int, count: Int) {
        switch resolution {
        case .minute: (0, Int(minuteCount))
        case .hour: (Int(minuteCount), Int(hourCount))
        case .day: (Int(minuteCount) + Int(hourCount), packed.count - Int(minuteCount) - Int(hourCount))
        }
    }

    @inline(__always) private mutating func adjustCount(_ resolution: BucketResolution, by delta: Int) {
        switch resolution {
        case .minute: minuteCount = UInt16(Int(minuteCount) + delta)
        case .hour: hourCount = UInt16(Int(hourCount) + delta)
        case .day: break
        }
    }

    /// Adds one event at `time`. `watermark` is the shard's largest event time (at least `time`
    /// for in-order events); buckets that can no longer be inside any window ending at or after
    /// the watermark are pruned, and an event too old for a resolution's retained buckets only
    /// counts toward the coarser resolutions and the total.
    public mutating func record(_ time: EventTime, watermark: EventTime) {
        total &+= 1
        let newest = max(time, watermark)
        add(time, newest: newest, resolution: .minute)
        add(time, newest: newest, resolution: .hour)
        add(time, newest: newest, resolution: .day)
    }

    @inline(__always)
    private mutating func add(_ time: EventTime, newest: EventTime, resolution: BucketResolution) {
        let index = resolution.bucket(of: time)
        let current = resolution.bucket(of: newest)
        let oldestKept = current >= resolution.retainedBuckets - 1 ? current - (resolution.retainedBuckets - 1) : 0
        guard index >= oldestKept else { return }
        let (start, count) = bounds(resolution)
        let end = start + count
        if count > 0 {
            let last = Self.unpack(packed[end - 1])
            if last.index == index {
                if last.count < UInt32.max { packed[end - 1] &+= 1 }
                return
            }
        }
        // Find the position among this section's buckets (the end for in-order events).
        var position = end
        while position > start && Self.unpack(packed[position - 1]).index > index { position -= 1 }
        if position > start && Self.unpack(packed[position - 1]).index == index {
            if Self.unpack(packed[position - 1]).count < UInt32.max { packed[position - 1] &+= 1 }
            return
        }
        packed.insert(Self.pack(index, 1), at: position)
        adjustCount(resolution, by: 1)
        // Prune buckets that left the retained range.
        var drop = 0
        while drop < count + 1 && Self.unpack(packed[start + drop]).index < oldestKept { drop += 1 }
        if drop > 0 {
            packed.removeSubrange(start..<(start + drop))
            adjustCount(resolution, by: -drop)
        }
    }

    /// Removes every bucket after `time` (repairing a state that a far-future event reached) and
    /// subtracts those events from the total. Returns how many events were removed: the most
    /// any one resolution held after `time` (an event after `time` sits in every resolution that
    /// retained it).
    @discardableResult
    public mutating func removeEvents(after time: EventTime) -> UInt64 {
        var removed: UInt64 = 0
        for resolution in BucketResolution.allCases {
            let last = resolution.bucket(of: time)
            let (start, count) = bounds(resolution)
            var drop = 0
            var events: UInt64 = 0
            while drop < count {
                let b = Self.unpack(packed[start + count - 1 - drop])
                guard b.index > last else { break }
                events += UInt64(b.count)
                drop += 1
            }
            if drop > 0 {
                packed.removeSubrange((start + count - drop)..<(start + count))
                adjustCount(resolution, by: -drop)
            }
            removed = max(removed, events)
        }
        total = total >= removed ? total - removed : 0
        return removed
    }

    /// The number of events in `window` ending at `now` (see ``StatsWindow``).
    public func count(in window: StatsWindow, now: EventTime) -> UInt64 {
        let (start, count) = bounds(window.resolution)
        let current = window.resolution.bucket(of: now)
        let first = current >= window.bucketCount - 1 ? current - (window.bucketCount - 1) : 0
        var sum: UInt64 = 0
        // Buckets are ascending; walk back from the newest.
        var i = start + count - 1
        while i >= start {
            let b = Self.unpack(packed[i])
            if b.index < first { break }
            if b.index <= current { sum += UInt64(b.count) }
            i -= 1
        }
        return sum
    }

    /// A counter with exactly these buckets (merges, restore). Sections may exceed the
    /// retained bucket counts (a merge across shards keeps every bucket).
    init(minutes: [Bucket], hours: [Bucket], days: [Bucket], total: UInt64) {
        precondition(minutes.count <= Int(UInt16.max) && hours.count <= Int(UInt16.max), "too many buckets")
        packed = (minutes + hours + days).map { Self.pack($0.index, $0.count) }
        minuteCount = UInt16(minutes.count)
        hourCount = UInt16(hours.count)
        self.total = total
    }

    /// Appends the persisted form.
    public func encode(into writer: inout BinaryWriter) {
        writer.appendVarint(total)
        for buckets in [minutes, hours, days] {
            writer.appendVarint(UInt64(buckets.count))
            var previous: UInt32 = 0
            for b in buckets {
                // Indices ascend, so deltas are small.
                writer.appendVarint(UInt64(b.index - previous))
                writer.appendVarint(UInt64(b.count))
                previous = b.index
            }
        }
    }

    /// Reads what ``encode(into:)`` wrote.
    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> WindowedCounter {
        let total = try reader.readVarint()
        var sections: [[Bucket]] = []
        for resolution in BucketResolution.allCases {
            let n = try reader.readVarint()
            guard n <= UInt64(resolution.retainedBuckets) else {
                throw StateDecodingError("\(n) buckets exceed the \(resolution) limit")
            }
            var buckets: [Bucket] = []
            buckets.reserveCapacity(Int(n))
            var previous: UInt64 = 0
            for i in 0..<Int(n) {
                let delta = try reader.readVarint()
                let index = previous + delta
                guard index <= UInt64(UInt32.max), i == 0 || delta > 0 else {
                    throw StateDecodingError("bucket indices not ascending")
                }
                let count = try reader.readVarint()
                guard count > 0, count <= UInt64(UInt32.max) else { throw StateDecodingError("bucket count \(count)") }
                buckets.append(Bucket(index: UInt32(index), count: UInt32(count)))
                previous = index
            }
            sections.append(buckets)
        }
        return WindowedCounter(minutes: sections[0], hours: sections[1], days: sections[2], total: total)
    }

    /// Approximate heap bytes held.
    public var approximateBytes: Int { packed.isEmpty ? 0 : 32 + packed.capacity * 8 }
}
