/// The answer to "what are this item's statistics": windowed counts, all-time totals, smoothed
/// rates and late drops, evaluated at one `now` (the instance's event-time watermark).
public struct ItemStatsReport: Sendable, Hashable, Codable {
    public var itemID: String
    /// The end of every window: the largest event time applied by the shards that answered.
    public var now: EventTime
    /// counts[window][type]: events of `type` in `window`.
    public var counts: [StatsWindow: [EventType: UInt64]]
    /// All-time totals per type.
    public var totals: [EventType: UInt64]
    /// rates[window][rate]: smoothed rate in `window`; the "all" window uses the totals.
    public var rates: [StatsWindow: [RateKind: Double]]
    public var totalRates: [RateKind: Double]
    /// Events of each type dropped because they arrived later than the allowed lateness.
    public var lateDropped: [EventType: UInt64]

    /// Builds the report from an item's counters (already merged across shards).
    public init(itemID: String, counters: ItemCounters, now: EventTime, configuration: StatsConfiguration) {
        self.itemID = itemID
        self.now = now
        var counts: [StatsWindow: [EventType: UInt64]] = [:]
        var rates: [StatsWindow: [RateKind: Double]] = [:]
        for window in StatsWindow.allCases {
            var perType: [EventType: UInt64] = [:]
            for type in EventType.allCases { perType[type] = counters[type].count(in: window, now: now) }
            counts[window] = perType
            var perRate: [RateKind: Double] = [:]
            for kind in RateKind.allCases {
                perRate[kind] = configuration.prior(kind).smoothedRate(
                    events: perType[kind.eventType] ?? 0, exposures: perType[.exposure] ?? 0)
            }
            rates[window] = perRate
        }
        self.counts = counts
        self.rates = rates
        var totals: [EventType: UInt64] = [:]
        var late: [EventType: UInt64] = [:]
        for type in EventType.allCases {
            totals[type] = counters[type].total
            late[type] = counters.lateDropped(type)
        }
        self.totals = totals
        self.lateDropped = late
        var totalRates: [RateKind: Double] = [:]
        for kind in RateKind.allCases {
            totalRates[kind] = configuration.prior(kind).smoothedRate(
                events: totals[kind.eventType] ?? 0, exposures: totals[.exposure] ?? 0)
        }
        self.totalRates = totalRates
    }
}
