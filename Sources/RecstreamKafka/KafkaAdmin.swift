import CRdKafka

/// Topic administration and metadata over a producer-type client handle.
///
/// Default: `allow.auto.create.topics=false` (brokers that support Metadata v4 then never
/// create a topic because a client asked about it).
///
/// - Important: Not thread-safe; use it from one thread at a time. Every call blocks the
///   calling thread for up to its timeout.
public final class KafkaAdmin {
    /// The properties set unless the caller sets them.
    public static let defaultProperties: [String: String] = [
        "allow.auto.create.topics": "false",
    ]

    private let client: ClientHandle
    private let rk: OpaquePointer

    /// Creates the client (it connects lazily, on the first call).
    ///
    /// - Throws: an invalid property, or librdkafka refusing the configuration.
    public init(configuration: KafkaConfiguration) throws(KafkaError) {
        let conf = try configuration.makeNativeConf(defaults: Self.defaultProperties)
        client = try ClientHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        rk = try client.get()
    }

    /// Creates topics; a topic that already exists counts as created (its partition count is
    /// not checked: use `partitionCount(of:timeout:)`).
    ///
    /// - Throws: the first per-topic failure (its message names every failed topic), or
    ///   `_TIMED_OUT`; against the librdkafka 2.0.2 mock cluster (no CreateTopics API, no
    ///   controller in its Metadata v2) always `_TIMED_OUT` ("Failed while waiting for
    ///   controller"): use `EmbeddedBroker.createTopic` there.
    public func createTopics(_ specs: [TopicSpec], timeout: Duration) throws(KafkaError) {
        if specs.isEmpty { return }
        var newTopics: [OpaquePointer?] = []
        // rd_kafka_NewTopic_new(): each object is ours; rd_kafka_CreateTopics() copies them.
        defer { for topic in newTopics { rd_kafka_NewTopic_destroy(topic) } }
        var errorText = [CChar](repeating: 0, count: 512)
        for spec in specs {
            guard let topic = rd_kafka_NewTopic_new(spec.name, Int32(clamping: spec.partitions),
                                                    Int32(clamping: spec.replicationFactor),
                                                    &errorText, errorText.count) else {
                let reason = errorText.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                throw .local(RD_KAFKA_RESP_ERR__INVALID_ARG, "topic \(spec.name): \(reason)")
            }
            newTopics.append(topic)
            for (key, value) in spec.config.sorted(by: { $0.key < $1.key }) {
                let code = rd_kafka_NewTopic_set_config(topic, key, value)
                if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError(native: code, message: "topic \(spec.name) config \(key)=\(value) rejected")
                }
            }
        }
        // rd_kafka_queue_new(): a result queue we own.
        let results = rd_kafka_queue_new(rk)
        defer { rd_kafka_queue_destroy(results) }
        // rd_kafka_AdminOptions_new(): ours to destroy.
        let options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        let millis = timeout.clampedMilliseconds
        _ = rd_kafka_AdminOptions_set_request_timeout(options, millis, &errorText, errorText.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, millis, &errorText, errorText.count)
        newTopics.withUnsafeMutableBufferPointer { topics in
            rd_kafka_CreateTopics(rk, topics.baseAddress, topics.count, options, results)
        }
        // rd_kafka_queue_poll(): the result event is ours to rd_kafka_event_destroy(); the
        // request itself times out after `timeout`, so wait a little longer for its report.
        guard let event = rd_kafka_queue_poll(results, (timeout + .seconds(5)).clampedMilliseconds) else {
            throw .local(RD_KAFKA_RESP_ERR__TIMED_OUT, "CreateTopics: no result within \(timeout)")
        }
        defer { rd_kafka_event_destroy(event) }
        let code = rd_kafka_event_error(event)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            let text = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            throw KafkaError(native: code, message: "CreateTopics failed: \(text)", fatalFrom: rk)
        }
        var count = 0
        guard let result = rd_kafka_event_CreateTopics_result(event),
              let topicResults = rd_kafka_CreateTopics_result_topics(result, &count) else { return }
        var failures: [(String, rd_kafka_resp_err_t, String)] = []
        for index in 0..<count {
            let topicResult = topicResults[index]
            let topicCode = rd_kafka_topic_result_error(topicResult)
            if topicCode == RD_KAFKA_RESP_ERR_NO_ERROR || topicCode == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { continue }
            let name = String(cString: rd_kafka_topic_result_name(topicResult))
            let text = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
            failures.append((name, topicCode, text))
        }
        if let first = failures.first {
            let all = failures.map { "\($0.0): \($0.2)" }.joined(separator: "; ")
            throw KafkaError(native: first.1, message: "CreateTopics: \(all)")
        }
    }

    /// The topic's partition count from cluster metadata; `nil` when the topic does not exist.
    ///
    /// Cost: one all-topics Metadata request. A single-topic request (or a topic handle) is
    /// avoided on purpose: brokers that only speak Metadata below v4, such as the librdkafka
    /// 2.0.2 mock, cannot be told not to auto-create, and would create the topic by looking.
    ///
    /// - Throws: `_TIMED_OUT`, `_TRANSPORT`, or any other per-topic metadata error.
    public func partitionCount(of topic: String, timeout: Duration) throws(KafkaError) -> Int? {
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        // rd_kafka_metadata(): the result is ours to rd_kafka_metadata_destroy().
        let code = rd_kafka_metadata(rk, 1, nil, &metadata, timeout.clampedMilliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(native: code, message: "metadata for \(topic) failed", fatalFrom: rk)
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for index in 0..<Int(metadata.pointee.topic_cnt) {
            let entry = metadata.pointee.topics[index]
            guard String(cString: entry.topic) == topic else { continue }
            switch entry.err {
            case RD_KAFKA_RESP_ERR_NO_ERROR: return Int(entry.partition_cnt)
            case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC: return nil
            default: throw KafkaError(native: entry.err, message: "metadata for \(topic)")
            }
        }
        return nil
    }

    /// The cluster's id (from metadata), or nil if the broker does not report one in time.
    public func clusterID(timeout: Duration) -> String? {
        // rd_kafka_clusterid(): returns a malloc'ed string we must rd_kafka_mem_free(), or NULL.
        guard let raw = rd_kafka_clusterid(rk, timeout.clampedMilliseconds) else { return nil }
        defer { rd_kafka_mem_free(rk, raw) }
        return String(cString: raw)
    }

    /// The partition's low and high watermarks, from its leader.
    ///
    /// - Throws: `_TIMED_OUT`, `UNKNOWN_TOPIC_OR_PART`, or the broker's error.
    public func watermarks(_ tp: TopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        try KafkaWatermarks.query(rk: rk, tp, timeout: timeout)
    }

    /// The log end offset (high watermark) of each partition, asked of the leaders in one
    /// ListOffsets request per broker. A partition whose leader answered with an error is left
    /// out of the result, so its end stays unknown rather than wrong.
    ///
    /// - Throws: `_TIMED_OUT` or a request-level error.
    public func endOffsets(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        // Timestamp -1 (RD_KAFKA_OFFSET_END) in ListOffsets asks for the latest offset.
        let list = TopicPartitionList(partitions.map { ($0, Int64(RD_KAFKA_OFFSET_END)) })
        // rd_kafka_offsets_for_times(): fills the offsets of our list in place.
        let code = rd_kafka_offsets_for_times(rk, list.pointer, timeout.clampedMilliseconds)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(native: code, message: "end offsets of \(partitions.count) partitions")
        }
        var ends: [TopicPartition: Int64] = [:]
        for (tp, offset, error) in list.entries where error == RD_KAFKA_RESP_ERR_NO_ERROR && offset >= 0 { ends[tp] = offset }
        return ends
    }
}
