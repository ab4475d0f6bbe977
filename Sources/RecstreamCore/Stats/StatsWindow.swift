/// The sliding windows item statistics answer, each a whole number of buckets of one resolution.
///
/// A window ending at `now` counts the events whose bucket is one of the window's last `n`
/// buckets, the current one (the bucket containing `now`) included. So "1h" covers between 59
/// and 60 whole minutes plus the current partial minute, "24h" 23 to 24 whole hours plus the
/// current one, "7d"/"30d" 6/29 whole UTC days plus the current one. Bucket edges are aligned to
/// the Unix epoch (UTC).
public enum StatsWindow: String, CaseIterable, Sendable, Hashable, Codable {
    case oneHour = "1h"
    case oneDay = "24h"
    case sevenDays = "7d"
    case thirtyDays = "30d"

    /// The bucket resolution this window is counted in.
    public var resolution: BucketResolution {
        switch self {
        case .oneHour: .minute
        case .oneDay: .hour
        case .sevenDays, .thirtyDays: .day
        }
    }

    /// How many buckets of ``resolution`` the window spans, the current one included.
    public var bucketCount: UInt32 {
        switch self {
        case .oneHour: 60
        case .oneDay: 24
        case .sevenDays: 7
        case .thirtyDays: 30
        }
    }
}

/// A bucket width. Bucket `b` of resolution `r` holds event times in
/// `[b * r.millis, (b + 1) * r.millis)`.
public enum BucketResolution: Int, CaseIterable, Sendable, Hashable {
    case minute = 0
    case hour = 1
    case day = 2

    public var millis: Int64 {
        switch self {
        case .minute: 60_000
        case .hour: 3_600_000
        case .day: 86_400_000
        }
    }

    /// Buckets kept per counter: the longest window of this resolution.
    public var retainedBuckets: UInt32 {
        switch self {
        case .minute: 60
        case .hour: 24
        case .day: 30
        }
    }

    /// The bucket holding `time` (times are validated to be in `0 ..< EventTime.limitMillis`).
    @inline(__always) public func bucket(of time: EventTime) -> UInt32 {
        UInt32(truncatingIfNeeded: time.millis / millis)
    }
}
