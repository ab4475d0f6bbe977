import CRdKafka

/// Sole owner of one `rd_kafka_topic_partition_list_t`; `deinit` destroys it.
final class TopicPartitionList {
    let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    /// An empty list with room for `capacity` entries (it grows on demand).
    init(capacity: Int) {
        // rd_kafka_topic_partition_list_new(): the caller owns the list.
        pointer = rd_kafka_topic_partition_list_new(Int32(clamping: max(capacity, 1)))
    }

    /// A list of `offsets` (each partition with its native offset).
    convenience init(_ offsets: [(TopicPartition, Int64)]) {
        self.init(capacity: offsets.count)
        for (tp, offset) in offsets { add(tp, offset: offset) }
    }

    /// A list of partitions with the offset left at librdkafka's default (`INVALID`).
    convenience init(_ partitions: [TopicPartition]) {
        self.init(capacity: partitions.count)
        for tp in partitions { add(tp, offset: nil) }
    }

    deinit { rd_kafka_topic_partition_list_destroy(pointer) }

    /// Appends `tp`; librdkafka copies the topic name.
    func add(_ tp: TopicPartition, offset: Int64?) {
        let element = rd_kafka_topic_partition_list_add(pointer, tp.topic, tp.partition)!
        if let offset { element.pointee.offset = offset }
    }

    /// The entries as Swift values: partition, offset and per-entry error.
    var entries: [(TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)] {
        Self.entries(of: pointer)
    }

    /// Reads a list this module does not own (e.g. one passed to a callback).
    static func entries(of list: UnsafePointer<rd_kafka_topic_partition_list_t>)
        -> [(TopicPartition, offset: Int64, error: rd_kafka_resp_err_t)]
    {
        let count = Int(list.pointee.cnt)
        guard count > 0, let elements = list.pointee.elems else { return [] }
        return (0..<count).map { index in
            let element = elements[index]
            return (TopicPartition(topic: String(cString: element.topic), partition: element.partition),
                    element.offset, element.err)
        }
    }
}
