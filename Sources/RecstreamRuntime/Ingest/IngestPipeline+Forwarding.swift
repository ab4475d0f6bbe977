import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// Split mode: the user-keyed stage forwards accepted events to the item-side stages.
extension IngestPipeline {
    // MARK: Split mode

    /// Sends an accepted (or late) event to the item repartition topic, and an accepted engagement
    /// to the engagement topic, tagged with its source partition and offset.
    func forward(_ event: DecodedEvent, ids: Span<UInt8>, late: Bool, partition: Int32, offset: Int64) {
        guard let producer, forwardFailure == nil else { return }
        let itemID = ids.extracting(event.itemID)
        let value = ForwardedEvent.encode(
            type: event.type, time: event.time, dwellMillis: event.dwellMillis, late: late, userID: ids.extracting(event.userID),
            itemID: itemID, sourcePartition: partition, sourceOffset: offset)
        let target = KafkaPartitioner.partition(of: itemID, partitions: itemsPartitions)
        let item = Array(itemID)
        forwardedSinceCommit += 1
        do {
            try faults?.fail(.forwardSend)
            try producer.send(topic: configuration.itemsTopic, partition: target, key: item, value: value)
            if !late && cooccurrenceConfiguration.weights.isEngagement(event.type) {
                try producer.send(topic: configuration.engagementsTopic, partition: 0, key: item, value: value)
            }
        } catch {
            forwardFailure = error
        }
    }

    /// A record of an internal topic: the item-keyed stage or the engagement stage applies it.
}
