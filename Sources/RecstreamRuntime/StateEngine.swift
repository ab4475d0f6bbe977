import Foundation
import RecstreamCore
import RecstreamKafka

/// The state one instance owns, shared between the ingest thread (the only writer) and the query
/// API (readers). Implements ``StateQueries``: every read takes the engine lock briefly, copies
/// what it needs, and builds responses after releasing it.
public final class StateEngine: StateQueries, @unchecked Sendable {
    package let lock = EngineLock()
    /// Guarded by `lock`.
    package var state: EngineState
    public let configuration: RecstreamConfiguration
    public let version: String
    let startedAtMillis: Int64
    /// Guarded by `lock`; set once the bootstrap address is known.
    var bootstrapServers: String
    let clock: RuntimeClock
    var wallClock: @Sendable () -> Int64 { clock.wallMillis }
    /// An end offset older than this is stale: the partition's lag is reported unknown.
    static let endOffsetFreshMillis: Int64 = 5_000

    /// The served embedding model, listed in the status's state table. Set once by the runtime
    /// before ingest starts.
    public var models: ServedModelSlot?
    /// Split mode: the group's ownership directory, for the partitions nobody owns (set once by
    /// the runtime before ingest starts).
    public var directory: OwnershipDirectory?

    public init(
        configuration: RecstreamConfiguration, version: String, bootstrapServers: String, instance: InstanceState,
        ownsEngagements: Bool = true, clock: RuntimeClock = .system
    ) {
        state = EngineState(instance: instance)
        state.ownsEngagements = ownsEngagements
        state.cache.budgetBytes = configuration.cacheBytes
        self.configuration = configuration
        self.version = version
        self.bootstrapServers = bootstrapServers
        self.clock = clock
        startedAtMillis = clock.wallMillis()
    }

    /// Whether the instance can answer keyed queries yet: false until its first assignment is
    /// installed (a restarted instance waiting for its partitions), so routes answer 503 with
    /// Retry-After instead of a 404 that would read as "no data".
    public func warmingUp() -> String? {
        // Split mode: queries go to the owners' claims (forwarding answers 503 while a partition
        // has no fresh owner), and an instance may rightly own nothing.
        guard configuration.pipelineMode == .single else { return nil }
        return lock.withLock {
            guard state.ownedShards.isEmpty else { return nil }
            return state.consuming ? "no partitions assigned yet (joining the consumer group, restoring state)" : "ingest has not started"
        }
    }

    public func ownedUserPartitions() -> [Int32] { lock.withLock { state.ownedShards.map(\.partition) } }

    /// Every partition this instance owns now, of every topic it consumes.
    func ownedTopicPartitions() -> [TopicPartition] {
        lock.withLock {
            state.ownedShards.map { TopicPartition(topic: configuration.eventsTopic, partition: $0.partition) }
                + state.ownedItemShards.map { TopicPartition(topic: configuration.itemsTopic, partition: $0.partition) }
                + (configuration.pipelineMode == .split && state.ownsEngagements
                    ? [TopicPartition(topic: configuration.engagementsTopic, partition: 0)] : [])
        }
    }

    /// Whether some owned partition has no reported end offset yet (just assigned).
    func hasOwnedPartitionWithoutEnd() -> Bool {
        let owned = ownedTopicPartitions()
        return lock.withLock { owned.contains { state.liveEnds[$0] == nil } }
    }

    /// The end offset of `tp` if the brokers reported it recently, and its age in seconds.
    private func liveEnd(_ tp: TopicPartition, now: Int64) -> (offset: Int64?, age: Double?) {
        guard let end = state.liveEnds[tp] else { return (nil, nil) }
        let age = Double(now - end.atMillis) / 1000
        return (now - end.atMillis <= Self.endOffsetFreshMillis ? end.offset : nil, age)
    }

    /// Whether this instance serves the engagement stage's state (co-occurrence, histories, seeds,
    /// the embedding log): always in single mode; in split mode while it owns that partition.
    public var ownsEngagementStage: Bool { lock.withLock { state.ownsEngagements } }

    /// Reads committed records of the store, for entries a paged shard does not hold in memory
    /// (set by the runtime; nil: every shard is complete).
    var committed: (any CommittedRecords)?

    /// One shard's answer for an item: resident (current), or to be read from the store.
    private enum Lookup {
        case resident(ItemCounters?)
        case stored(key: [UInt8])
    }

    private func lookup(_ shard: Shard, _ item: [UInt8]) -> Lookup {
        if !shard.paged || shard.itemStatistics.table.isResident(item) { return .resident(shard.itemStatistics.counters(of: item)) }
        return .stored(key: shard.itemRecordKey(item))
    }

    /// The counters behind a lookup: resident ones as they are, the others read from the store
    /// (outside the engine lock; an entry not resident is clean, so the store holds its value).
    private func resolve(_ lookup: Lookup) -> ItemCounters? {
        switch lookup {
        case .resident(let counters): return counters
        case .stored(let key):
            guard let record = try? committed?.value(key) else { return nil }
            return try? ItemCounters.decode(record)
        }
    }

    public func itemStats(_ itemIDs: [String]) -> [ItemStatsReport?] {
        if configuration.pipelineMode == .split { return splitItemStats(itemIDs) }
        let (lookups, now): ([[Lookup]], EventTime?) = lock.withLock {
            let shards = state.ownedShards
            let lookups = itemIDs.map { id -> [Lookup] in
                let item = Array(id.utf8)
                return shards.map { lookup($0, item) }
            }
            return (lookups, ItemStatsQuery.watermark(of: shards))
        }
        return zip(itemIDs, lookups).map { id, perShard in
            var merged: ItemCounters? = nil
            for lookup in perShard {
                guard let c = resolve(lookup) else { continue }
                merged = merged.map { $0.merged(with: c) } ?? c
            }
            return merged.map { ItemStatsReport(itemID: id, counters: $0, now: now ?? EventTime(millis: 0), configuration: configuration.stats) }
        }
    }

    /// Split mode: one item-keyed shard holds an item; its windows end at that shard's watermark,
    /// so the answer is the same whichever instance owns the partition and whatever else it owns.
    private func splitItemStats(_ itemIDs: [String]) -> [ItemStatsReport?] {
        let found: [(Lookup, EventTime)?] = lock.withLock {
            itemIDs.map { id -> (Lookup, EventTime)? in
                guard state.itemsPartitions > 0 else { return nil }
                let item = Array(id.utf8)
                let q = Int(KafkaPartitioner.partition(of: item, partitions: state.itemsPartitions))
                guard q < state.itemShards.count, let shard = state.itemShards[q] else { return nil }
                return (lookup(shard, item), shard.watermark ?? EventTime(millis: 0))
            }
        }
        return zip(itemIDs, found).map { id, entry in
            guard let (lookup, now) = entry, let counters = resolve(lookup) else { return nil }
            return ItemStatsReport(itemID: id, counters: counters, now: now, configuration: configuration.stats)
        }
    }

    public func status() -> InstanceStatus {
        let now = wallClock()
        // The served model: its ids and the heap it holds (the mapped file's pages are the
        // kernel's page cache, not counted here).
        let modelSize = models?.load().map { served in
            [FamilySize(
                family: "embedding_model", entries: served.model.users.vectorCount + served.model.items.vectorCount,
                bytes: served.retriever.approximateBytes)]
        } ?? []
        let unowned = directory?.unownedPartitions()
        return lock.withLock {
            let shards = state.ownedShards
            func end(_ topic: String, _ partition: Int32) -> (offset: Int64?, age: Double?) {
                liveEnd(TopicPartition(topic: topic, partition: partition), now: now)
            }
            let userPartitions: [PartitionStatus] = shards.map { shard in
                let e = end(configuration.eventsTopic, shard.partition)
                return PartitionStatus(
                    topic: configuration.eventsTopic, partition: shard.partition, appliedOffset: shard.nextOffset,
                    committedOffset: state.committedOffsets[shard.partition], endOffset: e.offset,
                    watermarkMillis: shard.watermark?.millis, applied: shard.counters.appliedTotal,
                    duplicates: shard.counters.duplicates, late: shard.counters.late, rejected: shard.counters.rejected,
                    endOffsetAgeSeconds: e.age, lateExposuresKept: shard.counters.lateExposuresKept)
            }
            let itemPartitions: [PartitionStatus] = state.ownedItemShards.map { shard in
                let e = end(configuration.itemsTopic, shard.partition)
                return PartitionStatus(
                    topic: configuration.itemsTopic, partition: shard.partition, appliedOffset: shard.nextOffset,
                    committedOffset: state.itemCommitted[shard.partition], endOffset: e.offset, watermarkMillis: shard.watermark?.millis,
                    applied: shard.counters.appliedTotal, duplicates: shard.counters.duplicates, late: shard.counters.late,
                    rejected: shard.counters.rejected, endOffsetAgeSeconds: e.age)
            }
            var partitions = userPartitions + itemPartitions
            if configuration.pipelineMode == .split && state.ownsEngagements {
                let e = end(configuration.engagementsTopic, 0)
                partitions.append(
                    PartitionStatus(
                        topic: configuration.engagementsTopic, partition: 0, appliedOffset: state.instance.nextOffset,
                        committedOffset: state.engagementsCommitted, endOffset: e.offset, watermarkMillis: state.instance.watermark?.millis,
                        applied: 0, duplicates: 0, late: 0, rejected: [:], endOffsetAgeSeconds: e.age))
            }
            let sinceCommit = Double(now - (state.lastCompletedCommitAtMillis ?? startedAtMillis)) / 1000
            let stallAfter = Double(configuration.stallAfterMillis) / 1000
            var status = InstanceStatus(
                version: version, bootstrapServers: bootstrapServers, groupID: configuration.groupID,
                eventsTopic: configuration.eventsTopic, deadLetterTopic: configuration.deadLetterTopic,
                startedAtMillis: startedAtMillis, lastCommitAtMillis: state.lastCommitAtMillis,
                lastCommitDurationMillis: state.lastCommitDurationMillis, lastCommitError: state.lastCommitError,
                eventsPerSecond: state.eventsPerSecond, watermarkMillis: ItemStatsQuery.watermark(of: shards)?.millis,
                consuming: state.consuming, partitions: partitions, state: state.familySizes + modelSize, dataLoss: state.dataLoss,
                lastRecordAtMillis: state.lastRecordAtMillis,
                secondsSinceLastRecord: state.lastRecordAtMillis.map { Double(now - $0) / 1000 },
                secondsSinceLastCommit: sinceCommit, stalled: state.consuming && sinceCommit > stallAfter, stallAfterSeconds: stallAfter,
                undeliverableRecords: state.undeliverableCount, cache: state.cache, verification: state.verification)
            status.unownedPartitions = unowned
            return status
        }
    }

    public func similarItems(_ itemID: String, method: SimilarityMethod, k: Int) -> [SimilarItem]? {
        lock.withLock { state.instance.similar(itemID: itemID, method: method, k: k) }?.map { SimilarItem(itemID: $0.itemID, score: $0.score) }
    }

    public func similarItems(toAnyOf itemIDs: [String], method: SimilarityMethod, k: Int, excludingExposedTo userID: String?)
        -> [SimilarItem]
    {
        let query = Set(itemIDs)
        // Each query item contributes its neighbours (more than k, so the sum can reorder them).
        let lists: [[(itemID: String, score: Double)]] = lock.withLock {
            itemIDs.compactMap { state.instance.similar(itemID: $0, method: method, k: max(k * 2, k + itemIDs.count)) }
        }
        var sums: [String: Double] = [:]
        for list in lists { for (id, score) in list where !query.contains(id) { sums[id, default: 0] += score } }
        var ranked = sums.map { SimilarItem(itemID: $0.key, score: $0.value) }
        if let userID { ranked = ranked.filter { !isExposed(userID, $0.itemID) } }
        ranked.sort { $0.score != $1.score ? $0.score > $1.score : $0.itemID < $1.itemID }
        return Array(ranked.prefix(k))
    }

    /// Whether `userID` was shown `itemID`.
    func isExposed(_ userID: String, _ itemID: String) -> Bool { exposed(userID: userID, itemIDs: [itemID])[0] }

    /// Where one owned shard holds a user's exposure filter: in memory (answered under the engine
    /// lock), or only in the store (read after the lock is released).
    private struct StoredFilter {
        var prefix: [UInt8]
        var user: Int32
        var watermark: EventTime
        var configuration: ExposureFilterConfiguration
    }

    /// Reads a user's committed filter from the store, outside the engine lock; a user who is not
    /// resident has no changes pending, so the store holds the current filter. Nil when it cannot
    /// be read (answered as "not exposed", and logged by the ingest side when it reads it).
    private func read(_ stored: StoredFilter) -> ExposureFilters? {
        guard let records = try? committed?.records(under: stored.prefix) else { return nil }
        return try? ExposureFilters.stored(user: stored.user, records: records, configuration: stored.configuration)
    }

    /// Answers for `hashes` from the resident filters of `userID` in the owned shards, and the
    /// filters to read from the store for the shards that do not hold it in memory.
    private func residentExposures(userID: String, hashes: [ExposureHash], into answers: inout [Bool]) -> [StoredFilter] {
        var stored: [StoredFilter] = []
        // Normally one shard holds the user (events are keyed by user); any that does counts.
        for shard in state.ownedShards {
            guard let user = shard.users.lookup(userID), let watermark = shard.watermark else { continue }
            if shard.exposureFilters.isResident(user) {
                for (i, hash) in hashes.enumerated() where !answers[i] {
                    answers[i] = shard.exposureFilters.contains(user: user, itemHash: hash, watermark: watermark)
                }
            } else {
                stored.append(
                    StoredFilter(
                        prefix: shard.exposureRecordPrefix(user), user: user, watermark: watermark,
                        configuration: shard.configuration.exposure))
            }
        }
        return stored
    }

    public func exposed(userID: String, itemIDs: [String]) -> [Bool] {
        let hashes = itemIDs.map { ExposureHash($0) }
        var answers = [Bool](repeating: false, count: hashes.count)
        let stored = lock.withLock { residentExposures(userID: userID, hashes: hashes, into: &answers) }
        for filter in stored {
            guard let filters = read(filter) else { continue }
            for (i, hash) in hashes.enumerated() where !answers[i] {
                answers[i] = filters.contains(user: filter.user, itemHash: hash, watermark: filter.watermark)
            }
        }
        return answers
    }

    public func exposed(pairs: [(userID: String, itemID: String)]) -> [Bool] {
        var answers = [Bool](repeating: false, count: pairs.count)
        // One read of each user's filter, however many of the pairs name it.
        var positions: [String: [Int]] = [:]
        for (i, pair) in pairs.enumerated() { positions[pair.userID, default: []].append(i) }
        for (userID, indices) in positions {
            let found = exposed(userID: userID, itemIDs: indices.map { pairs[$0].itemID })
            for (i, answer) in zip(indices, found) { answers[i] = answer }
        }
        return answers
    }

    public func exposureSummary(_ userID: String) -> ExposureSummary? {
        let (resident, stored): (ExposureSummary?, [StoredFilter]) = lock.withLock {
            var none: [Bool] = []
            if let summary = state.ownedShards.lazy.compactMap({ $0.exposureSummary(userID: userID) }).first { return (summary, []) }
            return (nil, residentExposures(userID: userID, hashes: [], into: &none))
        }
        if let resident { return resident }
        return stored.lazy.compactMap { filter in
            self.read(filter).flatMap { $0.summary(user: filter.user, watermark: filter.watermark) }
        }.first
    }

    public func history(_ userID: String) -> [HistoryItem]? {
        lock.withLock { state.instance.history(userID: userID) }?.map {
            HistoryItem(itemID: $0.itemID, type: $0.type, timeMillis: $0.time.millis, weight: $0.weight)
        }
    }

    /// Exact over every item the owned shards hold: a paged shard's committed records are scanned
    /// from the store (outside the engine lock) and its resident entries laid over them. Cost:
    /// O(items held) per call.
    public func topItems(type: EventType, window: StatsWindow, limit: Int) -> [RankedItem] {
        let (shards, now): ([Shard], EventTime?) = lock.withLock {
            let shards = state.statsShards(split: configuration.pipelineMode == .split)
            return (shards, ItemStatsQuery.watermark(of: shards))
        }
        guard limit > 0, let now else { return [] }
        guard shards.contains(where: \.paged), let committed else {
            return TopItemsQuery.top(shards: shards, type: type, window: window, limit: limit)
        }
        var totals: [[UInt8]: UInt64] = [:]
        for shard in shards {
            var counts: [[UInt8]: UInt64] = [:]
            let prefix = shard.keyPrefix + [ShardKeys.familyKind, ItemStatistics.tag]
            for record in (try? committed.records(under: prefix)) ?? [] {
                guard let c = try? ItemCounters.decode(record.value) else { continue }
                counts[record.key] = c[type].count(in: window, now: now)
            }
            // The copy taken under the lock: its resident entries are at least as new as the store's.
            for key in shard.itemStatistics.table.residentKeys {
                counts[key] = shard.itemStatistics.counters(of: key)?[type].count(in: window, now: now) ?? 0
            }
            for (key, count) in counts { totals[key, default: 0] += count }
        }
        var top = TopCounts(limit: limit)
        for (key, count) in totals { top.offer(key, count) }
        return top.ranked.map { RankedItem(itemID: String(decoding: $0.item, as: UTF8.self), count: $0.count) }
    }
}

/// Committed records of the store, read by queries for entries not held in memory.
public protocol CommittedRecords: Sendable {
    func value(_ key: [UInt8]) throws -> [UInt8]?
    /// Every record under `prefix`, keys without the prefix, in key order.
    func records(under prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])]
}
