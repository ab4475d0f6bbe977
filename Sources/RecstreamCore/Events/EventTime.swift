/// An instant in event time: milliseconds since the Unix epoch, as carried in an event's `ts`.
/// All windows, lateness and expiry in the core are computed from these, never from a clock.
public struct EventTime: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Milliseconds since 1970-01-01T00:00:00Z.
    public var millis: Int64

    /// The largest accepted `ts` is one millisecond before this: 10000-01-01T00:00:00Z. Beyond it
    /// minute-bucket indices would not fit in 32 bits.
    public static let limitMillis: Int64 = 253_402_300_800_000

    @inline(__always) public init(millis: Int64) { self.millis = millis }

    public static func < (lhs: EventTime, rhs: EventTime) -> Bool { lhs.millis < rhs.millis }

    public static func + (lhs: EventTime, rhs: Duration) -> EventTime {
        EventTime(millis: lhs.millis + rhs.wholeMilliseconds)
    }

    public static func - (lhs: EventTime, rhs: Duration) -> EventTime {
        EventTime(millis: lhs.millis - rhs.wholeMilliseconds)
    }

    public var description: String { "\(millis)ms" }
}

extension Duration {
    /// The duration in whole milliseconds, truncated toward zero.
    public var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
