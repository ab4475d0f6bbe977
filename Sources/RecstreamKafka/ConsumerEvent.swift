/// A condition reported by `KafkaConsumer.poll` instead of a record.
public enum ConsumerEvent: Sendable {
    /// The partition's fetch position no longer exists on the broker (retention removed it,
    /// or it is beyond the end). Fetching of this partition has stopped: nothing is skipped
    /// silently. Resume with `KafkaConsumer.seek` (e.g. to the low watermark).
    case offsetOutOfRange(TopicPartition, requestedOffset: Int64, message: String)
    /// The consumer reached the end of the partition (only with `enable.partition.eof=true`).
    case partitionEOF(TopicPartition, offset: Int64)
    /// Any other error: broker connection problems (usually retriable and transient), a
    /// failed asynchronous commit, a rebalance failure, or a fatal error.
    case error(KafkaError)
}
