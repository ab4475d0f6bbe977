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

    public private(set) var minutes: [Bucket] = []
    public private(set) var hours: [Bucket] = []
    public private(set) var days: [Bucket] = []
    /// Every event ever applied, in or out of any window.
    public private(set) var total: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { total == 0 }

    /// Adds one event at `time`. `watermark` is the shard's largest event time (at least `time`
    /// for in-order events); buckets that can no longer be inside any window ending at or after
    /// the watermark are pruned, and an event too old for a resolution's retained buckets only
    /// counts toward the coarser resolutions and the total.
    public mutating func record(_ time: EventTime, watermark: EventTime) {
        total &+= 1
        Self.add(time, watermark: watermark, resolution: .minute, to: &minutes)
        Self.add(time, watermark: watermark, resolution: .hour, to: &hours)
        Self.add(time, watermark: watermark, resolution: .day, to: &days)
    }

    @inline(__always)
    private static func add(_ time: EventTime, watermark: EventTime, resolution: BucketResolution, to buckets: inout [Bucket]) {
        let index = resolution.bucket(of: time)
        let current = resolution.bucket(of: max(time, watermark))
        let oldestKept = current >= resolution.retainedBuckets - 1 ? current - (resolution.retainedBuckets - 1) : 0
        guard index >= oldestKept else { return }
        if let last = buckets.last {
            if last.index == index {
                buckets[buckets.count - 1].count = last.count == UInt32.max ? last.count : last.count + 1
                return
            }
            if last.index < index {
                if buckets[0].index < oldestKept { prune(&buckets, before: oldestKept) }
                buckets.append(Bucket(index: index, count: 1))
                return
            }
            // A late event: find its bucket among the older ones.
            let position = buckets.partitionPoint { $0.index >= index }
            if position < buckets.count && buckets[position].index == index {
                if buckets[position].count < UInt32.max { buckets[position].count += 1 }
            } else {
                buckets.insert(Bucket(index: index, count: 1), at: position)
            }
            if buckets[0].index < oldestKept { prune(&buckets, before: oldestKept) }
            return
        }
        buckets.append(Bucket(index: index, count: 1))
    }

    private static func prune(_ buckets: inout [Bucket], before oldestKept: UInt32) {
        let drop = buckets.partitionPoint { $0.index >= oldestKept }
        buckets.removeFirst(drop)
    }

    /// The number of events in `window` ending at `now` (see ``StatsWindow``).
    public func count(in window: StatsWindow, now: EventTime) -> UInt64 {
        let buckets: [Bucket]
        switch window.resolution {
        case .minute: buckets = minutes
        case .hour: buckets = hours
        case .day: buckets = days
        }
        let current = window.resolution.bucket(of: now)
        let first = current >= window.bucketCount - 1 ? current - (window.bucketCount - 1) : 0
        var sum: UInt64 = 0
        // Buckets are ascending; walk back from the newest.
        var i = buckets.count - 1
        while i >= 0 {
            let b = buckets[i]
            if b.index < first { break }
            if b.index <= current { sum += UInt64(b.count) }
            i -= 1
        }
        return sum
    }

    mutating func setMerged(minutes: [Bucket], hours: [Bucket], days: [Bucket], total: UInt64) {
        self.minutes = minutes
        self.hours = hours
        self.days = days
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
        var counter = WindowedCounter()
        counter.total = try reader.readVarint()
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
            switch resolution {
            case .minute: counter.minutes = buckets
            case .hour: counter.hours = buckets
            case .day: counter.days = buckets
            }
        }
        return counter
    }

    /// Approximate heap bytes held.
    public var approximateBytes: Int {
        (minutes.capacity + hours.capacity + days.capacity) * 8 + (minutes.isEmpty ? 0 : 32) + (hours.isEmpty ? 0 : 32)
            + (days.isEmpty ? 0 : 32)
    }
}
