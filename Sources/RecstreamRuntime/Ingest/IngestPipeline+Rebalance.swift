import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// Partitions assigned and revoked: restore, install, commit and drop shards.
extension IngestPipeline {
    // MARK: Rebalance

    /// Restores each assigned partition's shard from the store and starts it at its stored offset.
    /// The shards are installed together once all are loaded: a query never sees some of a
    /// first assignment's partitions and not others (it would answer "not exposed" or 404 for a
    /// user or item whose shard is still loading; until then keyed routes answer 503).
    func assigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] {
        var starts: [TopicPartition: StartOffset] = [:]
        var userShards: [Shard] = []
        var itemShards: [Shard] = []
        defer {
            withState { state in
                for shard in userShards { state.install(shard) }
                for shard in itemShards { state.installItemShard(shard) }
            }
        }
        for tp in partitions {
            let kind: MovableStore.Kind
            switch tp.topic {
            case configuration.eventsTopic: kind = .user
            case configuration.itemsTopic where split: kind = .item
            case configuration.engagementsTopic where split: kind = .engagement
            default: continue
            }
            do {
                if split, let changelog {
                    _ = try changelog.restore(MovableStore(kind: kind, partition: tp.partition, configuration: configuration), repository: repository)
                }
                let next: Int64?
                switch kind {
                case .user:
                    let shard = try repository.loadShard(partition: tp.partition, configuration: configuration.shardConfiguration, paged: true)
                    userShards.append(shard)
                    next = shard.nextOffset
                case .item:
                    let shard = try repository.loadShard(
                        stage: ShardKeys.itemsStage, partition: tp.partition, configuration: configuration.shardConfiguration, paged: true)
                    itemShards.append(shard)
                    next = shard.nextOffset
                case .engagement:
                    let instance = try repository.loadInstanceState(configuration: cooccurrenceConfiguration, lookalike: lookalikeConfiguration, families: configuration.engagementFamilies)
                    withState { state in
                        state.instance = instance
                        state.ownsEngagements = true
                        state.engagementsCommitted = instance.nextOffset
                    }
                    next = instance.nextOffset
                }
                if let next { starts[tp] = .offset(next) }
                logger.info(
                    "partition assigned",
                    metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "resume_at": "\(next.map(String.init) ?? "start")"])
            } catch {
                // Serving wrong data is worse than not serving: leave the partition without a
                // shard (its records are skipped and stay uncommitted) and say so.
                logger.critical(
                    "cannot restore partition state; the partition is not consumed",
                    metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "error": "\(error)"])
            }
        }
        claimDue = true
        return starts
    }

    /// Commits and drops the shards of revoked partitions.
    func revoked(_ partitions: [TopicPartition]) {
        commit(consumer: nil)
        withState { state in
            for tp in partitions {
                switch tp.topic {
                case configuration.eventsTopic: state.remove(partition: tp.partition)
                case configuration.itemsTopic: state.removeItemShard(partition: tp.partition)
                case configuration.engagementsTopic where split:
                    state.ownsEngagements = false
                    state.engagementsCommitted = nil
                    state.instance = InstanceState(
                        configuration: cooccurrenceConfiguration, lookalike: lookalikeConfiguration, families: configuration.engagementFamilies)
                default: break
                }
            }
        }
        claimDue = true
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map { "\($0.topic)/\($0.partition)" })"])
    }
}

/// Forwards group callbacks to the pipeline without the consumer owning the pipeline.
final class RebalanceProxy: RebalanceListener {
    weak var pipeline: IngestPipeline?

    init(_ pipeline: IngestPipeline) { self.pipeline = pipeline }

    func partitionsAssigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] {
        pipeline?.assigned(partitions) ?? [:]
    }

    func partitionsRevoked(_ partitions: [TopicPartition]) { pipeline?.revoked(partitions) }
}
