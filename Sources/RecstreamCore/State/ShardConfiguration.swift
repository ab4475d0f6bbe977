/// Event-time rules shared by every family of a shard.
public struct ShardConfiguration: Sendable, Hashable {
    /// How far behind the shard's watermark an event may be and still be applied. An event with
    /// `ts < watermark - allowedLateness` is dropped and counted as late. Default 10 minutes.
    public var allowedLatenessMillis: Int64
    /// How long event ids are remembered for deduplication (see ``EventDeduplicator``); must be at
    /// least the allowed lateness so every applied event is checked. Default 10 minutes.
    public var dedupWindowMillis: Int64
    /// The per-user exposure filters (see ``ExposureFilterConfiguration``).
    public var exposure: ExposureFilterConfiguration
    /// When true, a click on an item the user's filter does not hold also records an exposure
    /// (the exposure event was lost or never sent). Default false: only exposures count.
    public var clickImpliesExposure: Bool
    /// When true (the two-stage pipeline), a user-keyed shard leaves item statistics to the
    /// item-keyed stage: it decides dedup and lateness, keeps exposure filters, and its caller
    /// forwards each accepted or late event as a ``ForwardedEvent``. Default false: one stage
    /// applies everything.
    public var forwardsItemSide: Bool
    /// Item statistics are kept (`item_stats.enabled`, default true). Off: no item is interned and
    /// no counter updated per event.
    public var itemStatisticsEnabled: Bool
    /// Exposure filters are kept (`exposure.enabled`, default true). Off: no user is interned and
    /// no filter touched per event.
    public var exposureFiltersEnabled: Bool

    /// Whether this shard keeps item statistics itself (not in split mode's user-keyed stage).
    @inline(__always) public var keepsItemStatistics: Bool { itemStatisticsEnabled && !forwardsItemSide }

    public init(
        allowedLatenessMillis: Int64 = 600_000, dedupWindowMillis: Int64 = 600_000,
        exposure: ExposureFilterConfiguration = ExposureFilterConfiguration(), clickImpliesExposure: Bool = false,
        forwardsItemSide: Bool = false, itemStatisticsEnabled: Bool = true, exposureFiltersEnabled: Bool = true
    ) {
        self.itemStatisticsEnabled = itemStatisticsEnabled
        self.exposureFiltersEnabled = exposureFiltersEnabled
        self.forwardsItemSide = forwardsItemSide
        self.allowedLatenessMillis = allowedLatenessMillis
        self.dedupWindowMillis = dedupWindowMillis
        self.exposure = exposure
        self.clickImpliesExposure = clickImpliesExposure
    }

    /// Problems with the configuration, one line each; empty when valid.
    public func validate() -> [String] {
        var problems: [String] = []
        if allowedLatenessMillis < 0 { problems.append("allowed lateness must be >= 0 ms, got \(allowedLatenessMillis)") }
        problems += exposure.validate().map { "exposure: \($0)" }
        if dedupWindowMillis < allowedLatenessMillis {
            problems.append(
                "the dedup window (\(dedupWindowMillis) ms) must be at least the allowed lateness "
                    + "(\(allowedLatenessMillis) ms), or late duplicates could be applied twice")
        }
        return problems
    }
}

/// What happened to one record offered to a shard.
public enum ApplyOutcome: Sendable, Hashable {
    /// The event changed the state.
    case applied
    /// An event with the same id was applied before; nothing changed.
    case duplicate
    /// The event was older than the watermark minus the allowed lateness: dropped by the windowed
    /// families and counted as late. An exposure among them is still remembered by the exposure
    /// filter when it is inside the filter's retention (see ``Shard/apply(_:idBytes:offset:)``).
    case late
    /// The record's offset was already reflected in the state (a redelivery); ignored.
    case alreadyApplied
    /// A paged shard does not hold the item-statistics entry of the event's item (its id bytes):
    /// nothing changed. Read the committed record at ``Shard/itemRecordKey(_:)``, install it with
    /// ``Shard/installItem(_:record:)`` and apply the record again.
    case needsItem([UInt8])
    /// A paged shard does not hold the exposure filter of the event's user (its dictionary index):
    /// nothing changed. Read the committed records under ``Shard/exposureRecordPrefix(_:)``,
    /// install them with ``Shard/installUser(_:records:)`` and apply the event again.
    case needsUser(Int32)
}

/// Counters a shard keeps about its input; persisted with its state, so they are exactly-once too.
public struct ShardCounters: Sendable, Hashable, Codable {
    /// Applied events by ``EventType/index``.
    public var applied: [UInt64] = Array(repeating: 0, count: EventType.count)
    public var duplicates: UInt64 = 0
    /// Events older than the watermark minus the allowed lateness: dropped from the windowed
    /// families (item statistics, co-occurrence, histories, seeds, the engagement log).
    public var late: UInt64 = 0
    /// Of the late events, exposures the exposure filter still remembered because they were inside
    /// its retention (a phone uploading yesterday's exposures after a flight).
    public var lateExposuresKept: UInt64 = 0
    /// Records refused by the decoder, by reason.
    public var rejected: [RejectReason: UInt64] = [:]

    public init() {}

    public var appliedTotal: UInt64 { applied.reduce(0, &+) }
    public var rejectedTotal: UInt64 { rejected.values.reduce(0, &+) }
}
