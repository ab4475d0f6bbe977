import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// The group directory: claims, the one-instance guard of single mode, partitions added to the topic.
extension IngestPipeline {
    // MARK: One group, one mode

    /// Before consuming: claims the group in the directory, reads the claims already there, and
    /// refuses to run beside an instance it must not run beside (see ``OwnershipDirectory/conflicts()``).
    func checkGroupAtStart() throws {
        publishClaim()
        var caughtUp = directory.awaitCaughtUp(within: .seconds(5))
        if !caughtUp && !split && InternalTopics.ensureDirectory(configuration: configuration, kafka: kafkaConfiguration, logger: logger) {
            publishClaim()
            caughtUp = directory.awaitCaughtUp(within: .seconds(5))
        }
        if !caughtUp {
            logger.warning(
                "cannot read the group directory; starting without checking for other instances of the group",
                metadata: ["topic": "\(configuration.directoryTopic)"])
        }
        if let conflict = directory.conflicts().first { throw GroupConflict(claim: conflict, mode: configuration.pipelineMode, group: configuration.groupID) }
    }

    /// While running: a conflicting instance that started before this one (or at the same
    /// millisecond with a smaller identity) wins; this one stops.
    func yieldingConflict() -> GroupConflict? {
        for claim in directory.conflicts() {
            let theirs = claim.startedAtMillis ?? Int64.min
            if theirs < directory.startedAtMillis || (theirs == directory.startedAtMillis && claim.identity < directory.identity) {
                return GroupConflict(claim: claim, mode: configuration.pipelineMode, group: configuration.groupID)
            }
        }
        return nil
    }

    /// Single mode: takes partitions added to the events topic since the last check.
    func assignNewPartitions(consumer: KafkaConsumer) {
        do {
            let admin = try KafkaAdmin(configuration: kafkaConfiguration)
            guard let count = try admin.partitionCount(of: configuration.eventsTopic, timeout: .seconds(5)), count > assignedPartitionCount
            else { return }
            let added = (Int32(assignedPartitionCount)..<Int32(count)).map { TopicPartition(topic: configuration.eventsTopic, partition: $0) }
            logger.warning(
                "the events topic has new partitions; consuming them (keys now map to other partitions: see docs/scaling.md, Adding partitions)",
                metadata: ["partitions": "\(count)", "was": "\(assignedPartitionCount)"])
            try consumer.assign(added)
            assignedPartitionCount = count
        } catch {
            logger.debug("partition count check failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Status

    /// Tells the group which partitions this instance owns, its mode and where it answers, after
    /// every change (the directory renews the claim on its own thread).
    func publishClaim() {
        claimDue = false
        let partitions: [String: [Int32]] = withState { state in
            [
                "user": state.ownedShards.map(\.partition), "item": state.ownedItemShards.map(\.partition),
                "engagement": state.ownsEngagements ? [0] : [],
            ]
        }
        directory.publish(partitions: partitions)
    }

    /// Throughput, family sizes and the watermark gauge, on the ingest thread. Lags and the stall
    /// alarm are kept by ``EndOffsetMonitor`` on its own thread, so they stay true while this
    /// thread is blocked.
}
