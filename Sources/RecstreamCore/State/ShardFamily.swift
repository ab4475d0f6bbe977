/// An accepted event as a family sees it: ids already interned to the shard's dense indices.
public struct ShardEvent: Sendable, Hashable {
    public var type: EventType
    public var time: EventTime
    /// The item's index in the shard's item dictionary.
    public var item: Int32
    public var dwellMillis: Int64?
    /// The shard's watermark including this event: the largest event time applied so far.
    public var watermark: EventTime

    public init(type: EventType, time: EventTime, item: Int32, dwellMillis: Int64?, watermark: EventTime) {
        self.type = type
        self.time = time
        self.item = item
        self.dwellMillis = dwellMillis
        self.watermark = watermark
    }
}

/// One state family inside a shard: the processor and its store in one value.
///
/// A family is pure: `apply` mutates memory only. The shard calls it for every accepted event,
/// the runtime drains its changes into the atomic commit, and restore feeds its records back.
/// Adding a family means one conforming type plus a stored property and three calls in ``Shard``.
public protocol ShardFamily: Sendable {
    /// Fixed tag prefixing this family's keys in a shard's keyspace. Persisted: never reuse one.
    static var tag: UInt8 { get }
    /// Name used in status output and metric labels.
    static var name: String { get }

    /// Applies one accepted event.
    mutating func apply(_ event: ShardEvent)
    /// Notes an event that was dropped for arriving later than the allowed lateness.
    mutating func recordLateDrop(_ event: ShardEvent)
    /// Moves every record changed since the last call into `changes` (keys family-relative).
    mutating func drainChanges(into changes: inout FamilyChanges)
    /// Restores one persisted record.
    mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError)

    /// Number of keyed entries held.
    var entryCount: Int { get }
    /// Approximate heap bytes held.
    var approximateBytes: Int { get }
}

/// A set of dirty indices with O(1) insert and no duplicates, drained in first-dirtied order.
struct DirtySet: Sendable {
    private var flags: [Bool] = []
    private(set) var indices: [Int32] = []

    @inline(__always) mutating func insert(_ index: Int32) {
        let i = Int(index)
        if i >= flags.count { flags.append(contentsOf: repeatElement(false, count: max(i + 1 - flags.count, flags.count))) }
        if !flags[i] {
            flags[i] = true
            indices.append(index)
        }
    }

    mutating func drain() -> [Int32] {
        for i in indices { flags[Int(i)] = false }
        defer { indices.removeAll(keepingCapacity: true) }
        return indices
    }
}
