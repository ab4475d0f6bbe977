import CRdKafka

/// One record, borrowed from librdkafka for the duration of `KafkaConsumer.poll`'s body.
///
/// Cost: no allocation to read topic, partition, offset, key, value or a single header; the
/// topic string is shared per partition. `headers` allocates.
///
/// - Important: The buffers returned by `key`, `value` and `header(_:)` point into
///   librdkafka's memory and are valid only inside the body call that received the record.
///   Copy what must outlive it.
public struct ConsumedRecord: ~Copyable {
    private let message: UnsafeMutablePointer<rd_kafka_message_t>

    /// The topic name.
    public let topic: String

    init(message: UnsafeMutablePointer<rd_kafka_message_t>, topic: String) {
        self.message = message
        self.topic = topic
    }

    /// The partition number.
    public var partition: Int32 { message.pointee.partition }

    /// The record's offset within its partition.
    public var offset: Int64 { message.pointee.offset }

    /// Topic and partition as one value (allocates nothing beyond sharing `topic`).
    public var topicPartition: TopicPartition { TopicPartition(topic: topic, partition: partition) }

    /// The record's timestamp (create time or log-append time, as the topic is configured),
    /// in milliseconds since the Unix epoch; `nil` when the record carries none.
    public var timestampMillis: Int64? {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let millis = rd_kafka_message_timestamp(message, &type)
        return type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || millis < 0 ? nil : millis
    }

    /// The key bytes; `nil` for a null key, an empty buffer for an empty key.
    public var key: UnsafeRawBufferPointer? {
        guard let key = message.pointee.key else { return nil }
        return UnsafeRawBufferPointer(start: key, count: message.pointee.key_len)
    }

    /// The value bytes; empty for a null value (see `isNullValue`).
    public var value: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: message.pointee.payload, count: message.pointee.len)
    }

    /// Whether the value is null (a tombstone) rather than present.
    public var isNullValue: Bool { message.pointee.payload == nil }

    /// The value of the last header named `name`; `nil` when there is none. A header with a
    /// null value is an empty buffer.
    ///
    /// Cost: librdkafka parses the headers on first use (once per record); then a linear scan.
    public func header(_ name: String) -> UnsafeRawBufferPointer? {
        guard let headers = nativeHeaders else { return nil }
        var value: UnsafeRawPointer?
        var size = 0
        guard rd_kafka_header_get_last(headers, name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return nil
        }
        return UnsafeRawBufferPointer(start: value, count: size)
    }

    /// Every header in record order, copied (the slow path: allocates).
    public var headers: [KafkaHeader] {
        guard let headers = nativeHeaders else { return [] }
        var result: [KafkaHeader] = []
        var index = 0
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        while rd_kafka_header_get_all(headers, index, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
            let bytes = value.map { Array(UnsafeRawBufferPointer(start: $0, count: size)) }
            result.append(KafkaHeader(key: name.map { String(cString: $0) } ?? "", value: bytes))
            index += 1
        }
        return result
    }

    /// The message's header list, owned by the message (parsed lazily by librdkafka).
    private var nativeHeaders: OpaquePointer? {
        var headers: OpaquePointer?
        // rd_kafka_message_headers(): the list stays owned by the message; do not free it.
        guard rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return headers
    }
}
