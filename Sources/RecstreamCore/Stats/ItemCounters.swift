/// Everything item statistics keep for one item in one shard: a ``WindowedCounter`` per event
/// type, and per type the number of events dropped for arriving later than the allowed lateness.
public struct ItemCounters: Sendable, Hashable {
    private var exposure = WindowedCounter()
    private var click = WindowedCounter()
    private var like = WindowedCounter()
    private var collect = WindowedCounter()
    private var share = WindowedCounter()
    private var comment = WindowedCounter()
    /// Late-dropped counts by ``EventType/index``; empty until the first late event.
    public private(set) var lateDropped: [UInt64] = []

    public init() {}

    public subscript(type: EventType) -> WindowedCounter {
        get {
            switch type {
            case .exposure: exposure
            case .click: click
            case .like: like
            case .collect: collect
            case .share: share
            case .comment: comment
            }
        }
        set {
            switch type {
            case .exposure: exposure = newValue
            case .click: click = newValue
            case .like: like = newValue
            case .collect: collect = newValue
            case .share: share = newValue
            case .comment: comment = newValue
            }
        }
    }

    @inline(__always)
    public mutating func record(_ type: EventType, at time: EventTime, watermark: EventTime) {
        switch type {
        case .exposure: exposure.record(time, watermark: watermark)
        case .click: click.record(time, watermark: watermark)
        case .like: like.record(time, watermark: watermark)
        case .collect: collect.record(time, watermark: watermark)
        case .share: share.record(time, watermark: watermark)
        case .comment: comment.record(time, watermark: watermark)
        }
    }

    /// Removes every event after `time` from every type's counter (see
    /// ``WindowedCounter/removeEvents(after:)``). Returns how many were removed.
    public mutating func removeEvents(after time: EventTime) -> UInt64 {
        var removed: UInt64 = 0
        for type in EventType.allCases where !self[type].isEmpty {
            var counter = self[type]
            removed += counter.removeEvents(after: time)
            self[type] = counter
        }
        return removed
    }

    public mutating func recordLateDrop(_ type: EventType) {
        if lateDropped.isEmpty { lateDropped = Array(repeating: 0, count: EventType.count) }
        lateDropped[type.index] &+= 1
    }

    public func lateDropped(_ type: EventType) -> UInt64 { lateDropped.isEmpty ? 0 : lateDropped[type.index] }

    public func encode(into writer: inout BinaryWriter) {
        // A presence mask keeps never-seen types at zero bytes.
        var mask: UInt8 = 0
        for type in EventType.allCases where !self[type].isEmpty { mask |= 1 << type.rawValue }
        writer.append(mask)
        for type in EventType.allCases where mask & (1 << type.rawValue) != 0 { self[type].encode(into: &writer) }
        writer.appendVarint(UInt64(lateDropped.count))
        for n in lateDropped { writer.appendVarint(n) }
    }

    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> ItemCounters {
        var counters = ItemCounters()
        let mask = try reader.readByte()
        guard mask < 1 << EventType.count else { throw StateDecodingError("type mask \(mask)") }
        for type in EventType.allCases where mask & (1 << type.rawValue) != 0 {
            counters[type] = try WindowedCounter.decode(from: &reader)
        }
        let lateCount = try reader.readVarint()
        guard lateCount == 0 || lateCount == UInt64(EventType.count) else {
            throw StateDecodingError("late-drop vector of \(lateCount)")
        }
        for _ in 0..<Int(lateCount) { counters.lateDropped.append(try reader.readVarint()) }
        return counters
    }

    /// Read per update by the paged table, so it reads the stored counters in place (the
    /// subscript would copy each, a retain and a release).
    public var approximateBytes: Int {
        MemoryLayout<ItemCounters>.stride + exposure.approximateBytes + click.approximateBytes + like.approximateBytes
            + collect.approximateBytes + share.approximateBytes + comment.approximateBytes + lateDropped.capacity * 8
    }

    /// Adds another shard's counters for the same item (query-time merge). Bucket lists are merged
    /// by index; totals and late drops add.
    public func merged(with other: ItemCounters) -> ItemCounters {
        var result = self
        for type in EventType.allCases { result[type] = self[type].merged(with: other[type]) }
        if !other.lateDropped.isEmpty {
            if result.lateDropped.isEmpty { result.lateDropped = Array(repeating: 0, count: EventType.count) }
            for i in 0..<EventType.count { result.lateDropped[i] &+= other.lateDropped[i] }
        }
        return result
    }
}

extension WindowedCounter {
    /// The sum of two counters: buckets with equal indices add (saturating), totals add.
    public func merged(with other: WindowedCounter) -> WindowedCounter {
        if other.isEmpty { return self }
        if isEmpty { return other }
        return WindowedCounter(
            minutes: Self.merge(minutes, other.minutes), hours: Self.merge(hours, other.hours),
            days: Self.merge(days, other.days), total: total &+ other.total)
    }

    private static func merge(_ a: [Bucket], _ b: [Bucket]) -> [Bucket] {
        var out: [Bucket] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count || j < b.count {
            if j == b.count || (i < a.count && a[i].index < b[j].index) {
                out.append(a[i])
                i += 1
            } else if i == a.count || b[j].index < a[i].index {
                out.append(b[j])
                j += 1
            } else {
                let (sum, overflow) = a[i].count.addingReportingOverflow(b[j].count)
                out.append(Bucket(index: a[i].index, count: overflow ? UInt32.max : sum))
                i += 1
                j += 1
            }
        }
        return out
    }
}

extension ItemCounters: PagedEntry {
    public func encoded() -> [UInt8] {
        var w = BinaryWriter(capacity: 64)
        encode(into: &w)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> ItemCounters {
        var reader = BinaryReader(bytes)
        let counters = try decode(from: &reader)
        try reader.expectEnd()
        return counters
    }

    /// No event counted and none dropped late.
    public var isEmpty: Bool {
        EventType.allCases.allSatisfy { self[$0].isEmpty } && lateDropped.allSatisfy { $0 == 0 }
    }
}
