import CRdKafka

/// The watermark query shared by `KafkaConsumer` and `KafkaAdmin`.
enum KafkaWatermarks {
    /// `rd_kafka_query_watermark_offsets()`: a ListOffsets round trip to the leader.
    static func query(rk: OpaquePointer, _ tp: TopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = -1
        var high: Int64 = -1
        let code = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, timeout.clampedMilliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(native: code, message: "watermarks of \(tp): \(String(cString: rd_kafka_err2str(code)))",
                             fatalFrom: rk)
        }
        return (low, high)
    }
}
