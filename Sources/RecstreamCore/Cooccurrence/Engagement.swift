/// One engagement as the co-occurrence state sees it: a user engaged an item at an event time.
///
/// Users and items are the runtime's instance-level dense indices (its `IdInterner`s), never
/// negative. The runtime feeds every accepted event; types whose ``EngagementWeights`` weight is 0
/// (always `exposure`) are ignored by ``CooccurrenceState/apply(_:watermark:)``.
public struct Engagement: Hashable, Sendable {
    public var user: Int32
    public var item: Int32
    public var type: EventType
    public var time: EventTime

    public init(user: Int32, item: Int32, type: EventType, time: EventTime) {
        self.user = user
        self.item = item
        self.type = type
        self.time = time
    }
}

/// The strength of each engagement type. A type with weight 0 is not an engagement: the state
/// ignores it. Exposures are never engagements, whatever is configured.
///
/// Defaults (a common convention for short-video feeds: an explicit, costly action says more than
/// a click): click 1, like 2, comment 2, collect 3, share 3.
///
/// Where weights are used: a user's history entry for an item keeps the strongest type engaged and
/// its weight (``HistoryEntry/type``, ``HistoryEntry/weight``), so retrieval can weight the seeds it
/// expands by ItemCF or Swing. The similarity formulas themselves count distinct (user, item) pairs,
/// as the issue defines them: a like and a click on the same item count once.
public struct EngagementWeights: Hashable, Sendable {
    public var click: Double = 1
    public var like: Double = 2
    public var collect: Double = 3
    public var share: Double = 3
    public var comment: Double = 2

    public init() {}

    public init(click: Double, like: Double, collect: Double, share: Double, comment: Double) {
        self.click = click
        self.like = like
        self.collect = collect
        self.share = share
        self.comment = comment
    }

    /// The weight of `type`; 0 for exposures.
    @inline(__always) public subscript(type: EventType) -> Double {
        switch type {
        case .exposure: 0
        case .click: click
        case .like: like
        case .collect: collect
        case .share: share
        case .comment: comment
        }
    }

    /// Whether events of `type` are engagements (weight above 0).
    @inline(__always) public func isEngagement(_ type: EventType) -> Bool { self[type] > 0 }
}

/// The two item-to-item similarities the co-occurrence state keeps.
public enum SimilarityMethod: UInt8, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// ItemCF: c(i, j) / sqrt(n_i · n_j).
    case itemCF = 0
    /// Swing (Yang et al. 2020).
    case swing = 1

    public var description: String {
        switch self {
        case .itemCF: "itemcf"
        case .swing: "swing"
        }
    }
}

/// One neighbour in a ranked similarity list.
public typealias ScoredItem = (item: Int32, score: Double)

/// A window of event time ending at `end` (inclusive) and `lengthMillis` long: an engagement at `t`
/// is inside when `end − lengthMillis < t <= end`.
public struct CooccurrenceWindow: Hashable, Sendable {
    public var end: EventTime
    public var lengthMillis: Int64

    public init(end: EventTime, lengthMillis: Int64) {
        self.end = end
        self.lengthMillis = lengthMillis
    }

    /// The latest time that is already outside the window.
    @inline(__always) public var cutoff: EventTime { EventTime(millis: end.millis - lengthMillis) }

    @inline(__always) public func contains(_ time: EventTime) -> Bool {
        time.millis > end.millis - lengthMillis && time.millis <= end.millis
    }
}
