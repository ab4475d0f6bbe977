import CRdKafka

/// Reads one partition from an offset up to its end, outside any consumer group: the restore
/// path of a changelog (`rd_kafka_assign` of a single partition, no offsets committed).
///
/// Not thread-safe: one reader per thread; close it (or let it deinit) when done.
public final class PartitionReader {
    private let client: ClientHandle
    private let rk: OpaquePointer
    private let tp: TopicPartition

    /// Properties a reader always runs with (each overridable through the configuration).
    public static let defaultProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "enable.partition.eof": "false",
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": "10",
        "queued.max.messages.kbytes": "131072",
    ]

    /// Creates a reader of `tp`; nothing is fetched before ``read(from:to:timeout:_:)``.
    /// - Throws: an invalid property, or librdkafka refusing the configuration.
    public init(configuration: KafkaConfiguration, partition tp: TopicPartition) throws(KafkaError) {
        var conf = configuration
        // A group id is required by the consumer API even when no group is joined.
        if conf.properties["group.id"] == nil { conf.properties["group.id"] = "recstream-restore" }
        let native = try conf.makeNativeConf(defaults: Self.defaultProperties)
        let client = try ClientHandle(type: RD_KAFKA_CONSUMER, conf: native)
        self.client = client
        rk = try client.get()
        self.tp = tp
    }

    /// Low and high watermarks of the partition.
    public func watermarks(timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0
        var high: Int64 = 0
        // rd_kafka_query_watermark_offsets(): asks the partition leader.
        let code = rd_kafka_query_watermark_offsets(rk, tp.topic, tp.partition, &low, &high, timeout.clampedMilliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(native: code, message: "watermarks of \(tp.topic)/\(tp.partition)", fatalFrom: rk)
        }
        return (low, high)
    }

    /// Hands every record with offset in `from..<to` to `body`, in offset order, and returns when
    /// the record at `to - 1` was handed out (offsets removed by compaction are skipped).
    /// - Throws: `_TIMED_OUT` when no record arrives for `timeout` before the end; librdkafka's
    ///   error for a failed fetch; whatever `body` throws.
    public func read(
        from: Int64, to: Int64, idleTimeout timeout: Duration,
        _ body: (borrowing ConsumedRecord) throws -> Void
    ) throws {
        guard from < to else { return }
        let list = TopicPartitionList([(tp, from)])
        // rd_kafka_assign(): fetch this partition from `from`, no group membership.
        var code = rd_kafka_assign(rk, list.pointer)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(native: code, message: "assign \(tp.topic)/\(tp.partition)", fatalFrom: rk)
        }
        defer { _ = rd_kafka_assign(rk, nil) }
        var idleSince = ContinuousClock.now
        while true {
            // rd_kafka_consumer_poll(): one message (ours to destroy) or nil on timeout.
            guard let message = rd_kafka_consumer_poll(rk, 100) else {
                if ContinuousClock.now - idleSince > timeout {
                    throw KafkaError.local(RD_KAFKA_RESP_ERR__TIMED_OUT, "no record of \(tp.topic)/\(tp.partition) for \(timeout) before offset \(to)")
                }
                continue
            }
            defer { rd_kafka_message_destroy(message) }
            code = message.pointee.err
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                if code == RD_KAFKA_RESP_ERR__PARTITION_EOF { continue }
                throw KafkaError(native: code, message: "reading \(tp.topic)/\(tp.partition)", fatalFrom: rk)
            }
            idleSince = ContinuousClock.now
            let offset = message.pointee.offset
            if offset >= to { return }
            try body(ConsumedRecord(message: message, topic: tp.topic))
            if offset + 1 >= to { return }
        }
    }

    /// Hands every record from `from` on to `body`, waiting for new ones, until `shouldStop`
    /// returns true (checked at least every 100 ms).
    public func tail(
        from: Int64, shouldStop: () -> Bool, _ body: (borrowing ConsumedRecord) -> Void
    ) throws(KafkaError) {
        let list = TopicPartitionList([(tp, from)])
        // rd_kafka_assign(): fetch this partition from `from`, no group membership.
        var code = rd_kafka_assign(rk, list.pointer)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(native: code, message: "assign \(tp.topic)/\(tp.partition)", fatalFrom: rk)
        }
        defer { _ = rd_kafka_assign(rk, nil) }
        while !shouldStop() {
            guard let message = rd_kafka_consumer_poll(rk, 100) else { continue }
            defer { rd_kafka_message_destroy(message) }
            code = message.pointee.err
            if code == RD_KAFKA_RESP_ERR_NO_ERROR { body(ConsumedRecord(message: message, topic: tp.topic)) }
        }
    }

    private var closed = false

    /// Leaves the partition and frees the client. Idempotent; also run by `deinit`.
    public func close() {
        guard !closed else { return }
        closed = true
        // rd_kafka_consumer_close(): stops fetching before the handle is destroyed.
        _ = rd_kafka_consumer_close(rk)
        client.destroy()
    }

    deinit { close() }
}
