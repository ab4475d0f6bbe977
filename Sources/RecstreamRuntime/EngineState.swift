import RecstreamCore
import RecstreamKafka

/// The live state an instance serves: its shards and what it knows about their partitions.
/// Guarded by the engine lock; written by the ingest thread, read by queries.
package struct EngineState {
    /// Shards indexed by partition number; nil for partitions not owned.
    var shards: [Shard?] = []
    /// Item-keyed stage (split mode): shards indexed by partition of the item repartition topic.
    var itemShards: [Shard?] = []
    /// Partitions of the item repartition topic (split mode; 0 until known).
    var itemsPartitions = 0
    /// Co-occurrence state and its log (see InstanceState). In split mode it is the engagement
    /// stage's store, valid only while this instance owns the engagement topic's partition.
    package var instance: InstanceState
    /// Whether `instance` is this instance's to serve: always in single mode; in split mode while
    /// the engagement topic's partition is assigned here.
    var ownsEngagements = true
    /// The engagement partition's next offset as last committed (split mode).
    var engagementsCommitted: Int64?
    /// Split mode: committed offsets of the item topic's owned partitions.
    var itemCommitted: [Int32: Int64] = [:]
    /// Per partition: the next offset of the last durable commit.
    var committedOffsets: [Int32: Int64] = [:]
    /// Log end offsets of owned partitions as the brokers last reported them, with the wall-clock
    /// milliseconds of that answer; refreshed every second by ``EndOffsetMonitor`` on its own
    /// thread, so they stay live while ingest is blocked.
    var liveEnds: [TopicPartition: LiveEnd] = [:]
    /// Every data-loss event of this state directory (persisted; loaded at start).
    var dataLoss: [DataLossEvent] = []
    /// The most recent refused records the dead-letter topic did not take (at most
    /// ``undeliverableKept``; the store holds all of them), and how many there are in all.
    var undeliverable: [UndeliverableRecord] = []
    var undeliverableCount = 0
    static let undeliverableKept = 100
    /// Wall-clock milliseconds of the last commit that completed, an empty one included: what the
    /// stall alarm watches.
    var lastCompletedCommitAtMillis: Int64?
    /// Wall-clock milliseconds of the last commit that wrote something.
    var lastCommitAtMillis: Int64?
    var lastCommitDurationMillis: Double?
    var lastCommitError: String?
    var eventsPerSecond: Double = 0
    var consuming = false
    /// Wall-clock milliseconds of the last batch that held records.
    var lastRecordAtMillis: Int64?
    /// Family sizes, refreshed every few seconds by the ingest thread (computing them walks
    /// every entry).
    var familySizes: [FamilySize] = []
    /// Paged-state cache figures (budget filled in by the pipeline).
    var cache = StateCacheStatus(budgetBytes: 0)
    /// The store verification's progress (`state.verify`).
    var verification = StateVerificationStatus(phase: .off)

    init(instance: InstanceState) { self.instance = instance }

    package var ownedShards: [Shard] { shards.compactMap { $0 } }
    var ownedItemShards: [Shard] { itemShards.compactMap { $0 } }
    /// The shards holding item statistics: the item-keyed stage's in split mode.
    func statsShards(split: Bool) -> [Shard] { split ? ownedItemShards : ownedShards }

    /// `shard` at its partition's index of `array`, growing it as needed.
    private static func place(_ shard: Shard?, at partition: Int32, in array: inout [Shard?]) {
        let index = Int(partition)
        if array.count <= index {
            guard shard != nil else { return }
            array.append(contentsOf: repeatElement(nil, count: index + 1 - array.count))
        }
        array[index] = shard
    }

    mutating func install(_ shard: Shard) {
        Self.place(shard, at: shard.partition, in: &shards)
        if let offset = shard.nextOffset { committedOffsets[shard.partition] = offset }
    }

    mutating func remove(partition: Int32) {
        Self.place(nil, at: partition, in: &shards)
        committedOffsets[partition] = nil
    }

    mutating func installItemShard(_ shard: Shard) {
        Self.place(shard, at: shard.partition, in: &itemShards)
        if let offset = shard.nextOffset { itemCommitted[shard.partition] = offset }
    }

    mutating func removeItemShard(partition: Int32) {
        Self.place(nil, at: partition, in: &itemShards)
        itemCommitted[partition] = nil
    }
}

/// A partition's log end offset and when the broker reported it.
struct LiveEnd: Sendable, Hashable {
    var offset: Int64
    var atMillis: Int64
}
