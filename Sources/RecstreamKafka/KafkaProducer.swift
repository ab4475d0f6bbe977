import CRdKafka
import Synchronization

/// Publishes records to Kafka and counts their delivery reports.
///
/// Guarantees: every record `send` accepted gets exactly one delivery report, counted in
/// `deliveredCount` or `failedCount` and passed to `onDelivery`; `flush` returns only when
/// every accepted record has one. With the default `enable.idempotence=true`, retries neither
/// duplicate nor reorder records within a partition.
///
/// Defaults (each overridable through `KafkaConfiguration.properties`):
/// - `enable.idempotence=true`: exactly-once, in-order writes per partition under retries.
/// - `linger.ms=5`: batches form within 5 ms, so the mock cluster and real brokers get
///   multi-record message sets (PERF-NOTES trap 3) at a latency cost far below the freshness
///   targets.
/// - `batch.num.messages=10000`: librdkafka's own default, pinned because the throughput
///   figures in PERF-NOTES were measured with it.
///
/// - Important: Thread-safe: `send`, `flush` and the counters may be called from any thread
///   concurrently (librdkafka's producer is thread-safe, and `close` waits for calls in
///   progress through an atomic gate). It is `@unchecked Sendable` for that reason.
///   A background thread serves `rd_kafka_poll` for delivery reports until `close()`;
///   `onDelivery` runs on that thread, or on a thread inside `send`/`flush`, and must not block.
public final class KafkaProducer: @unchecked Sendable {
    /// The properties set unless the caller sets them (see the type's documentation).
    public static let defaultProperties: [String: String] = [
        "enable.idempotence": "true",
        "linger.ms": "5",
        "batch.num.messages": "10000",
    ]

    /// How long `send` keeps polling and retrying while librdkafka's local queue is full.
    public let queueFullTimeout: Duration

    private let client: ClientHandle
    /// The same pointer as `client.pointer`, immutable so concurrent calls read it without a
    /// race; used only between `gate.enter()` and `gate.leave()`.
    private let rk: OpaquePointer
    private let shared: ProducerShared
    private let gate = CallGate()
    private let pollThread: BackgroundThread

    /// Creates the producer and starts its delivery-report thread.
    ///
    /// - Parameters:
    ///   - queueFullTimeout: how long `send` waits for room in the local queue.
    ///   - onDelivery: called once per record with its outcome; `nil` to only count.
    /// - Throws: an invalid property, or librdkafka refusing the configuration.
    public init(
        configuration: KafkaConfiguration,
        queueFullTimeout: Duration = .seconds(10),
        onDelivery: (@Sendable (DeliveryReport) -> Void)? = nil
    ) throws(KafkaError) {
        self.queueFullTimeout = queueFullTimeout
        let shared = ProducerShared(onDelivery: onDelivery)
        self.shared = shared
        let conf = try configuration.makeNativeConf(defaults: Self.defaultProperties)
        // rd_kafka_conf_set_dr_msg_cb()/set_opaque(): stored in conf, then in the handle.
        rd_kafka_conf_set_dr_msg_cb(conf, producerDeliveryTrampoline)
        // The opaque is unretained: `shared` outlives the handle (destroyed in close()).
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(shared).toOpaque())
        let client = try ClientHandle(type: RD_KAFKA_PRODUCER, conf: conf)
        self.client = client
        let handle = SendableHandle(pointer: try client.get())
        self.rk = handle.pointer
        self.pollThread = try BackgroundThread(name: "rk-producer") {
            while !shared.stopPolling.load(ordering: .acquiring) {
                // rd_kafka_poll(): serves delivery reports on this thread for up to 100 ms.
                rd_kafka_poll(handle.pointer, 100)
            }
        }
    }

    deinit {
        close(timeout: .seconds(5))
    }

    /// Records whose delivery the broker acknowledged.
    public var deliveredCount: Int { shared.delivered.load(ordering: .acquiring) }
    /// Records that got a failed delivery report (time-out, purge on close, broker error).
    public var failedCount: Int { shared.failed.load(ordering: .acquiring) }
    /// Records accepted by `send` that have no delivery report yet.
    public var inFlightCount: Int {
        let completed = deliveredCount + failedCount
        return max(0, shared.enqueued.load(ordering: .acquiring) - completed)
    }

    /// Enqueues one record; the delivery report arrives later (see `onDelivery`).
    ///
    /// Cost: librdkafka copies key, value and headers (`RD_KAFKA_MSG_F_COPY`); no Swift
    /// allocation when `headers` is empty.
    ///
    /// - Parameters:
    ///   - partition: `nil` lets the partitioner choose (librdkafka's default: consistent
    ///     hash of the key, random for a null key).
    ///   - key: `nil` is a null key; an empty buffer is an empty key.
    ///   - token: returned in the delivery report.
    /// - Throws: `_QUEUE_FULL` when the local queue stayed full for `queueFullTimeout`;
    ///   `_UNKNOWN_PARTITION`/`_UNKNOWN_TOPIC`, `MSG_SIZE_TOO_LARGE`, fatal errors; `_STATE`
    ///   after `close()`.
    public func send(
        topic: String,
        partition: Int32? = nil,
        key: UnsafeRawBufferPointer?,
        value: UnsafeRawBufferPointer,
        headers: [KafkaHeader] = [],
        token: UInt64 = 0
    ) throws(KafkaError) {
        try sendOptional(topic: topic, partition: partition, key: key, value: value, headers: headers, token: token)
    }

    /// Enqueues a record with a null value: a tombstone, which deletes `key` from a compacted topic.
    public func sendTombstone(
        topic: String, partition: Int32? = nil, key: [UInt8], headers: [KafkaHeader] = [], token: UInt64 = 0
    ) throws(KafkaError) {
        let result: Result<Void, KafkaError> = key.withUnsafeBytes { keyBytes in
            Result { () throws(KafkaError) in
                try sendOptional(topic: topic, partition: partition, key: keyBytes, value: nil, headers: headers, token: token)
            }
        }
        try result.get()
    }

    private func sendOptional(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader], token: UInt64
    ) throws(KafkaError) {
        guard gate.enter() else { throw .local(RD_KAFKA_RESP_ERR__STATE, "the producer is closed") }
        defer { gate.leave() }
        var deadline: ContinuousClock.Instant?
        while true {
            let code = produce(topic: topic, partition: partition, key: key, value: value,
                               headers: headers, token: token)
            if code == RD_KAFKA_RESP_ERR_NO_ERROR {
                shared.enqueued.add(1, ordering: .releasing)
                return
            }
            guard code == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                throw KafkaError(native: code, message: "produce to \(topic): \(String(cString: rd_kafka_err2str(code)))",
                                 fatalFrom: rk)
            }
            let now = ContinuousClock.now
            let limit = deadline ?? now + queueFullTimeout
            deadline = limit
            if now >= limit {
                throw KafkaError(native: code, message: "local queue full for \(queueFullTimeout) (\(inFlightCount) in flight)")
            }
            // rd_kafka_poll(): serves delivery reports here too, which frees queue room.
            rd_kafka_poll(rk, 10)
        }
    }

    /// `send` for Swift arrays (borrows their storage; librdkafka copies it).
    public func send(
        topic: String,
        partition: Int32? = nil,
        key: [UInt8]?,
        value: [UInt8],
        headers: [KafkaHeader] = [],
        token: UInt64 = 0
    ) throws(KafkaError) {
        let result: Result<Void, KafkaError> = value.withUnsafeBytes { valueBytes in
            guard let key else {
                return Result { () throws(KafkaError) in
                    try send(topic: topic, partition: partition, key: nil, value: valueBytes, headers: headers,
                             token: token)
                }
            }
            return key.withUnsafeBytes { keyBytes in
                Result { () throws(KafkaError) in
                    try send(topic: topic, partition: partition, key: keyBytes, value: valueBytes,
                             headers: headers, token: token)
                }
            }
        }
        try result.get()
    }

    /// Waits until every record accepted so far has a delivery report.
    ///
    /// Cost: polls on the calling thread (delivery callbacks may run here).
    /// - Throws: `_TIMED_OUT` when records are still in flight after `timeout`.
    public func flush(timeout: Duration) throws(KafkaError) {
        guard gate.enter() else { throw .local(RD_KAFKA_RESP_ERR__STATE, "the producer is closed") }
        defer { gate.leave() }
        try flushEntered(timeout: timeout)
    }

    /// Flushes for up to `timeout`, fails what is still queued (reported as `_PURGE_QUEUE` /
    /// `_PURGE_INFLIGHT` delivery failures), stops the polling thread and destroys the handle.
    ///
    /// Idempotent; also run by `deinit` with a 5 s timeout. Waits for calls in progress on
    /// other threads; later calls throw `_STATE`.
    public func close(timeout: Duration = .seconds(10)) {
        guard gate.close() else { return }
        do {
            try flushEntered(timeout: timeout)
        } catch {
            // rd_kafka_purge(): queued and in-flight records get failed delivery reports.
            _ = rd_kafka_purge(rk, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
            try? flushEntered(timeout: .seconds(1))
        }
        shared.stopPolling.store(true, ordering: .releasing)
        pollThread.join()
        client.destroy()
    }

    private func flushEntered(timeout: Duration) throws(KafkaError) {
        let deadline = ContinuousClock.now + timeout
        // rd_kafka_flush(): polls until librdkafka's out-queue (records and pending reports) is empty.
        let code = rd_kafka_flush(rk, timeout.clampedMilliseconds)
        // The last report may still be inside the callback on the polling thread.
        while inFlightCount > 0 && ContinuousClock.now < deadline {
            rd_kafka_poll(rk, 1)
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR || inFlightCount > 0 {
            throw KafkaError(native: RD_KAFKA_RESP_ERR__TIMED_OUT,
                             message: "flush: \(inFlightCount) records without a delivery report after \(timeout)")
        }
    }

    /// One `rd_kafka_produceva()` call.
    private func produce(
        topic: String, partition: Int32?, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
        headers: [KafkaHeader], token: UInt64
    ) -> rd_kafka_resp_err_t {
        var nativeHeaders: OpaquePointer?
        if !headers.isEmpty {
            // rd_kafka_headers_new(): owned here until rd_kafka_produceva() succeeds.
            nativeHeaders = rd_kafka_headers_new(headers.count)
            for header in headers {
                var name = header.key
                name.withUTF8 { nameBytes in
                    // rd_kafka_header_add(): copies name and value; a nil value is a null header.
                    if let value = header.value {
                        value.withUnsafeBytes { valueBytes in
                            withNonNullBase(valueBytes) { valuePointer in
                                _ = rd_kafka_header_add(nativeHeaders, nameBytes.baseAddress, nameBytes.count,
                                                        valuePointer, valueBytes.count)
                            }
                        }
                    } else {
                        _ = rd_kafka_header_add(nativeHeaders, nameBytes.baseAddress, nameBytes.count, nil, 0)
                    }
                }
            }
        }
        let code = withNonNullBase(value) { valuePointer in
            withNonNullBase(key) { keyPointer in
                topic.withCString { topicName in
                    withUnsafeTemporaryAllocation(of: rd_kafka_vu_t.self, capacity: 7) { vus in
                        var count = 0
                        func append(_ type: rd_kafka_vtype_t, _ fill: (inout rd_kafka_vu_t) -> Void) {
                            var vu = rd_kafka_vu_t()
                            vu.vtype = type
                            fill(&vu)
                            vus.initializeElement(at: count, to: vu)
                            count += 1
                        }
                        append(RD_KAFKA_VTYPE_TOPIC) { $0.u.cstr = topicName }
                        append(RD_KAFKA_VTYPE_PARTITION) { $0.u.i32 = partition ?? -1 }  // -1: RD_KAFKA_PARTITION_UA
                        append(RD_KAFKA_VTYPE_VALUE) {
                            $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: valuePointer)
                            $0.u.mem.size = value?.count ?? 0
                        }
                        if let keyPointer {
                            append(RD_KAFKA_VTYPE_KEY) {
                                $0.u.mem.ptr = UnsafeMutableRawPointer(mutating: keyPointer)
                                $0.u.mem.size = key?.count ?? 0
                            }
                        }
                        append(RD_KAFKA_VTYPE_OPAQUE) { $0.u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(token)) }
                        append(RD_KAFKA_VTYPE_MSGFLAGS) { $0.u.i = RD_KAFKA_MSG_F_COPY }
                        if let nativeHeaders {
                            append(RD_KAFKA_VTYPE_HEADERS) { $0.u.headers = nativeHeaders }
                        }
                        defer { vus.baseAddress!.deinitialize(count: count) }
                        // rd_kafka_produceva(): copies key and value (F_COPY); takes ownership of the
                        // headers only on success; the returned error object is ours to destroy.
                        guard let error = rd_kafka_produceva(rk, vus.baseAddress, count) else {
                            return RD_KAFKA_RESP_ERR_NO_ERROR
                        }
                        let code = rd_kafka_error_code(error)
                        rd_kafka_error_destroy(error)
                        return code
                    }
                }
            }
        }
        if code != RD_KAFKA_RESP_ERR_NO_ERROR, let nativeHeaders {
            rd_kafka_headers_destroy(nativeHeaders)
        }
        return code
    }
}

/// Runs `body` with a non-null pointer for `buffer` (a 1-byte scratch pointer when it is
/// empty with a nil base), so empty and null stay distinct for librdkafka; nil stays nil.
private func withNonNullBase<R>(_ buffer: UnsafeRawBufferPointer?, _ body: (UnsafeRawPointer?) -> R) -> R {
    guard let buffer else { return body(nil) }
    if let base = buffer.baseAddress { return body(base) }
    return withUnsafeTemporaryAllocation(byteCount: 1, alignment: 1) { scratch in
        body(UnsafeRawPointer(scratch.baseAddress!))
    }
}

/// State shared by the producer, its polling thread and the delivery-report trampoline.
final class ProducerShared: Sendable {
    let onDelivery: (@Sendable (DeliveryReport) -> Void)?
    let enqueued = Atomic<Int>(0)
    let delivered = Atomic<Int>(0)
    let failed = Atomic<Int>(0)
    let stopPolling = Atomic<Bool>(false)

    init(onDelivery: (@Sendable (DeliveryReport) -> Void)?) {
        self.onDelivery = onDelivery
    }

    func handleDelivery(rk: OpaquePointer?, message: UnsafePointer<rd_kafka_message_t>) {
        let code = message.pointee.err
        if let onDelivery {
            let topic = message.pointee.rkt.map { String(cString: rd_kafka_topic_name($0)) } ?? ""
            let error: KafkaError? = code == RD_KAFKA_RESP_ERR_NO_ERROR
                ? nil : KafkaError(native: code, message: nil, fatalFrom: rk)
            onDelivery(DeliveryReport(
                token: UInt64(UInt(bitPattern: message.pointee._private)),
                topicPartition: TopicPartition(topic: topic, partition: message.pointee.partition),
                offset: error == nil && message.pointee.offset >= 0 ? message.pointee.offset : nil,
                error: error))
        }
        // Counted after the callback so that inFlightCount == 0 implies every callback returned.
        if code == RD_KAFKA_RESP_ERR_NO_ERROR {
            delivered.add(1, ordering: .releasing)
        } else {
            failed.add(1, ordering: .releasing)
        }
    }
}

/// The one delivery-report trampoline: librdkafka calls it from `rd_kafka_poll`/`rd_kafka_flush`.
/// The opaque is the unretained `ProducerShared` set with `rd_kafka_conf_set_opaque`.
private let producerDeliveryTrampoline:
    @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
        rk, message, opaque in
        guard let message, let opaque else { return }
        Unmanaged<ProducerShared>.fromOpaque(opaque).takeUnretainedValue().handleDelivery(rk: rk, message: message)
    }
