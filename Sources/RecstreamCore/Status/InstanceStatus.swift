/// What `GET /v1/status` reports: which partitions this instance owns, how far each is consumed
/// and committed, the state it holds, and how fast events flow. Filled by the runtime; the query
/// API only renders it. JSON keys are the snake_case forms of these names.
public struct InstanceStatus: Sendable, Codable, Hashable {
    /// Build version of this binary.
    public var version: String
    /// Kafka bootstrap servers this instance consumes from.
    public var bootstrapServers: String
    public var groupID: String
    public var eventsTopic: String
    public var deadLetterTopic: String
    /// Wall-clock milliseconds when the process started.
    public var startedAtMillis: Int64
    /// Wall-clock milliseconds of the last successful state commit; nil before the first.
    public var lastCommitAtMillis: Int64?
    /// Duration of the last commit in milliseconds.
    public var lastCommitDurationMillis: Double?
    /// Wall-clock milliseconds of the last commit failure and its message, if any since start.
    public var lastCommitError: String?
    /// Applied events per second over the last sampling interval (about 1 s).
    public var eventsPerSecond: Double
    /// The instance watermark: the largest event time applied by any owned partition.
    public var watermarkMillis: Int64?
    /// Whether ingest is running (false while stopping or after a fatal error).
    public var consuming: Bool
    /// Wall-clock milliseconds when the last record was consumed; nil before the first.
    public var lastRecordAtMillis: Int64?
    /// Seconds since then, at the time of this snapshot: how stale the answers may be when the
    /// broker is unreachable (it also grows when producers are simply idle).
    public var secondsSinceLastRecord: Double?
    public var partitions: [PartitionStatus]
    /// Entries and approximate bytes per state family, summed over owned partitions.
    public var state: [FamilySize]
    /// Records given up as lost because the log no longer held them (see docs/events.md).
    public var dataLoss: [DataLossEvent]

    public init(
        version: String, bootstrapServers: String, groupID: String, eventsTopic: String, deadLetterTopic: String,
        startedAtMillis: Int64, lastCommitAtMillis: Int64? = nil, lastCommitDurationMillis: Double? = nil,
        lastCommitError: String? = nil, eventsPerSecond: Double = 0, watermarkMillis: Int64? = nil,
        consuming: Bool = false, partitions: [PartitionStatus] = [], state: [FamilySize] = [],
        dataLoss: [DataLossEvent] = [], lastRecordAtMillis: Int64? = nil, secondsSinceLastRecord: Double? = nil
    ) {
        self.lastRecordAtMillis = lastRecordAtMillis
        self.secondsSinceLastRecord = secondsSinceLastRecord
        self.version = version
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.eventsTopic = eventsTopic
        self.deadLetterTopic = deadLetterTopic
        self.startedAtMillis = startedAtMillis
        self.lastCommitAtMillis = lastCommitAtMillis
        self.lastCommitDurationMillis = lastCommitDurationMillis
        self.lastCommitError = lastCommitError
        self.eventsPerSecond = eventsPerSecond
        self.watermarkMillis = watermarkMillis
        self.consuming = consuming
        self.partitions = partitions
        self.state = state
        self.dataLoss = dataLoss
    }

    /// Total lag over owned partitions, when every end offset is known.
    public var totalLag: Int64? {
        var sum: Int64 = 0
        for p in partitions {
            guard let lag = p.lag else { return nil }
            sum += lag
        }
        return sum
    }
}

/// One owned input partition.
public struct PartitionStatus: Sendable, Codable, Hashable {
    public var topic: String
    public var partition: Int32
    /// Next offset to apply (everything before it is reflected in memory).
    public var appliedOffset: Int64?
    /// Next offset recorded in the last durable commit.
    public var committedOffset: Int64?
    /// The partition's log end offset as last seen by the consumer.
    public var endOffset: Int64?
    /// endOffset - appliedOffset.
    public var lag: Int64?
    public var watermarkMillis: Int64?
    public var applied: UInt64
    public var duplicates: UInt64
    public var late: UInt64
    public var rejected: [RejectReason: UInt64]

    public init(
        topic: String, partition: Int32, appliedOffset: Int64?, committedOffset: Int64?, endOffset: Int64?,
        watermarkMillis: Int64?, applied: UInt64, duplicates: UInt64, late: UInt64, rejected: [RejectReason: UInt64]
    ) {
        self.topic = topic
        self.partition = partition
        self.appliedOffset = appliedOffset
        self.committedOffset = committedOffset
        self.endOffset = endOffset
        if let endOffset { self.lag = max(0, endOffset - (appliedOffset ?? 0)) } else { self.lag = nil }
        self.watermarkMillis = watermarkMillis
        self.applied = applied
        self.duplicates = duplicates
        self.late = late
        self.rejected = rejected
    }
}

/// Entries and approximate memory of one state family.
public struct FamilySize: Sendable, Codable, Hashable {
    public var family: String
    public var entries: Int
    public var bytes: Int

    public init(family: String, entries: Int, bytes: Int) {
        self.family = family
        self.entries = entries
        self.bytes = bytes
    }
}

/// A detected gap: the partition's log start had moved past the offset the state needed, so the
/// records in `[fromOffset, toOffset)` were never applied.
public struct DataLossEvent: Sendable, Codable, Hashable {
    public var topic: String
    public var partition: Int32
    public var fromOffset: Int64
    public var toOffset: Int64
    public var detectedAtMillis: Int64
    public var message: String

    public init(topic: String, partition: Int32, fromOffset: Int64, toOffset: Int64, detectedAtMillis: Int64, message: String) {
        self.topic = topic
        self.partition = partition
        self.fromOffset = fromOffset
        self.toOffset = toOffset
        self.detectedAtMillis = detectedAtMillis
        self.message = message
    }

    public var lostRecords: Int64 { toOffset - fromOffset }
}

/// The read side the query API needs; the runtime implements it over its live state.
public protocol StateQueries: Sendable {
    /// Reports for `itemIDs`, in order; nil for an item no owned shard has seen.
    func itemStats(_ itemIDs: [String]) -> [ItemStatsReport?]
    /// A snapshot of the instance's status.
    func status() -> InstanceStatus
    /// The items with the most events of `type` in `window`, highest first (see
    /// ``TopItemsQuery`` for how exact it is).
    func topItems(type: EventType, window: StatsWindow, limit: Int) -> [RankedItem]
    /// The top `k` items similar to `itemID`; nil when the item has no co-occurrence state.
    func similarItems(_ itemID: String, method: SimilarityMethod, k: Int) -> [SimilarItem]?
    /// Items similar to any of `itemIDs`: similarities summed per candidate, the query items
    /// left out, best first, at most `k`; with `excludingExposedTo`, candidates that user was
    /// already shown are dropped (when the instance keeps exposure filters).
    func similarItems(toAnyOf itemIDs: [String], method: SimilarityMethod, k: Int, excludingExposedTo userID: String?) -> [SimilarItem]
    /// The LastN history of `userID`, newest first; nil when unknown.
    func history(_ userID: String) -> [HistoryItem]?
    /// For each item, whether `userID` was already shown it within the exposure retention
    /// (false positives at most at the configured rate, never false negatives). Unknown user:
    /// all false.
    func exposed(userID: String, itemIDs: [String]) -> [Bool]
    /// `exposed` for many (user, item) pairs.
    func exposed(pairs: [(userID: String, itemID: String)]) -> [Bool]
    /// The user's live exposure slices; nil when the user has none.
    func exposureSummary(_ userID: String) -> ExposureSummary?
}

/// An item and a count, in a ranking.
public struct RankedItem: Sendable, Codable, Hashable {
    public var itemID: String
    public var count: UInt64

    public init(itemID: String, count: UInt64) {
        self.itemID = itemID
        self.count = count
    }
}

/// The top items across shards. Each shard contributes its own top `limit × 10` candidates;
/// every candidate's count is then summed exactly over all shards. An item can only be missed
/// if it is outside the top `limit × 10` of every single partition yet inside the overall top
/// `limit`, which needs its events spread almost evenly over partitions while ten times more
/// items beat it in each.
public enum TopItemsQuery {
    public static func top(shards: [Shard], type: EventType, window: StatsWindow, limit: Int) -> [RankedItem] {
        guard limit > 0, let now = ItemStatsQuery.watermark(of: shards) else { return [] }
        var candidates = Set<String>()
        for shard in shards {
            for (index, _) in shard.itemStatistics.topItems(type: type, window: window, now: now, limit: limit * 10) {
                candidates.insert(shard.items.string(of: index))
            }
        }
        var ranked: [RankedItem] = candidates.map { id in
            RankedItem(itemID: id, count: shards.reduce(0) { $0 + ($1.itemCounters(id)?[type].count(in: window, now: now) ?? 0) })
        }
        ranked.sort { $0.count != $1.count ? $0.count > $1.count : $0.itemID < $1.itemID }
        return Array(ranked.prefix(limit))
    }
}

/// An item and its similarity to a query item (or the summed similarity to a set of them).
public struct SimilarItem: Sendable, Codable, Hashable {
    public var itemID: String
    public var score: Double

    public init(itemID: String, score: Double) {
        self.itemID = itemID
        self.score = score
    }
}

/// One entry of a user's LastN history.
public struct HistoryItem: Sendable, Codable, Hashable {
    public var itemID: String
    public var type: EventType
    public var timeMillis: Int64
    public var weight: Double

    public init(itemID: String, type: EventType, timeMillis: Int64, weight: Double) {
        self.itemID = itemID
        self.type = type
        self.timeMillis = timeMillis
        self.weight = weight
    }
}

/// What an exact co-occurrence recompute did.
public struct RecomputeReport: Sendable, Codable, Hashable {
    public var engagements: Int
    public var engagementsInWindow: Int
    public var items: Int
    public var windowEndMillis: Int64
    public var seconds: Double
    /// False when ingest moved to a newer cut meanwhile (the result was dropped, nothing lost).
    public var swapped: Bool

    public init(engagements: Int, engagementsInWindow: Int, items: Int, windowEndMillis: Int64, seconds: Double, swapped: Bool) {
        self.engagements = engagements
        self.engagementsInWindow = engagementsInWindow
        self.items = items
        self.windowEndMillis = windowEndMillis
        self.seconds = seconds
        self.swapped = swapped
    }
}

/// What an admin checkpoint produced.
public struct CheckpointReport: Sendable, Codable, Hashable {
    /// Directory of the copy (openable as a state directory).
    public var path: String
    /// The next offset per partition the copy reflects (its last commit).
    public var offsets: [Int32: Int64]
    public var bytes: Int64

    public init(path: String, offsets: [Int32: Int64], bytes: Int64) {
        self.path = path
        self.offsets = offsets
        self.bytes = bytes
    }
}

/// Operator actions the query API exposes under `/v1/admin/` (behind the admin token); the
/// runtime implements them.
public protocol AdminOperations: Sendable {
    /// A consistent copy of the committed state (RocksDB checkpoint), e.g. for backups or to seed
    /// another instance.
    func checkpoint() async throws -> CheckpointReport
    /// Recomputes ItemCF and Swing exactly from the engagement log and swaps the result in.
    func recompute() async throws -> RecomputeReport
}
