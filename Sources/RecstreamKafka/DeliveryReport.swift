/// The outcome of one `KafkaProducer.send`, reported once per record.
public struct DeliveryReport: Sendable {
    /// The caller's token from `send(…, token:)`.
    public var token: UInt64
    /// Where the record went (or was headed, when it failed; partition -1 if none was chosen).
    public var topicPartition: TopicPartition
    /// The record's offset in the partition, when the broker acknowledged it.
    public var offset: Int64?
    /// Why the record was not delivered; `nil` on success.
    public var error: KafkaError?

    public init(token: UInt64, topicPartition: TopicPartition, offset: Int64?, error: KafkaError?) {
        self.token = token
        self.topicPartition = topicPartition
        self.offset = offset
        self.error = error
    }
}
