/// Everything that shapes a synthetic event stream. ``EventGenerator`` is a pure function of this
/// value: the same configuration yields the same events, in the same order, on every platform.
///
/// The model: users (ranked by activity, Zipf-distributed) open sessions at a steady rate of event
/// time; a session is a burst of exposures of distinct items; some exposures are clicked a few
/// seconds later, and some clicks are followed by likes, collects, shares and comments. Users
/// belong to communities, and a community prefers its own subset of items, which gives
/// co-occurrence structure for ItemCF/Swing and look-alike tests. A few events arrive late and a
/// few are sent twice, as producers do.
public struct GeneratorConfiguration: Sendable, Hashable {
    /// Seed of the random stream. Default 42.
    public var seed: UInt64 = 42

    /// Number of users; ids are `u1`…`u<users>`, `u1` the most active. Default 100,000.
    public var users = 100_000

    /// Number of items; ids are `i1`…`i<items>`, `i1` the most popular globally. Default 20,000.
    public var items = 20_000

    /// Total number of events produced, duplicates included. Default 1,000,000.
    public var events = 1_000_000

    /// Event time of the first session: 2026-11-01T00:00:00Z by default.
    public var startTime = EventTime(millis: 1_793_491_200_000)

    /// Average events per second of event time (not wall time); sessions start at the rate that
    /// produces it. Default 2,000.
    public var eventsPerSecond = 2_000.0

    /// Zipf exponent of user activity (who opens a session). Default 1.1.
    public var userZipf = 1.1

    /// Zipf exponent of item popularity, used both globally and within a community's preferred
    /// list. Default 1.05.
    public var itemZipf = 1.05

    /// Number of communities; each user belongs to one, chosen by a hash of the user's rank.
    /// Default 20.
    public var communities = 20

    /// Size of each community's preferred item list (a hashed, collision-free selection of
    /// items). Default 500.
    public var itemsPerCommunity = 500

    /// Probability that an exposure's item comes from the user's community list rather than the
    /// global popularity distribution. Default 0.6.
    public var communityAffinity = 0.6

    /// Exposures per session, uniform in this range; the items of one session are distinct.
    /// Default 3...10.
    public var exposuresPerSession: ClosedRange<Int> = 3...10

    /// Gap between consecutive exposures of a session, uniform, in milliseconds. Default 200...2000.
    public var exposureGapMillis: ClosedRange<Int64> = 200...2_000

    /// Probability that an exposure is clicked. Default 0.08.
    public var clickRate = 0.08

    /// Delay from an exposure to its click, uniform, in milliseconds. Default 1000...5000.
    public var clickDelayMillis: ClosedRange<Int64> = 1_000...5_000

    /// Probability that a click is followed by a like. Default 0.15.
    public var likeRate = 0.15

    /// Probability that a click is followed by a collect. Default 0.05.
    public var collectRate = 0.05

    /// Probability that a click is followed by a share. Default 0.03.
    public var shareRate = 0.03

    /// Probability that a click is followed by a comment. Default 0.04.
    public var commentRate = 0.04

    /// Delay from a click to each engagement that follows it, uniform, in milliseconds.
    /// Default 1000...8000.
    public var engagementDelayMillis: ClosedRange<Int64> = 1_000...8_000

    /// Probability that a click carries `dwell_ms`. Default 0.8.
    public var dwellFraction = 0.8

    /// Mean of the (exponential) dwell time, in milliseconds; values are capped at 10 minutes.
    /// Default 15,000.
    public var meanDwellMillis = 15_000.0

    /// Fraction of events that arrive late: their `ts` is set back, from the largest `ts` emitted
    /// so far, by a uniform 1...``maxLatenessMillis``. Default 0.001.
    public var lateFraction = 0.001

    /// The most a late event's `ts` lags the stream's largest `ts`, in milliseconds. Default 120,000.
    public var maxLatenessMillis: Int64 = 120_000

    /// Fraction of events emitted twice (same `event_id`, same fields: a producer retry). The copy
    /// follows within ``retryDelayMillis`` of event time. Default 0.001.
    public var duplicateFraction = 0.001

    /// How long after the original a retried copy is emitted, uniform, in milliseconds of event
    /// time. Default 10...2000.
    public var retryDelayMillis: ClosedRange<Int64> = 10...2_000

    public init() {}

    /// A default configuration with `seed` and `events` set.
    public init(seed: UInt64, events: Int) {
        self.seed = seed
        self.events = events
    }

    /// One line per setting that is out of range; empty when the configuration is usable.
    /// ``EventGenerator/init(_:)`` traps on a non-empty list, so callers taking user input check
    /// this first.
    public var problems: [String] {
        var problems: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) {
            if !ok { problems.append(message()) }
        }
        func isRate(_ p: Double) -> Bool { p >= 0 && p <= 1 }
        check(users >= 1 && users <= Int(Int32.max), "users is \(users); it must be in 1...\(Int32.max)")
        check(items >= 1 && items <= Int(Int32.max), "items is \(items); it must be in 1...\(Int32.max)")
        check(events >= 0, "events is \(events); it must not be negative")
        check(
            startTime.millis >= 0 && startTime.millis < EventTime.limitMillis / 2,
            "startTime is \(startTime); it must be in 0..<\(EventTime.limitMillis / 2) ms")
        check(
            eventsPerSecond.isFinite && eventsPerSecond > 0,
            "eventsPerSecond is \(eventsPerSecond); it must be positive")
        check(userZipf.isFinite && userZipf > 0, "userZipf is \(userZipf); it must be positive")
        check(itemZipf.isFinite && itemZipf > 0, "itemZipf is \(itemZipf); it must be positive")
        check(communities >= 1, "communities is \(communities); it must be at least 1")
        check(
            itemsPerCommunity >= 1 && itemsPerCommunity <= items,
            "itemsPerCommunity is \(itemsPerCommunity); it must be in 1...items (\(items))")
        check(
            exposuresPerSession.lowerBound >= 1 && exposuresPerSession.upperBound <= min(items, 1_000),
            "exposuresPerSession is \(exposuresPerSession); it must lie in 1...\(min(items, 1_000))")
        for (name, range) in [
            ("exposureGapMillis", exposureGapMillis), ("clickDelayMillis", clickDelayMillis),
            ("engagementDelayMillis", engagementDelayMillis), ("retryDelayMillis", retryDelayMillis),
        ] {
            check(
                range.lowerBound >= 0 && range.upperBound <= 86_400_000,
                "\(name) is \(range); it must lie in 0...86400000")
        }
        for (name, rate) in [
            ("communityAffinity", communityAffinity), ("clickRate", clickRate), ("likeRate", likeRate),
            ("collectRate", collectRate), ("shareRate", shareRate), ("commentRate", commentRate),
            ("dwellFraction", dwellFraction), ("lateFraction", lateFraction),
            ("duplicateFraction", duplicateFraction),
        ] {
            check(isRate(rate), "\(name) is \(rate); it must be in 0...1")
        }
        check(
            meanDwellMillis.isFinite && meanDwellMillis >= 0,
            "meanDwellMillis is \(meanDwellMillis); it must be non-negative")
        check(
            maxLatenessMillis >= 1 && maxLatenessMillis <= 86_400_000,
            "maxLatenessMillis is \(maxLatenessMillis); it must be in 1...86400000")
        return problems
    }

    /// The expected number of events a session produces, duplicates included; sessions start
    /// every `1000 · eventsPerSession / eventsPerSecond` ms on average.
    var eventsPerSession: Double {
        let exposures = Double(exposuresPerSession.lowerBound + exposuresPerSession.upperBound) / 2
        let followUps = likeRate + collectRate + shareRate + commentRate
        return exposures * (1 + clickRate * (1 + followUps)) * (1 + duplicateFraction)
    }
}
