import RecstreamCore

/// The live state an instance serves: its shards and what it knows about their partitions.
/// Guarded by the engine lock; written by the ingest thread, read by queries.
struct EngineState {
    /// Shards indexed by partition number; nil for partitions not owned.
    var shards: [Shard?] = []
    /// Co-occurrence state and its log, fed by every owned shard (see InstanceState).
    var instance: InstanceState
    /// Per partition: the next offset of the last durable commit.
    var committedOffsets: [Int32: Int64] = [:]
    /// Per partition: the log end offset last seen.
    var endOffsets: [Int32: Int64] = [:]
    var dataLoss: [DataLossEvent] = []
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

    init(instance: InstanceState) { self.instance = instance }

    var ownedShards: [Shard] { shards.compactMap { $0 } }

    mutating func install(_ shard: Shard) {
        let index = Int(shard.partition)
        if shards.count <= index { shards.append(contentsOf: repeatElement(nil, count: index + 1 - shards.count)) }
        shards[index] = shard
        if let offset = shard.nextOffset { committedOffsets[shard.partition] = offset }
    }

    mutating func remove(partition: Int32) {
        let index = Int(partition)
        if index < shards.count { shards[index] = nil }
        committedOffsets[partition] = nil
        endOffsets[partition] = nil
    }
}
