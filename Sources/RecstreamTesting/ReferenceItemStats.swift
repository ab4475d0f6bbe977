import RecstreamCore

/// A brute-force model of ingest and item statistics, written straight from the documented rules
/// with no buckets, tables or pruning, to check the engine against.
///
/// Rules modelled, per partition, in offset order: an event is a duplicate if an earlier accepted
/// event of the partition had the same id and that event's minute has not been forgotten yet
/// (minute m is forgotten once (m + 1) * 60 s <= watermark - dedup window); otherwise it is late
/// if ts < watermark - allowed lateness; otherwise it is applied and may raise the watermark.
/// Windows end at the largest watermark of all partitions and count whole buckets (see
/// StatsWindow).
public struct ReferenceItemStats: Sendable {
    public struct Applied: Sendable {
        public var event: Event
        public var partition: Int32
    }

    public let configuration: ShardConfiguration
    public private(set) var applied: [Applied] = []
    public private(set) var late: [Applied] = []
    /// The same events by item, so per-item questions do not scan everything.
    private var appliedByItem: [String: [Event]] = [:]
    private var lateByItem: [String: [Event]] = [:]
    public private(set) var duplicates = 0
    private var watermarks: [Int32: Int64] = [:]
    /// Accepted ids per partition with their event time.
    private var seen: [Int32: [String: Int64]] = [:]

    public init(configuration: ShardConfiguration) { self.configuration = configuration }

    /// Offers the next event of `partition`.
    @discardableResult
    public mutating func offer(_ event: Event, partition: Int32) -> ApplyOutcome {
        let watermark = watermarks[partition]
        if let original = seen[partition]?[event.eventID] {
            let minute = original / 60_000
            let forgotten = watermark.map { (minute + 1) * 60_000 <= $0 - configuration.dedupWindowMillis } ?? false
            if !forgotten {
                duplicates += 1
                return .duplicate
            }
        }
        if let w = watermark, event.time.millis < w - configuration.allowedLatenessMillis {
            late.append(Applied(event: event, partition: partition))
            lateByItem[event.itemID, default: []].append(event)
            return .late
        }
        watermarks[partition] = max(watermark ?? event.time.millis, event.time.millis)
        seen[partition, default: [:]][event.eventID] = event.time.millis
        applied.append(Applied(event: event, partition: partition))
        appliedByItem[event.itemID, default: []].append(event)
        return .applied
    }

    /// The instance watermark: the largest event time applied in any partition.
    public var now: EventTime? { watermarks.values.max().map(EventTime.init(millis:)) }

    public var itemIDs: Set<String> { Set(appliedByItem.keys).union(lateByItem.keys) }

    /// Events of `type` for `itemID` whose bucket lies in `window` ending at ``now``.
    public func count(itemID: String, type: EventType, window: StatsWindow) -> UInt64 {
        guard let now else { return 0 }
        let resolution = window.resolution.millis
        let current = now.millis / resolution
        let first = current - Int64(window.bucketCount) + 1
        return UInt64(
            (appliedByItem[itemID] ?? []).filter {
                let b = $0.time.millis / resolution
                return $0.type == type && b >= first && b <= current
            }.count)
    }

    public func total(itemID: String, type: EventType) -> UInt64 {
        UInt64((appliedByItem[itemID] ?? []).filter { $0.type == type }.count)
    }

    public func lateDropped(itemID: String, type: EventType) -> UInt64 {
        UInt64((lateByItem[itemID] ?? []).filter { $0.type == type }.count)
    }
}
