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

    /// Queues an accepted (or late) event for the item repartition topic, and an accepted
    /// engagement for the engagement topic, tagged with its source partition and offset. Sent by
    /// ``sendOutgoing()`` once the engine lock is released.
    func forward(_ event: DecodedEvent, ids: Span<UInt8>, late: Bool, partition: Int32, offset: Int64) {
        guard producer != nil, forwardFailure == nil else { return }
        let itemID = ids.extracting(event.itemID)
        let value = ForwardedEvent.encode(
            type: event.type, time: event.time, dwellMillis: event.dwellMillis, late: late, userID: ids.extracting(event.userID),
            itemID: itemID, sourcePartition: partition, sourceOffset: offset)
        let target = KafkaPartitioner.partition(of: itemID, partitions: itemsPartitions)
        let item = Array(itemID)
        forwardedSinceCommit += 1
        if configuration.itemStatisticsEnabled {
            outgoingForwards.append(OutgoingRecord(topic: configuration.itemsTopic, partition: target, key: item, value: value))
        }
        if !late && engagementFamilies.any && cooccurrenceConfiguration.weights.isEngagement(event.type) {
            outgoingForwards.append(OutgoingRecord(topic: configuration.engagementsTopic, partition: 0, key: item, value: value))
        }
    }

    /// Sends the forwards and dead letters the last batch queued. Called without the engine lock
    /// (a full producer queue may block here; queries must never wait behind it), and at the start
    /// of every commit, so a commit never stores a source offset before what it forwarded was
    /// handed to the producer.
    func sendOutgoing() {
        if !outgoingForwards.isEmpty {
            if let producer, forwardFailure == nil {
                for record in outgoingForwards {
                    do {
                        try faults?.fail(.forwardSend)
                        try producer.send(topic: record.topic, partition: record.partition, key: record.key, value: record.value)
                    } catch {
                        forwardFailure = error
                        break
                    }
                }
            }
            outgoingForwards.removeAll(keepingCapacity: true)
        }
        for refused in outgoingDeadLetters {
            deadLetters.send(
                key: refused.key, value: refused.value, originalHeaders: refused.headers, rejection: refused.rejection,
                source: refused.source, offset: refused.offset)
        }
        outgoingDeadLetters.removeAll(keepingCapacity: true)
    }
}

/// A record queued during a batch, sent after it (see ``IngestPipeline/sendOutgoing()``).
struct OutgoingRecord {
    var topic: String
    var partition: Int32
    var key: [UInt8]
    var value: [UInt8]
}

/// A refused record queued for the dead-letter topic during a batch.
struct RefusedRecord {
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [KafkaHeader]
    var rejection: Rejection
    var source: TopicPartition
    var offset: Int64
}

extension IngestPipeline {

    /// A record of an internal topic: the item-keyed stage or the engagement stage applies it.
}
