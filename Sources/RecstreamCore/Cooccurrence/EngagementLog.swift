/// The layout of the engagement log: the append-only record of every engagement the co-occurrence
/// state applied, which the exact recompute reads.
///
/// The runtime keeps it in its own keyspace, in chunks keyed `day (BE32) · sequence (BE64)`, where
/// `day` is the UTC day of the chunk's engagements (``dayOf(_:)``) and `sequence` orders the chunks
/// of a day (the commit sequence). Chunks are written in the same atomic commit as the state, so
/// the log holds exactly the engagements the committed state reflects. Retention equals the
/// co-occurrence window: once a whole day lies outside the window it is dropped with one range
/// delete (``expiredKeyRange(watermark:windowMillis:)``).
///
/// This layout is persisted: change it only with a format version bump.
public enum EngagementLog {
    public static let dayMillis: Int64 = 86_400_000

    /// The UTC day number of `time` (days since 1970-01-01); times before the epoch map to day 0.
    @inline(__always) public static func dayOf(_ time: EventTime) -> UInt32 {
        time.millis <= 0 ? 0 : UInt32(truncatingIfNeeded: time.millis / dayMillis)
    }

    /// The key of the chunk with `sequence` on `day`: 12 bytes, ordered by day, then sequence.
    public static func chunkKey(day: UInt32, sequence: UInt64) -> [UInt8] {
        var w = BinaryWriter(capacity: 12)
        w.appendBigEndian(day)
        w.appendBigEndian(sequence)
        return w.bytes
    }

    /// Reads what ``chunkKey(day:sequence:)`` wrote.
    public static func parseChunkKey(_ key: [UInt8]) throws(StateDecodingError) -> (day: UInt32, sequence: UInt64) {
        var r = BinaryReader(key)
        let day = try r.readBigEndianUInt32()
        let sequence = try r.readBigEndianUInt64()
        try r.expectEnd()
        return (day, sequence)
    }

    /// The first day with any instant inside the window ending at `watermark`; every earlier day
    /// lies wholly outside it and can be dropped.
    public static func firstRetainedDay(watermark: EventTime, windowMillis: Int64) -> UInt32 {
        // An engagement at t is inside when t > watermark − window; the first such instant is
        // watermark − window + 1, and its day is the first one to keep.
        dayOf(EventTime(millis: watermark.millis - windowMillis + 1))
    }

    /// The half-open key range `[from, to)` of every chunk of a day wholly outside the window, or
    /// nil when no day is.
    public static func expiredKeyRange(watermark: EventTime, windowMillis: Int64) -> (from: [UInt8], to: [UInt8])? {
        let first = firstRetainedDay(watermark: watermark, windowMillis: windowMillis)
        guard first > 0 else { return nil }
        var to = BinaryWriter(capacity: 4)
        to.appendBigEndian(first)
        return ([0, 0, 0, 0], to.bytes)
    }
}

/// A batch of engagements in the log's compact form.
///
/// Format (version 1): a version byte, the count (varint), then per engagement
/// `varint(zigzag(time − previous time) << 3 | type)`, `varint(zigzag(user − previous user))`,
/// `varint(item)`, the first engagement's deltas taken from 0. Engagements of a session sit close
/// in time and share the user, so a typical engagement takes 5 to 8 bytes instead of 17.
public struct EngagementLogChunk: Hashable, Sendable {
    public static let formatVersion: UInt8 = 1

    public var engagements: [Engagement]

    public init(_ engagements: [Engagement]) { self.engagements = engagements }

    public func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 2 + engagements.count * 8)
        w.append(Self.formatVersion)
        w.appendVarint(UInt64(engagements.count))
        var previousTime: Int64 = 0
        var previousUser: Int64 = 0
        for e in engagements {
            precondition(
                e.time.millis >= 0 && e.time.millis < EventTime.limitMillis && e.user >= 0 && e.item >= 0,
                "engagement outside the log's domain: \(e)")
            let dt = e.time.millis &- previousTime
            w.appendVarint(Self.zigzag(dt) << 3 | UInt64(e.type.rawValue))
            w.appendSignedVarint(Int64(e.user) - previousUser)
            w.appendVarint(UInt64(UInt32(bitPattern: e.item)))
            previousTime = e.time.millis
            previousUser = Int64(e.user)
        }
        return w.bytes
    }

    /// Reads what ``encode()`` wrote.
    /// - Throws: ``StateDecodingError`` when the bytes are truncated, carry trailing bytes, an
    ///   unknown version or type, a negative index or a time outside 0 ..< ``EventTime/limitMillis``.
    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> EngagementLogChunk {
        var r = BinaryReader(bytes)
        let version = try r.readByte()
        guard version == formatVersion else { throw StateDecodingError("engagement chunk version \(version)") }
        let count = try r.readVarint()
        // Every engagement takes at least three bytes.
        guard count <= UInt64(r.remaining / 3) else {
            throw StateDecodingError("engagement chunk claims \(count) engagements in \(r.remaining) bytes")
        }
        var out: [Engagement] = []
        out.reserveCapacity(Int(count))
        var time: Int64 = 0
        var user: Int64 = 0
        for _ in 0..<Int(count) {
            let head = try r.readVarint()
            guard let type = EventType(rawValue: UInt8(head & 7)) else {
                throw StateDecodingError("engagement type \(head & 7)")
            }
            let dt = unzigzag(head >> 3)
            let (t, overflow) = time.addingReportingOverflow(dt)
            guard !overflow, t >= 0, t < EventTime.limitMillis else { throw StateDecodingError("engagement time \(t)") }
            time = t
            let du = try r.readSignedVarint()
            let (u, userOverflow) = user.addingReportingOverflow(du)
            guard !userOverflow, u >= 0, u <= Int64(Int32.max) else { throw StateDecodingError("user index \(u)") }
            user = u
            let item = try r.readVarint()
            guard item <= UInt64(Int32.max) else { throw StateDecodingError("item index \(item)") }
            out.append(Engagement(user: Int32(u), item: Int32(item), type: type, time: EventTime(millis: t)))
        }
        try r.expectEnd()
        return EngagementLogChunk(out)
    }

    @inline(__always) private static func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }
    @inline(__always) private static func unzigzag(_ v: UInt64) -> Int64 {
        Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }
}

/// Engagements applied since the last commit, grouped by day, for the runtime to write as log
/// chunks in the commit. Memory: the engagements of one commit interval (17 bytes each before
/// encoding).
public struct EngagementLogBuffer: Sendable {
    private var days: [UInt32: [Engagement]] = [:]
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func append(_ engagement: Engagement) {
        days[EngagementLog.dayOf(engagement.time), default: []].append(engagement)
        count += 1
    }

    /// One encoded chunk per day touched since the last drain, keyed with `sequence` (use the commit
    /// sequence, so chunks of one day never collide), in day order; the buffer is empty afterwards.
    public mutating func drain(sequence: UInt64) -> [(key: [UInt8], value: [UInt8])] {
        let out = days.keys.sorted().map { day in
            (
                key: EngagementLog.chunkKey(day: day, sequence: sequence),
                value: EngagementLogChunk(days[day] ?? []).encode()
            )
        }
        days.removeAll(keepingCapacity: true)
        count = 0
        return out
    }
}
