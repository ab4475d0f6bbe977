/// A record the user-keyed stage forwards to an item-side stage through an internal topic
/// (the item repartition topic, keyed by item id, and the engagement topic, one partition).
///
/// It carries what the receiving families need, decided once upstream: the event (type, time,
/// dwell, user, item), whether the upstream shard dropped it as late (item statistics count late
/// drops), and where it came from — the source partition and offset — so the receiver applies
/// each source record once: a source partition's records reach a target partition in source
/// offset order (one idempotent producer per owner, in order; a new owner replays from the last
/// commit), so a per-source high-water mark drops every re-forwarded record exactly.
///
/// Wire layout (version 1): `01 type flags` then signed varints `time`, `sourceOffset`,
/// varints `sourcePartition`, `dwell+1` (0 = none), then length-prefixed `user` and `item`.
public struct ForwardedEvent: Sendable, Hashable {
    public var type: EventType
    public var time: EventTime
    public var dwellMillis: Int64?
    /// True when the upstream shard dropped the event as late: item statistics count it as a
    /// late drop and nothing else applies it.
    public var late: Bool
    public var userID: [UInt8]
    public var itemID: [UInt8]
    public var sourcePartition: Int32
    public var sourceOffset: Int64

    public init(
        type: EventType, time: EventTime, dwellMillis: Int64?, late: Bool, userID: [UInt8], itemID: [UInt8],
        sourcePartition: Int32, sourceOffset: Int64
    ) {
        self.type = type
        self.time = time
        self.dwellMillis = dwellMillis
        self.late = late
        self.userID = userID
        self.itemID = itemID
        self.sourcePartition = sourcePartition
        self.sourceOffset = sourceOffset
    }

    static let version: UInt8 = 1

    public func encoded() -> [UInt8] {
        Self.encode(
            type: type, time: time, dwellMillis: dwellMillis, late: late, userID: userID.span, itemID: itemID.span,
            sourcePartition: sourcePartition, sourceOffset: sourceOffset)
    }

    /// The wire form straight from the ids' bytes (the user-keyed stage's hot path: one buffer,
    /// no intermediate value).
    public static func encode(
        type: EventType, time: EventTime, dwellMillis: Int64?, late: Bool, userID: Span<UInt8>, itemID: Span<UInt8>,
        sourcePartition: Int32, sourceOffset: Int64
    ) -> [UInt8] {
        var w = BinaryWriter(capacity: 24 + userID.count + itemID.count)
        w.append(version)
        w.append(UInt8(type.index))
        w.append(late ? 1 : 0)
        w.appendSignedVarint(time.millis)
        w.appendSignedVarint(sourceOffset)
        w.appendVarint(UInt64(UInt32(bitPattern: sourcePartition)))
        w.appendVarint(dwellMillis.map { UInt64(max($0, 0)) + 1 } ?? 0)
        w.appendVarint(UInt64(userID.count))
        w.append(span: userID)
        w.appendVarint(UInt64(itemID.count))
        w.append(span: itemID)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> ForwardedEvent {
        var r = BinaryReader(bytes)
        let version = try r.readByte()
        guard version == Self.version else { throw StateDecodingError("forwarded record version \(version)") }
        let typeIndex = Int(try r.readByte())
        guard typeIndex < EventType.count else { throw StateDecodingError("forwarded record type \(typeIndex)") }
        let flags = try r.readByte()
        let time = try r.readSignedVarint()
        let offset = try r.readSignedVarint()
        let partition = try r.readVarint()
        guard partition <= UInt64(Int32.max) else { throw StateDecodingError("forwarded record partition \(partition)") }
        let dwell = try r.readVarint()
        let user = try r.readLengthPrefixed()
        let item = try r.readLengthPrefixed()
        try r.expectEnd()
        return ForwardedEvent(
            type: EventType.allCases[typeIndex], time: EventTime(millis: time), dwellMillis: dwell == 0 ? nil : Int64(dwell - 1),
            late: flags & 1 != 0, userID: Array(user), itemID: Array(item), sourcePartition: Int32(partition), sourceOffset: offset)
    }
}

/// Per source partition, the largest source offset applied: the receiving side of
/// ``ForwardedEvent``'s exactly-once rule. Persisted with the receiver's state.
public struct SourceHighWaterMarks: Sendable, Hashable {
    public private(set) var marks: [Int32: Int64] = [:]

    public init() {}

    /// Whether the record is new (and records it); false for a re-forwarded one.
    public mutating func accept(partition: Int32, offset: Int64) -> Bool {
        if let mark = marks[partition], offset <= mark { return false }
        marks[partition] = offset
        return true
    }

    public func encode(into w: inout BinaryWriter) {
        let sorted = marks.sorted { $0.key < $1.key }
        w.appendVarint(UInt64(sorted.count))
        for (partition, offset) in sorted {
            w.appendVarint(UInt64(UInt32(bitPattern: partition)))
            w.appendSignedVarint(offset)
        }
    }

    public mutating func decode(from r: inout BinaryReader) throws(StateDecodingError) {
        let n = try r.readVarint()
        guard n <= 1 << 20 else { throw StateDecodingError("\(n) source partitions") }
        marks = [:]
        for _ in 0..<Int(n) {
            let p = try r.readVarint()
            guard p <= UInt64(Int32.max) else { throw StateDecodingError("source partition \(p)") }
            marks[Int32(p)] = try r.readSignedVarint()
        }
    }
}
