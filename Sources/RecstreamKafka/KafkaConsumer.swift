import CRdKafka

/// A member of a Kafka consumer group that hands out records in batches and tells a
/// `RebalanceListener` which partitions it owns.
///
/// Guarantees:
/// - Records of one partition are handed out in offset order.
/// - A record is handed to `poll`'s body only while its partition is owned: after the
///   listener's `partitionsAssigned` and before its `partitionsRevoked` (see `poll`).
/// - Where a partition starts is decided only by the listener (or `defaultStart`), never by
///   the group's committed offsets; an offset that no longer exists is reported as
///   `ConsumerEvent.offsetOutOfRange`, never skipped silently.
///
/// Defaults (each overridable through `KafkaConfiguration.properties`, except `group.id`):
/// - `enable.auto.commit=false`, `enable.auto.offset.store=false`: offsets are the caller's
///   business (stored with its state); `commit` only publishes progress to the group.
/// - `auto.offset.reset=error`: a fetch position that no longer exists becomes an
///   `.offsetOutOfRange` event and stops that partition, instead of a silent jump.
/// - `partition.assignment.strategy=cooperative-sticky`: a rebalance moves only the partitions
///   that change owner, so the others keep their in-memory state and keep flowing; it works
///   against the embedded mock cluster (tested with both this and `range,roundrobin`).
/// - `queued.min.messages=1000000`, `queued.max.messages.kbytes=262144`: librdkafka 2.0.2
///   checks these against the whole consumer queue and, once over, lets the fetcher sleep up
///   to 1 s (PERF-NOTES trap 2; 2.0.2 has no `fetch.queue.backoff.ms`). One million ~100-byte
///   records is more than a second at the measured one-core ceiling of the full pipeline, so
///   the queue does not run dry during that sleep, while pre-fetched memory stays bounded at
///   256 MiB of payload.
/// - `enable.partition.eof=false`: set it to `true` to get `.partitionEOF` events.
/// - `fetch.wait.max.ms=20` (librdkafka default 500): how long a broker may hold a fetch that
///   finds no new data. A caught-up consumer sees a new record up to this much later; the mock
///   cluster does not answer early when data arrives, so with the default a fresh event waited
///   up to 500 ms there. 20 ms keeps produce-to-queryable latency in tens of milliseconds at
///   the price of about 50 empty fetches per second per broker when idle.
///
/// - Important: Not thread-safe and not `Sendable`: create it, poll it and close it on one
///   dedicated thread (never on Swift's cooperative pool: `poll` blocks). Listener callbacks
///   run on that thread.
public final class KafkaConsumer {
    /// The properties set unless the caller sets them (see the type's documentation).
    public static let defaultProperties: [String: String] = [
        "enable.auto.commit": "false",
        "enable.auto.offset.store": "false",
        "auto.offset.reset": "error",
        "partition.assignment.strategy": "cooperative-sticky",
        "queued.min.messages": "1000000",
        "queued.max.messages.kbytes": "262144",
        "enable.partition.eof": "false",
        "fetch.wait.max.ms": "20",
    ]

    /// The largest `maxRecords` accepted by `poll` (the batch array is 8 bytes per slot).
    public static let maxRecordsPerPoll = 100_000

    /// The consumer group this consumer joins.
    public let groupID: String
    /// Where a partition starts when the listener returns no offset for it.
    public let defaultStart: StartOffset

    private let client: ClientHandle
    private let rk: OpaquePointer
    /// The consumer queue (a reference this object owns; destroyed before the client).
    private var queue: OpaquePointer?
    private let state: ConsumerGroupState
    private var batch: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    private var batchCapacity: Int
    private var isClosed = false

    /// Records librdkafka returned for partitions the listener did not own at hand-out time,
    /// and which `poll` therefore dropped (expected to stay 0: rebalances are applied between
    /// batches and librdkafka discards records fetched before an unassign).
    public private(set) var droppedRecordCount = 0

    /// Creates the consumer; it joins the group on `subscribe`.
    ///
    /// - Parameters:
    ///   - groupID: the `group.id`; it overrides any `group.id` in `configuration`.
    ///   - defaultStart: where a partition starts when the listener has no offset for it.
    ///   - rebalanceListener: held strongly for the consumer's lifetime.
    /// - Throws: an invalid property, or librdkafka refusing the configuration.
    public init(
        configuration: KafkaConfiguration,
        groupID: String,
        defaultStart: StartOffset = .beginning,
        rebalanceListener: any RebalanceListener
    ) throws(KafkaError) {
        self.groupID = groupID
        self.defaultStart = defaultStart
        let state = ConsumerGroupState(listener: rebalanceListener, defaultStart: defaultStart)
        self.state = state
        var withGroup = configuration
        withGroup.properties["group.id"] = groupID
        let conf = try withGroup.makeNativeConf(defaults: Self.defaultProperties)
        // rd_kafka_conf_set_rebalance_cb()/set_opaque(): stored in conf, then in the handle.
        rd_kafka_conf_set_rebalance_cb(conf, consumerRebalanceTrampoline)
        // The opaque is unretained: `state` outlives the handle (destroyed in close()).
        rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(state).toOpaque())
        let client = try ClientHandle(type: RD_KAFKA_CONSUMER, conf: conf)
        self.client = client
        let rk = try client.get()
        self.rk = rk
        // rd_kafka_poll_set_consumer(): routes the main queue (client-level errors) into the
        // consumer queue that poll() serves.
        _ = rd_kafka_poll_set_consumer(rk)
        // rd_kafka_queue_get_consumer(): a new reference, ours to rd_kafka_queue_destroy().
        let queue = rd_kafka_queue_get_consumer(rk)
        self.queue = queue
        state.queue = queue
        batchCapacity = 1024
        batch = .allocate(capacity: batchCapacity)
    }

    deinit {
        close()
        batch.deallocate()
    }

    /// Joins the group and subscribes to `topics` (replacing any earlier subscription).
    /// Partitions arrive later, through the listener, during `poll`.
    ///
    /// - Throws: `_STATE` after `close()`; librdkafka's error for an invalid subscription.
    public func subscribe(_ topics: [String]) throws(KafkaError) {
        try checkOpen()
        let list = TopicPartitionList(capacity: topics.count)
        for topic in topics { list.add(TopicPartition(topic: topic, partition: -1), offset: nil) }
        // rd_kafka_subscribe(): copies the list.
        let code = rd_kafka_subscribe(rk, list.pointer)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(native: code, message: "subscribe to \(topics) failed", fatalFrom: rk)
        }
    }

    /// Takes `partitions` without group management (instead of `subscribe`): the listener's
    /// `partitionsAssigned` runs at the next `poll`, exactly as for a group assignment, and
    /// decides where each starts. Nothing else in the group can move them; `close()` revokes
    /// them. May be called again to add partitions. The group id is still used for `commit`.
    ///
    /// - Throws: `_STATE` after `close()` or after `subscribe`.
    public func assign(_ partitions: [TopicPartition]) throws(KafkaError) {
        try checkOpen()
        state.manual = true
        state.pending.append(.assign(partitions))
    }

    /// Serves group callbacks and hands out up to `maxRecords` records, one by one, to `body`.
    ///
    /// Waits up to `timeout` for the first record or event, then takes whatever else is
    /// already queued (up to `maxRecords`) without waiting; returns early, possibly with 0,
    /// when a rebalance arrives. Rebalances that arrive while the batch is collected
    /// (`rd_kafka_consume_batch_queue` serves them in the middle) are applied after the batch
    /// has been handed out, so the listener is told about a revoke only after every record
    /// collected before it; records of partitions not owned at hand-out time are dropped.
    /// Events (`onEvent`) are delivered in queue order among the records, then asynchronous
    /// commit outcomes and rebalance failures.
    ///
    /// Cost: two librdkafka calls per batch; per record, no allocation and no lock.
    ///
    /// - Parameters:
    ///   - maxRecords: 1...`maxRecordsPerPoll` (1000 is a good batch: PERF-NOTES item 5).
    ///   - body: receives each record; its buffers are valid only during the call.
    /// - Returns: the number of records handed to `body`.
    /// - Throws: `_STATE` after `close()`; a fatal error (after handing out the batch).
    public func poll(
        maxRecords: Int,
        timeout: Duration,
        onEvent: (ConsumerEvent) -> Void,
        _ body: (borrowing ConsumedRecord) -> Void
    ) throws(KafkaError) -> Int {
        precondition((1...Self.maxRecordsPerPoll).contains(maxRecords),
                     "maxRecords \(maxRecords) outside 1...\(Self.maxRecordsPerPoll)")
        try checkOpen()
        guard let queue else { throw .local(RD_KAFKA_RESP_ERR__STATE, "the consumer is closed") }
        ensureCapacity(maxRecords)
        // Anything recorded outside a poll (none expected) is applied before waiting.
        state.applyPending(rk: rk)

        // rd_kafka_consume_batch_queue(): fills `batch` with messages we must each
        // rd_kafka_message_destroy(); it blocks until the array is full or the timeout passes,
        // so first wait for one message, then drain what is queued without waiting.
        var count = rd_kafka_consume_batch_queue(queue, timeout.clampedMilliseconds, batch, 1)
        if count < 0 {
            throw KafkaError(native: rd_kafka_last_error(), message: "consume failed", fatalFrom: rk)
        }
        if count == 1 && maxRecords > 1 && state.pending.isEmpty {
            let more = rd_kafka_consume_batch_queue(queue, 0, batch + 1, maxRecords - 1)
            if more > 0 { count += more }
        }

        var handed = 0
        for index in 0..<count {
            guard let message = batch[index] else { continue }
            defer { rd_kafka_message_destroy(message) }
            if message.pointee.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                onEvent(event(for: message))
                continue
            }
            guard let topic = state.ownedTopic(handle: message.pointee.rkt, partition: message.pointee.partition) else {
                droppedRecordCount += 1
                continue
            }
            body(ConsumedRecord(message: message, topic: topic))
            handed += 1
        }

        state.applyPending(rk: rk)
        drainOutcomes(onEvent)
        let fatal = rd_kafka_fatal_error(rk, nil, 0)
        if fatal != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(native: RD_KAFKA_RESP_ERR__FATAL, fatalFrom: rk)
        }
        return handed
    }

    /// Moves the fetch position of an owned partition; the next record handed out for it is
    /// at `offset` (or the first one after it that exists).
    ///
    /// Also resumes a partition stopped by `.offsetOutOfRange`: librdkafka refuses to seek a
    /// stopped partition (`_STATE`), so the partition is then re-assigned at `offset`
    /// (incrementally under the cooperative protocol; under the eager protocol the whole
    /// assignment is re-issued, every other partition at its current position).
    ///
    /// - Throws: `_STATE` after `close()` or for a partition not owned; librdkafka's error.
    public func seek(_ tp: TopicPartition, to offset: Int64, timeout: Duration) throws(KafkaError) {
        try checkOpen()
        let list = TopicPartitionList([(tp, offset)])
        // rd_kafka_seek_partitions(): per-partition results are written into `list`; the
        // returned error object, if any, is ours to destroy.
        if let error = rd_kafka_seek_partitions(rk, list.pointer, timeout.clampedMilliseconds) {
            throw KafkaError(consuming: error)
        }
        let code = list.entries.first?.error ?? RD_KAFKA_RESP_ERR_NO_ERROR
        if code == RD_KAFKA_RESP_ERR_NO_ERROR { return }
        guard code == RD_KAFKA_RESP_ERR__STATE, state.owned.contains(tp) else {
            throw KafkaError(native: code, message: "seek \(tp) to \(offset) failed", fatalFrom: rk)
        }
        try restart(tp, at: offset)
    }

    /// Publishes progress to the group: for each partition, the offset of the next record to
    /// consume (last processed + 1).
    ///
    /// The group's offsets are informational here (monitoring, lag): where partitions start
    /// is decided by the listener. Asynchronous failures arrive later as `.error` events.
    ///
    /// - Throws: `_STATE` after `close()`; for a synchronous commit, the first failure.
    public func commit(_ offsets: [TopicPartition: Int64], asynchronously: Bool) throws(KafkaError) {
        try checkOpen()
        if offsets.isEmpty { return }
        let list = TopicPartitionList(offsets.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        if asynchronously {
            // rd_kafka_commit_queue() with the consumer queue: copies the list; the result is
            // served, with our callback, inside a later poll().
            let code = rd_kafka_commit_queue(rk, list.pointer, queue, consumerCommitTrampoline,
                                             Unmanaged.passUnretained(state.asyncCommits).toOpaque())
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(native: code, message: "commit failed", fatalFrom: rk)
            }
        } else {
            let outcome = CommitOutcome()
            // rd_kafka_commit_queue() without a queue: blocks and calls our callback on this
            // thread before returning, while `outcome` is alive.
            let code = withExtendedLifetime(outcome) {
                rd_kafka_commit_queue(rk, list.pointer, nil, consumerCommitTrampoline,
                                      Unmanaged.passUnretained(outcome).toOpaque())
            }
            if let failure = outcome.failures.first { throw failure }
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(native: code, message: "commit failed", fatalFrom: rk)
            }
        }
    }

    /// The group's committed offsets for `partitions` (partitions with none are absent).
    ///
    /// - Throws: `_TIMED_OUT` or the coordinator's error.
    public func committedOffsets(_ partitions: [TopicPartition], timeout: Duration) throws(KafkaError) -> [TopicPartition: Int64] {
        try checkOpen()
        let list = TopicPartitionList(partitions)
        // rd_kafka_committed(): fills offsets in `list` (RD_KAFKA_OFFSET_INVALID when none).
        let code = rd_kafka_committed(rk, list.pointer, timeout.clampedMilliseconds)
        if code != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(native: code, message: "committed offsets query failed", fatalFrom: rk)
        }
        var result: [TopicPartition: Int64] = [:]
        for entry in list.entries where entry.offset >= 0 { result[entry.0] = entry.offset }
        return result
    }

    /// Asks the partition leader for the low and high watermarks (a network round trip).
    ///
    /// - Throws: `_TIMED_OUT`, `UNKNOWN_TOPIC_OR_PART`, or the broker's error.
    public func queryWatermarks(_ tp: TopicPartition, timeout: Duration) throws(KafkaError) -> (low: Int64, high: Int64) {
        try checkOpen()
        return try KafkaWatermarks.query(rk: rk, tp, timeout: timeout)
    }

    /// The watermarks last seen in fetch responses (no network); `nil` until both are known.
    public func cachedWatermarks(_ tp: TopicPartition) -> (low: Int64, high: Int64)? {
        guard !isClosed else { return nil }
        var low: Int64 = -1
        var high: Int64 = -1
        // rd_kafka_get_watermark_offsets(): reads librdkafka's cache only.
        let code = rd_kafka_get_watermark_offsets(rk, tp.topic, tp.partition, &low, &high)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, low >= 0, high >= 0 else { return nil }
        return (low, high)
    }

    /// librdkafka's current assignment, sorted.
    ///
    /// It can differ from the listener's view only between a rebalance arriving inside
    /// `poll` and its application at the end of that `poll`.
    public func assignment() throws(KafkaError) -> [TopicPartition] {
        try checkOpen()
        var list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        // rd_kafka_assignment(): the returned list is ours to destroy.
        let code = rd_kafka_assignment(rk, &list)
        guard code == RD_KAFKA_RESP_ERR_NO_ERROR, let list else {
            throw KafkaError(native: code, message: "assignment query failed", fatalFrom: rk)
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        return TopicPartitionList.entries(of: list).map(\.0).sorted()
    }

    /// Leaves the group: pending rebalances are applied, the listener sees the final revoke
    /// (on this thread), then the handle is destroyed. Idempotent; also run by `deinit`.
    ///
    /// Cost: blocks while librdkafka leaves the group (normally milliseconds; bounded by the
    /// coordinator's reachability).
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        state.applyPending(rk: rk)
        state.applyImmediately = true
        state.revokeAllManual(rk: rk)
        // rd_kafka_consumer_close(): leaves the group and serves the final revoke through the
        // rebalance callback on this thread.
        _ = rd_kafka_consumer_close(rk)
        state.queue = nil
        if let queue {
            // rd_kafka_queue_destroy(): releases our reference; before rd_kafka_destroy().
            rd_kafka_queue_destroy(queue)
            self.queue = nil
        }
        client.destroy()
    }

    private func checkOpen() throws(KafkaError) {
        if isClosed { throw .local(RD_KAFKA_RESP_ERR__STATE, "the consumer is closed") }
    }

    private func ensureCapacity(_ needed: Int) {
        guard needed > batchCapacity else { return }
        batch.deallocate()
        batchCapacity = needed
        batch = .allocate(capacity: needed)
    }

    private func drainOutcomes(_ onEvent: (ConsumerEvent) -> Void) {
        let commitFailures = state.asyncCommits.failures
        state.asyncCommits.failures.removeAll()
        let rebalanceErrors = state.rebalanceErrors
        state.rebalanceErrors.removeAll()
        for failure in commitFailures + rebalanceErrors { onEvent(.error(failure)) }
    }

    private func event(for message: UnsafeMutablePointer<rd_kafka_message_t>) -> ConsumerEvent {
        let code = message.pointee.err
        let tp = message.pointee.rkt.map {
            TopicPartition(topic: String(cString: rd_kafka_topic_name($0)), partition: message.pointee.partition)
        }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(code))
        switch code {
        case RD_KAFKA_RESP_ERR__PARTITION_EOF:
            if let tp { return .partitionEOF(tp, offset: message.pointee.offset) }
        case RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET, RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE:
            if let tp { return .offsetOutOfRange(tp, requestedOffset: message.pointee.offset, message: text) }
        default:
            break
        }
        return .error(KafkaError(native: code, message: tp.map { "\($0): \(text)" } ?? text, fatalFrom: rk))
    }

    /// Re-assigns one owned partition at `offset` (used when librdkafka has stopped it).
    private func restart(_ tp: TopicPartition, at offset: Int64) throws(KafkaError) {
        if let name = rd_kafka_rebalance_protocol(rk), String(cString: name) == "COOPERATIVE" {
            let one = TopicPartitionList([tp])
            // rd_kafka_incremental_unassign()/assign(): copy the list; error objects are ours.
            if let error = rd_kafka_incremental_unassign(rk, one.pointer) { throw KafkaError(consuming: error) }
            let restarted = TopicPartitionList([(tp, offset)])
            if let error = rd_kafka_incremental_assign(rk, restarted.pointer) { throw KafkaError(consuming: error) }
        } else {
            let owned = state.owned.sorted()
            let positions = TopicPartitionList(owned)
            // rd_kafka_position(): fills each entry with the next offset to hand out, or INVALID.
            _ = rd_kafka_position(rk, positions.pointer)
            var current: [TopicPartition: Int64] = [:]
            for entry in positions.entries where entry.offset >= 0 { current[entry.0] = entry.offset }
            let all = TopicPartitionList(owned.map { other in
                (other, other == tp ? offset : current[other] ?? state.startOffsets[other] ?? defaultStart.native)
            })
            // rd_kafka_assign(): replaces the whole assignment (the eager protocol's only way).
            let code = rd_kafka_assign(rk, all.pointer)
            if code != RD_KAFKA_RESP_ERR_NO_ERROR {
                throw KafkaError(native: code, message: "re-assign of \(tp) at \(offset) failed", fatalFrom: rk)
            }
        }
        state.startOffsets[tp] = offset
        state.ownershipChanged()
    }
}
