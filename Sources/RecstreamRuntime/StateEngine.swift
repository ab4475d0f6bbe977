import Foundation
import RecstreamCore

/// The state one instance owns, shared between the ingest thread (the only writer) and the query
/// API (readers). Implements ``StateQueries``: every read takes the engine lock briefly, copies
/// what it needs, and builds responses after releasing it.
public final class StateEngine: StateQueries, @unchecked Sendable {
    let lock = EngineLock()
    /// Guarded by `lock`.
    var state = EngineState()
    public let configuration: RecstreamConfiguration
    public let version: String
    let startedAtMillis: Int64
    /// Guarded by `lock`; set once the bootstrap address is known.
    var bootstrapServers: String

    public init(configuration: RecstreamConfiguration, version: String, bootstrapServers: String) {
        self.configuration = configuration
        self.version = version
        self.bootstrapServers = bootstrapServers
        startedAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
    }

    public func itemStats(_ itemIDs: [String]) -> [ItemStatsReport?] {
        let (found, now): ([ItemCounters?], EventTime?) = lock.withLock {
            let shards = state.ownedShards
            let found = itemIDs.map { id -> ItemCounters? in
                var merged: ItemCounters? = nil
                for shard in shards {
                    guard let c = shard.itemCounters(id) else { continue }
                    merged = merged.map { $0.merged(with: c) } ?? c
                }
                return merged
            }
            return (found, ItemStatsQuery.watermark(of: shards))
        }
        return zip(itemIDs, found).map { id, counters in
            counters.map {
                ItemStatsReport(itemID: id, counters: $0, now: now ?? EventTime(millis: 0), configuration: configuration.stats)
            }
        }
    }

    public func status() -> InstanceStatus {
        lock.withLock {
            let shards = state.ownedShards
            let partitions = shards.map { shard in
                PartitionStatus(
                    topic: configuration.eventsTopic, partition: shard.partition, appliedOffset: shard.nextOffset,
                    committedOffset: state.committedOffsets[shard.partition], endOffset: state.endOffsets[shard.partition],
                    watermarkMillis: shard.watermark?.millis, applied: shard.counters.appliedTotal,
                    duplicates: shard.counters.duplicates, late: shard.counters.late, rejected: shard.counters.rejected)
            }
            return InstanceStatus(
                version: version, bootstrapServers: bootstrapServers, groupID: configuration.groupID,
                eventsTopic: configuration.eventsTopic, deadLetterTopic: configuration.deadLetterTopic,
                startedAtMillis: startedAtMillis, lastCommitAtMillis: state.lastCommitAtMillis,
                lastCommitDurationMillis: state.lastCommitDurationMillis, lastCommitError: state.lastCommitError,
                eventsPerSecond: state.eventsPerSecond, watermarkMillis: ItemStatsQuery.watermark(of: shards)?.millis,
                consuming: state.consuming, partitions: partitions, state: state.familySizes, dataLoss: state.dataLoss)
        }
    }

    public func topItems(type: EventType, window: StatsWindow, limit: Int) -> [RankedItem] {
        lock.withLock { TopItemsQuery.top(shards: state.ownedShards, type: type, window: window, limit: limit) }
    }

    /// Canonical dump of every owned shard (see ``Shard/dumpLines()``), partitions ascending.
    public func dumpLines() -> [String] {
        lock.withLock { state.ownedShards.sorted { $0.partition < $1.partition }.flatMap { $0.dumpLines() } }
    }
}
