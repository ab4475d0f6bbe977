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
    /// Records given up as lost because the log no longer held them (see docs/events.md);
    /// persisted, so a restart still reports them.
    public var dataLoss: [DataLossEvent]
    /// Seconds since the last commit completed (an empty one included), or since the start
    /// before the first: how long the commit loop has not moved.
    public var secondsSinceLastCommit: Double?
    /// True while ingest runs and no commit completed for ``stallAfterSeconds``: the commit loop
    /// is stuck (a blocked write, an unreachable broker). `/readyz` fails meanwhile.
    public var stalled: Bool
    /// `ingest.stall_after_ms` in seconds.
    public var stallAfterSeconds: Double
    /// Total lag over owned partitions; nil (unknown, never 0) while any owned partition's end
    /// offset is unknown or stale.
    public var totalLag: Int64?
    /// Refused records the dead-letter topic did not take, recorded in the state store instead
    /// (`recstream admin undeliverable` lists them).
    public var undeliverableRecords: Int
    /// The paged-state cache: its budget, what it holds and how much moves in and out.
    public var cache: StateCacheStatus?
    /// The background read of every stored record that verifies the store's checksums.
    public var verification: StateVerificationStatus?
    /// Split mode: per stage, the group's partitions no live instance claims (nobody consumes
    /// them: an instance died and the group has not yet moved its partitions). Nil in single mode.
    /// This instance's own lag does not cover them.
    public var unownedPartitions: [String: [Int32]]?

    public init(
        version: String, bootstrapServers: String, groupID: String, eventsTopic: String, deadLetterTopic: String,
        startedAtMillis: Int64, lastCommitAtMillis: Int64? = nil, lastCommitDurationMillis: Double? = nil,
        lastCommitError: String? = nil, eventsPerSecond: Double = 0, watermarkMillis: Int64? = nil,
        consuming: Bool = false, partitions: [PartitionStatus] = [], state: [FamilySize] = [],
        dataLoss: [DataLossEvent] = [], lastRecordAtMillis: Int64? = nil, secondsSinceLastRecord: Double? = nil,
        secondsSinceLastCommit: Double? = nil, stalled: Bool = false, stallAfterSeconds: Double = 60, undeliverableRecords: Int = 0,
        cache: StateCacheStatus? = nil, verification: StateVerificationStatus? = nil
    ) {
        self.cache = cache
        self.verification = verification
        self.secondsSinceLastCommit = secondsSinceLastCommit
        self.stalled = stalled
        self.stallAfterSeconds = stallAfterSeconds
        self.undeliverableRecords = undeliverableRecords
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
        self.totalLag = Self.total(of: partitions)
    }

    /// The sum of the partitions' lags when every one is known; nil otherwise (and for none).
    public static func total(of partitions: [PartitionStatus]) -> Int64? {
        guard !partitions.isEmpty else { return nil }
        var sum: Int64 = 0
        for p in partitions {
            guard let lag = p.lag else { return nil }
            sum += lag
        }
        return sum
    }

    /// Why this instance should not take traffic yet, one line each; empty when ready. Ready
    /// means: ingest runs, partitions are assigned, every owned partition's lag is known and the
    /// total is at most `maxLag`, and commits are not stalled.
    public func notReadyReasons(maxLag: Int64) -> [String] {
        var reasons: [String] = []
        if !consuming { reasons.append("ingest is not consuming") }
        if partitions.isEmpty { reasons.append("no partitions assigned (state not restored yet, or more instances than partitions)") }
        let unknown = partitions.filter { $0.lag == nil }
        if !unknown.isEmpty {
            reasons.append(
                "lag unknown for \(unknown.count) of \(partitions.count) partitions (end offsets not reported yet): "
                    + unknown.prefix(8).map { "\($0.topic)[\($0.partition)]" }.joined(separator: ", "))
        }
        if let totalLag, totalLag > maxLag { reasons.append("consumer lag \(totalLag) is above \(maxLag)") }
        if let damage = verification?.damage {
            reasons.append("state directory damaged: \(damage)")
        }
        if stalled {
            reasons.append(
                "commits stalled: none completed for \(Int(secondsSinceLastCommit ?? 0)) s (ingest.stall_after_ms = \(Int(stallAfterSeconds * 1000)))"
                    + (lastCommitError.map { "; last error: \($0)" } ?? ""))
        }
        return reasons
    }
}

extension InstanceStatus {
    /// Encodes every optional as `null` when absent (an unknown total lag is `null`, never a
    /// missing key a reader might default to 0).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(bootstrapServers, forKey: .bootstrapServers)
        try c.encode(groupID, forKey: .groupID)
        try c.encode(eventsTopic, forKey: .eventsTopic)
        try c.encode(deadLetterTopic, forKey: .deadLetterTopic)
        try c.encode(startedAtMillis, forKey: .startedAtMillis)
        try c.encode(lastCommitAtMillis, forKey: .lastCommitAtMillis)
        try c.encode(lastCommitDurationMillis, forKey: .lastCommitDurationMillis)
        try c.encode(lastCommitError, forKey: .lastCommitError)
        try c.encode(eventsPerSecond, forKey: .eventsPerSecond)
        try c.encode(watermarkMillis, forKey: .watermarkMillis)
        try c.encode(consuming, forKey: .consuming)
        try c.encode(lastRecordAtMillis, forKey: .lastRecordAtMillis)
        try c.encode(secondsSinceLastRecord, forKey: .secondsSinceLastRecord)
        try c.encode(partitions, forKey: .partitions)
        try c.encode(state, forKey: .state)
        try c.encode(dataLoss, forKey: .dataLoss)
        try c.encode(secondsSinceLastCommit, forKey: .secondsSinceLastCommit)
        try c.encode(stalled, forKey: .stalled)
        try c.encode(stallAfterSeconds, forKey: .stallAfterSeconds)
        try c.encode(totalLag, forKey: .totalLag)
        try c.encode(undeliverableRecords, forKey: .undeliverableRecords)
        try c.encode(cache, forKey: .cache)
        try c.encode(verification, forKey: .verification)
        try c.encode(unownedPartitions, forKey: .unownedPartitions)
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
    /// The partition's log end offset as the broker last reported it (refreshed every second);
    /// nil while unknown or older than a few seconds.
    public var endOffset: Int64?
    /// endOffset − appliedOffset, at least 0 (the end is read a moment before the applied offset,
    /// so records that arrived in between can put the applied offset ahead); nil (unknown, never 0)
    /// while the end offset is unknown.
    public var lag: Int64?
    /// Seconds since the end offset was reported.
    public var endOffsetAgeSeconds: Double?
    public var watermarkMillis: Int64?
    public var applied: UInt64
    public var duplicates: UInt64
    /// Events dropped from the windowed families as later than the allowed lateness.
    public var late: UInt64
    /// Of those, exposures the exposure filter still remembered (inside its retention).
    public var lateExposuresKept: UInt64
    public var rejected: [RejectReason: UInt64]

    public init(
        topic: String, partition: Int32, appliedOffset: Int64?, committedOffset: Int64?, endOffset: Int64?,
        watermarkMillis: Int64?, applied: UInt64, duplicates: UInt64, late: UInt64, rejected: [RejectReason: UInt64],
        endOffsetAgeSeconds: Double? = nil, lateExposuresKept: UInt64 = 0
    ) {
        self.endOffsetAgeSeconds = endOffsetAgeSeconds
        self.lateExposuresKept = lateExposuresKept
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

extension PartitionStatus {
    /// Encodes an unknown end offset and lag as `null` rather than leaving the keys out, so a
    /// reader cannot mistake "not reported" for an absent field it may default to 0.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(topic, forKey: .topic)
        try c.encode(partition, forKey: .partition)
        try c.encode(appliedOffset, forKey: .appliedOffset)
        try c.encode(committedOffset, forKey: .committedOffset)
        try c.encode(endOffset, forKey: .endOffset)
        try c.encode(lag, forKey: .lag)
        try c.encode(endOffsetAgeSeconds, forKey: .endOffsetAgeSeconds)
        try c.encode(watermarkMillis, forKey: .watermarkMillis)
        try c.encode(applied, forKey: .applied)
        try c.encode(duplicates, forKey: .duplicates)
        try c.encode(late, forKey: .late)
        try c.encode(lateExposuresKept, forKey: .lateExposuresKept)
        try c.encode(rejected, forKey: .rejected)
    }
}

/// The cache of paged state entries (`state.cache_bytes`), over every owned shard.
public struct StateCacheStatus: Sendable, Codable, Hashable {
    /// `state.cache_bytes`.
    public var budgetBytes: Int
    /// Bytes held by resident entries now (dirty ones may exceed the budget until the commit).
    public var residentBytes: Int
    /// Entries read from the store since start because they were not resident.
    public var loads: Int
    /// Bytes of clean entries evicted since start.
    public var evictedBytes: Int

    public init(budgetBytes: Int, residentBytes: Int = 0, loads: Int = 0, evictedBytes: Int = 0) {
        self.budgetBytes = budgetBytes
        self.residentBytes = residentBytes
        self.loads = loads
        self.evictedBytes = evictedBytes
    }
}

/// The verification of the state store's checksums (`state.verify`): every stored record is
/// read once after the start, in chunks, off the ingest path.
public struct StateVerificationStatus: Sendable, Codable, Hashable {
    public enum Phase: String, Sendable, Codable, Hashable {
        /// `state.verify=off`.
        case off
        case running
        case passed
        case damaged
    }
    public var phase: Phase
    /// Records read so far.
    public var records: Int
    /// Seconds the verification took (nil while it runs).
    public var seconds: Double?
    /// What was found damaged, with the command that rebuilds the state (nil unless damaged).
    public var damage: String?

    public init(phase: Phase, records: Int = 0, seconds: Double? = nil, damage: String? = nil) {
        self.phase = phase
        self.records = records
        self.seconds = seconds
        self.damage = damage
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
    /// Why keyed queries cannot be answered yet (no partitions assigned or restored), or nil
    /// when they can.
    func warmingUp() -> String?
    /// The events partitions whose state this instance holds now.
    func ownedUserPartitions() -> [Int32]
}

extension StateQueries {
    public func warmingUp() -> String? { nil }
    public func ownedUserPartitions() -> [Int32] { [] }
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
        var candidates = Set<[UInt8]>()
        for shard in shards {
            for (item, _) in shard.itemStatistics.topItems(type: type, window: window, now: now, limit: limit * 10) {
                candidates.insert(item)
            }
        }
        var ranked: [RankedItem] = candidates.map { key in
            let id = String(decoding: key, as: UTF8.self)
            return RankedItem(itemID: id, count: shards.reduce(0) { $0 + ($1.itemStatistics.counters(of: key)?[type].count(in: window, now: now) ?? 0) })
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
    /// Refused records the dead-letter topic did not take (recorded in the state store instead),
    /// in source order, at most `limit`.
    func undeliverable(limit: Int) async throws -> UndeliverableList
}

/// `GET /v1/admin/undeliverable`: how many refused records the dead-letter topic did not take,
/// and the first `limit` of them.
public struct UndeliverableList: Sendable, Codable, Hashable {
    public var total: Int
    public var records: [UndeliverableRecord]

    public init(total: Int, records: [UndeliverableRecord]) {
        self.total = total
        self.records = records
    }
}
