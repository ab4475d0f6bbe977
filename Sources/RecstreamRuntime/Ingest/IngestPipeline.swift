import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

/// The ingest loop: poll → decode → apply → (every commit interval) one atomic commit of state
/// and offsets → commit offsets to the group for lag monitoring.
///
/// Runs on one dedicated thread (``run(shouldStop:)`` blocks). It is the only writer of the
/// engine's state; it takes the engine lock at the first record of a batch and releases it
/// after the batch, so queries wait at most one batch.
///
/// Exactly-once: a shard's records and the offset they reflect are written in one batch; on
/// assignment a partition resumes at the stored offset; redelivered offsets are ignored by the
/// shard; refused records reach the dead-letter topic before the offset that skips them is
/// committed.
final class IngestPipeline: @unchecked Sendable {
    let configuration: RecstreamConfiguration
    let engine: StateEngine
    let repository: StateRepository
    let logger: Logger
    private let metrics: IngestMetrics
    private var consumer: KafkaConsumer?
    private let deadLetters: DeadLetterQueue
    private var decoder: EventDecoder
    private var tally = BatchTally()
    /// True while the ingest thread holds the engine lock (only touched on that thread).
    private var holdsLock = false
    private let clock = ContinuousClock()
    private var lastCommit: ContinuousClock.Instant
    private var lastStatus: ContinuousClock.Instant
    private var lastSizes: ContinuousClock.Instant
    private var appliedAtLastStatus: UInt64 = 0
    private var stopRequested: () -> Bool = { false }
    private let kafkaConfiguration: KafkaConfiguration
    /// Fault injection for the crash tests only (see ``CrashPoint``); nil in normal runs.
    private let crashPoint = CrashPoint.configured
    private var writtenCommits = 0
    private var forwardFlushes = 0
    private var forwardedSinceCommit = 0
    /// Split mode: the user-keyed stage forwards through the internal topics; every store has a changelog.
    private let split: Bool
    /// Split mode: one idempotent producer for forwarded records and changelog batches.
    private let producer: KafkaProducer?
    private let changelog: Changelog?
    /// The group's directory (published to and read from Kafka): query forwarding in split mode,
    /// the one-instance guard in single mode.
    let directory: OwnershipDirectory
    /// Single mode: when the events topic's partition count was last checked (new partitions
    /// are assigned as they appear).
    private var lastPartitionCheck: ContinuousClock.Instant
    private var lastConflictCheck: ContinuousClock.Instant
    private var assignedPartitionCount = 0
    /// The owned partitions changed (or were never published): publish a claim.
    private var claimDue = true
    /// A forward that could not be queued or delivered: ingest stops, and no commit on any path
    /// (the final one, a revoke's) stores a source offset past it.
    private var forwardFailure: (any Error)? = nil
    /// Changes drained by a commit that was then abandoned (a changelog write or the storage write
    /// failed): the next commit writes them first. Without this, ids marked persisted by the
    /// abandoned drain would never be written and a later commit would leave a hole in a dictionary.
    private var carriedLocal = StateChanges()
    private var carriedStores: [MovableStore: StateChanges] = [:]
    /// Wall-clock milliseconds since the epoch: the future-timestamp limit, status stamps.
    let wallClock: @Sendable () -> Int64
    /// Events stamped after this (wall clock at the batch's first record + `ingest.max_future_ms`)
    /// are refused as `future_ts`.
    private var futureLimitMillis = Int64.max
    /// Fault injection for the failure-path tests only (see ``FaultInjection``); nil in normal runs.
    private let faults = FaultInjection.configured
    private var dictionaryFullLogged = 0
    /// Keeps end offsets, lags and the stall alarm live on its own thread.
    private let endOffsets: EndOffsetMonitor
    private var itemsPartitions = 0
    private let cooccurrenceConfiguration: CooccurrenceConfiguration
    private let lookalikeConfiguration: LookalikeConfiguration

    init(
        configuration: RecstreamConfiguration, kafka: KafkaConfiguration, engine: StateEngine,
        repository: StateRepository, metricsFactory: any MetricsFactory, logger: Logger, identity: String,
        wallClock: @escaping @Sendable () -> Int64 = WallClock.system
    ) throws {
        self.wallClock = wallClock
        self.configuration = configuration
        self.kafkaConfiguration = kafka
        self.engine = engine
        self.repository = repository
        self.logger = logger
        metrics = IngestMetrics(factory: metricsFactory)
        decoder = EventDecoder(maxRecordBytes: configuration.maxRecordBytes)
        deadLetters = try DeadLetterQueue(
            configuration: kafka, topic: configuration.deadLetterTopic,
            limits: DeadLetterQueue.Limits(
                maxValueBytes: configuration.deadLetterMaxValueBytes, timeout: .milliseconds(configuration.deadLetterTimeoutMillis)),
            logger: logger, wallClock: wallClock)
        if configuration.maxFutureMillis >= configuration.allowedLatenessMillis {
            logger.warning(
                "ingest.max_future_ms is not below ingest.allowed_lateness_ms: an accepted event at the future limit moves the watermark far enough to make on-time events late",
                metadata: ["max_future_ms": "\(configuration.maxFutureMillis)", "allowed_lateness_ms": "\(configuration.allowedLatenessMillis)"])
        }
        cooccurrenceConfiguration = try configuration.cooccurrence()
        lookalikeConfiguration = try configuration.lookalike()
        endOffsets = EndOffsetMonitor(engine: engine, kafka: kafka, metricsFactory: metricsFactory, logger: logger)
        split = configuration.pipelineMode == .split
        if split {
            let offsets = Changelog.DeliveredOffsets()
            var producerConfiguration = kafka
            // Never give up on a forward or a changelog record: a commit waits for them instead.
            producerConfiguration.properties["message.timeout.ms"] = producerConfiguration.properties["message.timeout.ms"] ?? "0"
            let producer = try KafkaProducer(
                configuration: producerConfiguration, queueFullTimeout: .seconds(3_600), onDelivery: { offsets.record($0) })
            self.producer = producer
            changelog = Changelog(producer: producer, offsets: offsets, kafka: kafka, logger: logger)
        } else {
            producer = nil
            changelog = nil
        }
        directory = try OwnershipDirectory(
            configuration: configuration, kafka: kafka, logger: logger, identity: identity, startedAtMillis: engine.startedAtMillis,
            wallClock: wallClock)
        let now = clock.now
        lastPartitionCheck = now
        lastConflictCheck = now
        lastCommit = now
        lastStatus = now
        // Sizes are first computed at the first status refresh, then every five seconds.
        lastSizes = now - .seconds(60)
    }

    // MARK: Locking from the ingest thread

    /// Runs `body` with the engine state, taking the lock unless this thread already holds it.
    private func withState<T>(_ body: (inout EngineState) throws -> T) rethrows -> T {
        if holdsLock { return try body(&engine.state) }
        engine.lock.lock()
        defer { engine.lock.unlock() }
        return try body(&engine.state)
    }

    // MARK: The loop

    /// Consumes until `shouldStop` returns true, then commits, leaves the group and returns.
    /// - Throws: a fatal Kafka error, or a storage error that persisted through retries while
    ///   stopping; the state on disk is then the last successful commit.
    func run(shouldStop: @escaping () -> Bool) throws {
        stopRequested = shouldStop
        let proxy = RebalanceProxy(self)
        let consumer = try KafkaConsumer(
            configuration: kafkaConfiguration, groupID: configuration.groupID,
            defaultStart: configuration.startFrom == .earliest ? .beginning : .end, rebalanceListener: proxy)
        self.consumer = consumer
        endOffsets.start()
        defer {
            endOffsets.stop()
            self.consumer = nil
            deadLetters.close()
            directory.stop()
            producer?.close()
        }
        let counts = try InternalTopics.ensure(configuration: configuration, kafka: kafkaConfiguration, logger: logger)
        if split {
            itemsPartitions = counts.items
            directory.setPartitionCounts(events: counts.events, items: counts.items)
            withState { $0.itemsPartitions = counts.items }
        }
        directory.start()
        try checkGroupAtStart()
        if split {
            try consumer.subscribe(configuration.subscribedTopics)
        } else {
            // Single mode owns every partition by definition: it takes them itself instead of
            // joining a group rebalance, so a restart resumes at once (no wait for a group
            // coordinator to time the previous member out), and no other member can take any.
            assignedPartitionCount = counts.events
            try consumer.assign((0..<Int32(counts.events)).map { TopicPartition(topic: configuration.eventsTopic, partition: $0) })
        }
        publishClaim()
        withState { $0.consuming = true }
        logger.info("ingest started", metadata: ["topic": "\(configuration.eventsTopic)", "group": "\(configuration.groupID)"])

        var failure: (any Error)? = nil
        while !shouldStop() {
            do {
                _ = try consumer.poll(
                    maxRecords: configuration.maxBatch, timeout: .milliseconds(100),
                    onEvent: { event in self.handle(event, consumer: consumer) },
                    { record in self.process(record) })
            } catch {
                if holdsLock {
                    engine.lock.unlock()
                    holdsLock = false
                }
                if error.isFatal {
                    logger.critical("fatal Kafka error; stopping ingest", metadata: ["error": "\(error)"])
                    failure = error
                    break
                }
                logger.warning("poll failed; retrying", metadata: ["error": "\(error)"])
                continue
            }
            if let forwardFailure {
                if holdsLock {
                    engine.lock.unlock()
                    holdsLock = false
                }
                logger.critical("a forwarded record could not be queued; stopping without committing past it", metadata: ["error": "\(forwardFailure)"])
                failure = forwardFailure
                break
            }
            if holdsLock {
                // The lock was taken because records arrived: note when, for staleness.
                engine.state.lastRecordAtMillis = wallClock()
                engine.lock.unlock()
                holdsLock = false
            }
            tally.flush(into: metrics)
            let now = clock.now
            if now - lastCommit >= .milliseconds(configuration.commitIntervalMillis)
                || deadLetters.pendingCount > 10_000
            {
                commit(consumer: consumer)
            }
            if now - lastStatus >= .seconds(1) { refreshStatus(now: now) }
            if claimDue { publishClaim() }
            if now - lastConflictCheck >= .seconds(2) {
                lastConflictCheck = now
                if let conflict = yieldingConflict() {
                    logger.critical("\(conflict)")
                    failure = conflict
                    break
                }
            }
            if !split && now - lastPartitionCheck >= .seconds(30) {
                lastPartitionCheck = now
                assignNewPartitions(consumer: consumer)
            }
            serveCutRequests(consumer: consumer)
        }
        failCutRequests(reason: "ingest stopped")

        withState { $0.consuming = false }
        if forwardFailure == nil { commit(consumer: consumer) }
        // close() leaves the group; the final revoke commits again (a no-op) and drops shards.
        consumer.close()
        logger.info("ingest stopped")
        if let failure { throw failure }
    }

    // MARK: One record

    private func process(_ record: borrowing ConsumedRecord) {
        if !holdsLock {
            engine.lock.lock()
            holdsLock = true
            let (limit, overflow) = wallClock().addingReportingOverflow(configuration.maxFutureMillis)
            futureLimitMillis = overflow ? Int64.max : limit
        }
        if split && record.topic != configuration.eventsTopic {
            processForwarded(record)
            return
        }
        let partition = Int(record.partition)
        let offset = record.offset
        guard partition < engine.state.shards.count, engine.state.shards[partition] != nil else { return }
        if engine.state.shards[partition]!.hasApplied(offset: offset) { return }

        var format = PayloadFormat.json
        if let header = record.header("content-type") {
            let bytes = UnsafeBufferPointer<UInt8>(start: header.baseAddress?.assumingMemoryBound(to: UInt8.self), count: header.count)
            guard let f = PayloadFormat(contentTypeBytes: bytes.span) else {
                let value = String(decoding: header, as: UTF8.self)
                refuse(
                    record, Rejection(.unsupportedContentType, "content-type '\(value)' is neither application/json nor application/x-protobuf"))
                return
            }
            format = f
        }
        if record.isNullValue {
            refuse(record, Rejection(.malformedJSON, "the record has no value (a tombstone)"))
            return
        }
        let value = record.value
        let bytes = UnsafeBufferPointer<UInt8>(start: value.baseAddress?.assumingMemoryBound(to: UInt8.self), count: value.count)
        let result = decoder.decode(bytes.span, format: format)
        switch result {
        case .success(let event):
            if event.time.millis > futureLimitMillis {
                let ahead = event.time.millis - (futureLimitMillis - configuration.maxFutureMillis)
                refuse(
                    record,
                    Rejection(
                        .futureTimestamp,
                        "ts \(event.time.millis) is \(ahead) ms ahead of the wall clock; the limit is ingest.max_future_ms=\(configuration.maxFutureMillis)"))
                return
            }
            let idBytes = decoder.idBytes
            let maxIDs = configuration.maxDictionaryIDs
            if !engine.state.shards[partition]!.admits(event, idBytes: idBytes, maxIDs: maxIDs)
                || (!split && engine.state.instance.isEngagement(event.type)
                    && !engine.state.instance.admits(
                        type: event.type, userID: idBytes.span.extracting(event.userID), itemID: idBytes.span.extracting(event.itemID),
                        maxIDs: maxIDs))
            {
                refuse(
                    record,
                    Rejection(
                        .dictionaryFull,
                        "the event names a new id while an id dictionary holds state.max_dictionary_ids=\(maxIDs) ids (or 4 GiB of id bytes)"))
                return
            }
            let outcome = engine.state.shards[partition]!.apply(event, idBytes: idBytes, offset: offset)
            switch outcome {
            case .applied where split:
                tally.applied[event.type.index] += 1
                forward(event, ids: idBytes.span, late: false, partition: record.partition, offset: offset)
            case .late where split:
                tally.late += 1
                forward(event, ids: idBytes.span, late: true, partition: record.partition, offset: offset)
            case .applied:
                tally.applied[event.type.index] += 1
                if engine.state.instance.isEngagement(event.type) {
                    let ids = idBytes.span
                    engine.state.instance.apply(
                        type: event.type, time: event.time, userID: ids.extracting(event.userID), itemID: ids.extracting(event.itemID))
                }
            case .duplicate: tally.duplicates += 1
            case .late: tally.late += 1
            case .alreadyApplied: break
            }
        case .failure(let rejection):
            refuse(record, rejection)
        }
    }

    // MARK: Split mode

    /// Sends an accepted (or late) event to the item repartition topic, and an accepted engagement
    /// to the engagement topic, tagged with its source partition and offset.
    private func forward(_ event: DecodedEvent, ids: Span<UInt8>, late: Bool, partition: Int32, offset: Int64) {
        guard let producer, forwardFailure == nil else { return }
        let itemID = ids.extracting(event.itemID)
        let value = ForwardedEvent.encode(
            type: event.type, time: event.time, dwellMillis: event.dwellMillis, late: late, userID: ids.extracting(event.userID),
            itemID: itemID, sourcePartition: partition, sourceOffset: offset)
        let target = KafkaPartitioner.partition(of: itemID, partitions: itemsPartitions)
        let item = Array(itemID)
        forwardedSinceCommit += 1
        do {
            try faults?.fail(.forwardSend)
            try producer.send(topic: configuration.itemsTopic, partition: target, key: item, value: value)
            if !late && cooccurrenceConfiguration.weights.isEngagement(event.type) {
                try producer.send(topic: configuration.engagementsTopic, partition: 0, key: item, value: value)
            }
        } catch {
            forwardFailure = error
        }
    }

    /// A record of an internal topic: the item-keyed stage or the engagement stage applies it.
    private func processForwarded(_ record: borrowing ConsumedRecord) {
        let forwarded: ForwardedEvent
        do {
            forwarded = try ForwardedEvent.decode(Array(record.value))
        } catch {
            logger.error(
                "unreadable record in an internal topic; skipped",
                metadata: ["topic": "\(record.topic)", "partition": "\(record.partition)", "offset": "\(record.offset)", "error": "\(error)"])
            if record.topic == configuration.itemsTopic, Int(record.partition) < engine.state.itemShards.count {
                _ = engine.state.itemShards[Int(record.partition)]?.skipLost(to: record.offset + 1)
            }
            return
        }
        let maxIDs = configuration.maxDictionaryIDs
        if record.topic == configuration.itemsTopic {
            let index = Int(record.partition)
            guard index < engine.state.itemShards.count, engine.state.itemShards[index] != nil else { return }
            guard !engine.state.itemShards[index]!.hasApplied(offset: record.offset) else { return }
            guard engine.state.itemShards[index]!.admitsForwarded(forwarded, maxIDs: maxIDs) else {
                _ = engine.state.itemShards[index]!.reject(offset: record.offset, reason: .dictionaryFull)
                dictionaryFull(record.topicPartition, offset: record.offset)
                return
            }
            _ = engine.state.itemShards[index]!.applyForwarded(forwarded, offset: record.offset)
        } else if record.topic == configuration.engagementsTopic, engine.state.ownsEngagements {
            guard
                engine.state.instance.admits(
                    type: forwarded.type, userID: forwarded.userID.span, itemID: forwarded.itemID.span, maxIDs: maxIDs)
            else {
                engine.state.instance.skip(offset: record.offset)
                dictionaryFull(record.topicPartition, offset: record.offset)
                return
            }
            engine.state.instance.applyForwarded(forwarded, offset: record.offset)
        }
    }

    /// A record of an internal topic whose ids do not fit a full dictionary: skipped, counted and
    /// logged (its source event was accepted upstream, so it has no dead-letter record of its own).
    private func dictionaryFull(_ tp: TopicPartition, offset: Int64) {
        metrics.dictionaryFullSkipped.increment()
        if dictionaryFullLogged < 10 {
            dictionaryFullLogged += 1
            logger.error(
                "an id dictionary is full (state.max_dictionary_ids); a forwarded record naming a new id was skipped",
                metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "offset": "\(offset)"])
        }
    }

    private func refuse(_ record: borrowing ConsumedRecord, _ rejection: Rejection) {
        let partition = Int(record.partition)
        deadLetters.send(
            key: record.key.map { Array($0) }, value: Array(record.value), originalHeaders: record.headers,
            rejection: rejection, source: record.topicPartition, offset: record.offset)
        _ = engine.state.shards[partition]!.reject(offset: record.offset, reason: rejection.reason)
        tally.rejected[rejection.reason, default: 0] += 1
    }

    // MARK: Consumer events

    private func handle(_ event: ConsumerEvent, consumer: KafkaConsumer) {
        switch event {
        case .offsetOutOfRange(let tp, let requested, let message):
            resolveGap(tp, requested: requested, message: message, consumer: consumer)
        case .partitionEOF:
            break
        case .error(let error):
            if error.isFatal {
                logger.critical("fatal Kafka error", metadata: ["error": "\(error)"])
            } else {
                logger.warning("Kafka reports", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The offset a partition needs no longer exists. Below the log start it is data loss:
    /// recorded (status, metric, error log) and the partition resumes at the log start. Beyond the
    /// log end the topic was recreated or truncated: recorded, and the partition stays stopped
    /// because its state reflects records that no longer exist.
    private func resolveGap(_ tp: TopicPartition, requested: Int64, message: String, consumer: KafkaConsumer) {
        let watermarks: (low: Int64, high: Int64)
        do {
            watermarks = try consumer.queryWatermarks(tp, timeout: .seconds(5))
        } catch {
            logger.error("offset out of range and watermarks unavailable", metadata: ["partition": "\(tp.partition)", "error": "\(error)"])
            return
        }
        let now = wallClock()
        if requested < watermarks.low {
            let lost = watermarks.low - requested
            let loss = DataLossEvent(
                topic: tp.topic, partition: tp.partition, fromOffset: requested, toOffset: watermarks.low, detectedAtMillis: now,
                message: "the log start moved past offset \(requested) to \(watermarks.low): \(lost) records were deleted "
                    + "before they were applied (retention); resuming at \(watermarks.low)")
            // Durable with the skip itself: the next commit writes both.
            carriedLocal.put(loss.storeKey, loss.encoded())
            withState { state in
                state.dataLoss.removeAll { $0.storeKey == loss.storeKey }
                state.dataLoss.append(loss)
                let index = Int(tp.partition)
                switch tp.topic {
                case configuration.eventsTopic:
                    if index < state.shards.count { _ = state.shards[index]?.skipLost(to: watermarks.low) }
                case configuration.itemsTopic:
                    if index < state.itemShards.count { _ = state.itemShards[index]?.skipLost(to: watermarks.low) }
                default:
                    // The engagement partition: the lost records are simply not applied; the
                    // instance state resumes at the log start.
                    break
                }
            }
            metrics.dataLoss.increment(by: lost)
            logger.error("DATA LOSS", metadata: ["partition": "\(tp.partition)", "lost": "\(lost)", "detail": "\(loss.message)"])
            do {
                try consumer.seek(tp, to: watermarks.low, timeout: .seconds(10))
            } catch {
                logger.error("cannot resume after data loss", metadata: ["partition": "\(tp.partition)", "error": "\(error)"])
            }
        } else {
            let loss = DataLossEvent(
                topic: tp.topic, partition: tp.partition, fromOffset: watermarks.high, toOffset: requested, detectedAtMillis: now,
                message: "the state needs offset \(requested) but the log ends at \(watermarks.high): the topic was "
                    + "recreated or truncated. The partition is stopped; rebuild the state (remove the state directory) "
                    + "to consume it again. librdkafka: \(message)")
            carriedLocal.put(loss.storeKey, loss.encoded())
            withState { state in
                state.dataLoss.removeAll { $0.storeKey == loss.storeKey }
                state.dataLoss.append(loss)
            }
            logger.error("STATE AHEAD OF LOG", metadata: ["partition": "\(tp.partition)", "detail": "\(loss.message)"])
        }
    }

    // MARK: Commit

    /// One atomic commit of every owned shard's changes and offsets. Retries storage failures
    /// with backoff (ingest pauses meanwhile) until it succeeds or a stop is requested.
    ///
    /// Never stores a source offset past what it forwarded: after a forward failed, no commit on
    /// any path writes anything. A commit abandoned after draining keeps what it drained for the
    /// next one (``carriedLocal``, ``carriedStores``).
    func commit(consumer: KafkaConsumer?) {
        if let forwardFailure {
            logger.error(
                "commit skipped: a forwarded record was lost, so no offset past it may be stored; the restart replays from the last commit",
                metadata: ["error": "\(forwardFailure)"])
            return
        }
        let started = clock.now
        // Refused records are in the dead-letter topic, or recorded here as undeliverable, before
        // the offsets that skip them are committed. Bounded by dead_letter.timeout_ms.
        var changes = carriedLocal
        carriedLocal = StateChanges()
        let undeliverable = deadLetters.awaitDelivered(shouldStop: stopRequested)
        for record in undeliverable { changes.put(record.storeKey, record.encoded()) }
        if !undeliverable.isEmpty {
            var byReason: [RejectReason: Int] = [:]
            for record in undeliverable { byReason[record.reason, default: 0] += 1 }
            for (reason, n) in byReason { metrics.undeliverable[reason]?.increment(by: Int64(n)) }
            withState { state in
                state.undeliverable.append(contentsOf: undeliverable)
                state.undeliverableCount += undeliverable.count
                if state.undeliverable.count > EngineState.undeliverableKept {
                    state.undeliverable.removeFirst(state.undeliverable.count - EngineState.undeliverableKept)
                }
            }
        }
        var offsets: [TopicPartition: Int64] = [:]
        var stores: [(MovableStore, StateChanges)] = []
        withState { state in
            if split {
                var drained: [MovableStore: StateChanges] = [:]
                for shard in state.ownedShards {
                    drained[MovableStore(kind: .user, partition: shard.partition, configuration: configuration)] =
                        state.shards[Int(shard.partition)]!.drainChanges()
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.eventsTopic, partition: shard.partition)] = next }
                }
                for shard in state.ownedItemShards {
                    drained[MovableStore(kind: .item, partition: shard.partition, configuration: configuration)] =
                        state.itemShards[Int(shard.partition)]!.drainChanges()
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.itemsTopic, partition: shard.partition)] = next }
                }
                if state.ownsEngagements {
                    drained[MovableStore(kind: .engagement, partition: 0, configuration: configuration)] = state.instance.drainChanges()
                    if let next = state.instance.nextOffset { offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] = next }
                }
                // Carried changes of a store no longer owned are dropped with the store (the new
                // owner restores from the changelog, which never saw them).
                for (store, carried) in carriedStores {
                    guard var later = drained[store] else { continue }
                    var merged = carried
                    merged.merge(later: later)
                    later = merged
                    drained[store] = later
                }
                carriedStores = [:]
                stores = drained.sorted { ($0.key.kind.rawValue, $0.key.partition) < ($1.key.kind.rawValue, $1.key.partition) }
                    .map { ($0.key, $0.value) }
                return
            }
            changes.merge(later: state.instance.drainChanges())
            for index in state.shards.indices where state.shards[index] != nil {
                changes.merge(later: state.shards[index]!.drainChanges())
                if let next = state.shards[index]!.nextOffset {
                    offsets[TopicPartition(topic: configuration.eventsTopic, partition: Int32(index))] = next
                }
            }
        }
        if split {
            // Forwards first: a source offset is committed only after what it forwarded is in Kafka.
            // Then each store's batch goes to its changelog, and only then to the local store, so
            // the local copy is never ahead of the changelog.
            guard let changelog, let producer else { return }
            func abandon(_ why: String, _ error: String) {
                carriedLocal.merge(later: changes)
                for (store, storeChanges) in stores { carriedStores[store] = storeChanges }
                withState { $0.lastCommitError = "\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(wallClock()) / 1000))): \(why): \(error)" }
                metrics.commitFailures.increment()
                logger.error("\(why); the commit is abandoned and its changes carried into the next one", metadata: ["error": "\(error)"])
            }
            guard awaitProducer(producer) else {
                abandon("forwarded records are not delivered", "\(forwardFailure.map { "\($0)" } ?? "stopping with the broker unreachable")")
                return
            }
            if forwardedSinceCommit > 0 {
                forwardedSinceCommit = 0
                forwardFlushes += 1
                crashPoint?.reached(.afterForwardFlush, commit: forwardFlushes)
            }
            var tokens: [(MovableStore, UInt64)] = []
            do {
                for (store, storeChanges) in stores {
                    if !storeChanges.isEmpty { try faults?.fail(.changelogSend) }
                    if let token = try changelog.send(storeChanges, of: store, repository: repository) { tokens.append((store, token)) }
                }
            } catch {
                // A batch cut short has no `rs-end` record: restore drops it. Retried next commit.
                abandon("a changelog record could not be queued", "\(error)")
                return
            }
            guard awaitProducer(producer) else {
                abandon("changelog records are not delivered", "\(forwardFailure.map { "\($0)" } ?? "stopping with the broker unreachable")")
                return
            }
            var positions = StateChanges()
            for (store, token) in tokens {
                guard let position = changelog.position(after: token) else {
                    abandon("a changelog batch has no delivery offset", "\(store)")
                    return
                }
                var w = BinaryWriter()
                w.appendBigEndian(UInt64(bitPattern: position))
                positions.put(store.positionKey, w.bytes)
            }
            changes.append(positions)
            for (_, storeChanges) in stores { changes.append(storeChanges) }
        }
        lastCommit = clock.now
        if !changes.isEmpty {
            var backoff = Duration.milliseconds(50)
            writtenCommits += 1
            crashPoint?.reached(.beforeCommitWrite, commit: writtenCommits)
            while true {
                do {
                    try faults?.fail(.storageWrite)
                    try repository.commit(changes)
                    crashPoint?.reached(.afterCommitWrite, commit: writtenCommits)
                    break
                } catch {
                    metrics.commitFailures.increment()
                    withState { $0.lastCommitError = "\(ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: Double(wallClock()) / 1000))): \(error)" }
                    logger.error("state commit failed; retrying", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
                    if stopRequested() && backoff >= .seconds(5) {
                        // Split mode: the changelog already has this batch; the local copy stays
                        // behind it, which the next assignment detects and restores.
                        carriedLocal = changes
                        logger.critical("giving up the final commit; the store keeps the previous commit", metadata: ["error": "\(error)"])
                        return
                    }
                    Thread.sleep(forTimeInterval: Double(backoff.components.seconds) + Double(backoff.components.attoseconds) / 1e18)
                    backoff = min(backoff * 2, .seconds(5))
                    // After a failed log write RocksDB refuses writes until reopened; reopening
                    // recovers the last good commit and the same batch is written again.
                    do { try repository.reopen() } catch { logger.error("reopening the state store failed", metadata: ["error": "\(error)"]) }
                }
            }
        }
        let elapsed = clock.now - started
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let completedAt = wallClock()
        withState { state in
            for (tp, offset) in offsets where tp.topic == configuration.eventsTopic { state.committedOffsets[tp.partition] = offset }
            for (tp, offset) in offsets where split && tp.topic == configuration.itemsTopic { state.itemCommitted[tp.partition] = offset }
            if let engagements = offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] {
                state.engagementsCommitted = engagements
            }
            // Every completed commit counts, an empty one too: the stall alarm watches the commit
            // loop, not the traffic.
            state.lastCompletedCommitAtMillis = completedAt
            if !changes.isEmpty {
                state.lastCommitAtMillis = completedAt
                state.lastCommitDurationMillis = millis
            }
            state.lastCommitError = nil
        }
        guard !changes.isEmpty else { return }
        metrics.commits.increment()
        metrics.commitDuration.recordNanoseconds(Int64(millis * 1e6))
        metrics.commitBytes.record(changes.byteCount)
        metrics.commitRecords.record(changes.recordCount)
        if let consumer, !offsets.isEmpty {
            // For lag monitoring only; the store is the source of truth.
            do { try consumer.commit(offsets, asynchronously: true) } catch {
                logger.debug("group offset commit failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Waits until every forwarded and changelog record has been delivered. False (the commit is
    /// abandoned, the previous one stands) when a stop was requested and the broker stayed
    /// unreachable for 30 s, or when a record failed for good.
    private func awaitProducer(_ producer: KafkaProducer) -> Bool {
        let failedBefore = producer.failedCount
        let started = clock.now
        while true {
            do {
                try producer.flush(timeout: .seconds(1))
                break
            } catch {
                if stopRequested() && clock.now - started > .seconds(30) {
                    logger.critical("forwarded records still undelivered after 30 s while stopping; the last commit stands")
                    return false
                }
            }
        }
        if producer.failedCount != failedBefore {
            forwardFailure = ForwardError(description: "\(producer.failedCount - failedBefore) forwarded or changelog records failed delivery")
            logger.critical("forwarded records failed delivery; stopping without committing past them")
            return false
        }
        return true
    }

    // MARK: One group, one mode

    /// Before consuming: claims the group in the directory, reads the claims already there, and
    /// refuses to run beside an instance it must not run beside (see ``OwnershipDirectory/conflicts()``).
    private func checkGroupAtStart() throws {
        publishClaim()
        var caughtUp = directory.awaitCaughtUp(within: .seconds(5))
        if !caughtUp && !split && InternalTopics.ensureDirectory(configuration: configuration, kafka: kafkaConfiguration, logger: logger) {
            publishClaim()
            caughtUp = directory.awaitCaughtUp(within: .seconds(5))
        }
        if !caughtUp {
            logger.warning(
                "cannot read the group directory; starting without checking for other instances of the group",
                metadata: ["topic": "\(configuration.directoryTopic)"])
        }
        if let conflict = directory.conflicts().first { throw GroupConflict(claim: conflict, mode: configuration.pipelineMode, group: configuration.groupID) }
    }

    /// While running: a conflicting instance that started before this one (or at the same
    /// millisecond with a smaller identity) wins; this one stops.
    private func yieldingConflict() -> GroupConflict? {
        for claim in directory.conflicts() {
            let theirs = claim.startedAtMillis ?? Int64.min
            if theirs < directory.startedAtMillis || (theirs == directory.startedAtMillis && claim.identity < directory.identity) {
                return GroupConflict(claim: claim, mode: configuration.pipelineMode, group: configuration.groupID)
            }
        }
        return nil
    }

    /// Single mode: takes partitions added to the events topic since the last check.
    private func assignNewPartitions(consumer: KafkaConsumer) {
        do {
            let admin = try KafkaAdmin(configuration: kafkaConfiguration)
            guard let count = try admin.partitionCount(of: configuration.eventsTopic, timeout: .seconds(5)), count > assignedPartitionCount
            else { return }
            let added = (Int32(assignedPartitionCount)..<Int32(count)).map { TopicPartition(topic: configuration.eventsTopic, partition: $0) }
            logger.warning(
                "the events topic has new partitions; consuming them (keys now map to other partitions: see docs/scaling.md, Adding partitions)",
                metadata: ["partitions": "\(count)", "was": "\(assignedPartitionCount)"])
            try consumer.assign(added)
            assignedPartitionCount = count
        } catch {
            logger.debug("partition count check failed", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Exact recompute cuts

    private let cutRequests = Mutex<[CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>]>([])

    /// Commits, then takes a co-occurrence cut on the ingest thread: the returned log sequence
    /// covers exactly the engagements before the cut.
    func requestCut() async throws -> (cut: CooccurrenceCut, logSequence: UInt64) {
        try await withCheckedThrowingContinuation { continuation in
            cutRequests.withLock { $0.append(continuation) }
        }
    }

    private func serveCutRequests(consumer: KafkaConsumer) {
        let pending = cutRequests.withLock { requests -> [CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>] in
            defer { requests.removeAll() }
            return requests
        }
        guard !pending.isEmpty else { return }
        guard withState({ $0.ownsEngagements }) else {
            for continuation in pending { continuation.resume(throwing: ForwardError(description: "this instance does not own the engagement stage (split mode); the recompute runs on its owner")) }
            return
        }
        commit(consumer: consumer)
        let cut = withState { $0.instance.beginExactRecompute() }
        for continuation in pending { continuation.resume(returning: cut) }
    }

    private func failCutRequests(reason: String) {
        let pending = cutRequests.withLock { requests -> [CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>] in
            defer { requests.removeAll() }
            return requests
        }
        for continuation in pending { continuation.resume(throwing: CancellationError()) }
        if !pending.isEmpty { logger.info("exact recompute not started: \(reason)") }
    }

    /// Swaps an exact result in under the engine lock (any thread).
    func swapExact(_ result: ExactSimilarities) -> Bool {
        engine.lock.withLock { engine.state.instance.replaceWithExact(result) }
    }

    func abandonExact() { engine.lock.withLock { engine.state.instance.abandonExactRecompute() } }

    // MARK: Status

    /// Tells the group which partitions this instance owns, its mode and where it answers, after
    /// every change (the directory renews the claim on its own thread).
    private func publishClaim() {
        claimDue = false
        let partitions: [String: [Int32]] = withState { state in
            [
                "user": state.ownedShards.map(\.partition), "item": state.ownedItemShards.map(\.partition),
                "engagement": state.ownsEngagements ? [0] : [],
            ]
        }
        directory.publish(partitions: partitions)
    }

    /// Throughput, family sizes and the watermark gauge, on the ingest thread. Lags and the stall
    /// alarm are kept by ``EndOffsetMonitor`` on its own thread, so they stay true while this
    /// thread is blocked.
    private func refreshStatus(now: ContinuousClock.Instant) {
        let elapsed = now - lastStatus
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        lastStatus = now
        let refreshSizes = now - lastSizes >= .seconds(5) || withState { $0.familySizes.isEmpty }
        if refreshSizes { lastSizes = now }
        let (applied, watermark, sizes): (UInt64, Int64?, [FamilySize]?) = withState { state in
            var applied: UInt64 = 0
            var watermark: Int64? = nil
            for shard in state.ownedShards {
                applied += shard.counters.appliedTotal
                if let w = shard.watermark?.millis { watermark = max(watermark ?? w, w) }
            }
            let delta = applied >= appliedAtLastStatus ? applied - appliedAtLastStatus : 0
            state.eventsPerSecond = seconds > 0 ? Double(delta) / seconds : 0
            if refreshSizes { state.familySizes = Self.sizes(of: state.ownedShards + state.ownedItemShards) }
            return (applied, watermark, refreshSizes ? state.familySizes : nil)
        }
        appliedAtLastStatus = applied
        for size in sizes ?? [] { metrics.recordSize(family: size.family, entries: size.entries, bytes: size.bytes) }
        if let watermark { metrics.watermark.record(watermark) }
        metrics.deadLetterPending.record(deadLetters.pendingCount)
    }

    static func sizes(of shards: [Shard]) -> [FamilySize] {
        var totals: [String: (Int, Int)] = [:]
        var order: [String] = []
        for shard in shards {
            for size in shard.sizes {
                if totals[size.family] == nil { order.append(size.family) }
                let t = totals[size.family] ?? (0, 0)
                totals[size.family] = (t.0 + size.entries, t.1 + size.bytes)
            }
        }
        return order.map { FamilySize(family: $0, entries: totals[$0]!.0, bytes: totals[$0]!.1) }
    }

    // MARK: Rebalance

    /// Restores each assigned partition's shard from the store and starts it at its stored offset.
    fileprivate func assigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] {
        var starts: [TopicPartition: StartOffset] = [:]
        for tp in partitions {
            let kind: MovableStore.Kind
            switch tp.topic {
            case configuration.eventsTopic: kind = .user
            case configuration.itemsTopic where split: kind = .item
            case configuration.engagementsTopic where split: kind = .engagement
            default: continue
            }
            do {
                if split, let changelog {
                    _ = try changelog.restore(MovableStore(kind: kind, partition: tp.partition, configuration: configuration), repository: repository)
                }
                let next: Int64?
                switch kind {
                case .user:
                    let shard = try repository.loadShard(partition: tp.partition, configuration: configuration.shardConfiguration)
                    withState { $0.install(shard) }
                    next = shard.nextOffset
                case .item:
                    let shard = try repository.loadShard(
                        stage: ShardKeys.itemsStage, partition: tp.partition, configuration: configuration.shardConfiguration)
                    withState { $0.installItemShard(shard) }
                    next = shard.nextOffset
                case .engagement:
                    let instance = try repository.loadInstanceState(configuration: cooccurrenceConfiguration, lookalike: lookalikeConfiguration)
                    withState { state in
                        state.instance = instance
                        state.ownsEngagements = true
                        state.engagementsCommitted = instance.nextOffset
                    }
                    next = instance.nextOffset
                }
                if let next { starts[tp] = .offset(next) }
                logger.info(
                    "partition assigned",
                    metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "resume_at": "\(next.map(String.init) ?? "start")"])
            } catch {
                // Serving wrong data is worse than not serving: leave the partition without a
                // shard (its records are skipped and stay uncommitted) and say so.
                logger.critical(
                    "cannot restore partition state; the partition is not consumed",
                    metadata: ["topic": "\(tp.topic)", "partition": "\(tp.partition)", "error": "\(error)"])
            }
        }
        claimDue = true
        return starts
    }

    /// Commits and drops the shards of revoked partitions.
    fileprivate func revoked(_ partitions: [TopicPartition]) {
        commit(consumer: nil)
        withState { state in
            for tp in partitions {
                switch tp.topic {
                case configuration.eventsTopic: state.remove(partition: tp.partition)
                case configuration.itemsTopic: state.removeItemShard(partition: tp.partition)
                case configuration.engagementsTopic where split:
                    state.ownsEngagements = false
                    state.engagementsCommitted = nil
                    state.instance = InstanceState(configuration: cooccurrenceConfiguration, lookalike: lookalikeConfiguration)
                default: break
                }
            }
        }
        claimDue = true
        logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map { "\($0.topic)/\($0.partition)" })"])
    }
}

/// Forwards group callbacks to the pipeline without the consumer owning the pipeline.
private final class RebalanceProxy: RebalanceListener {
    weak var pipeline: IngestPipeline?

    init(_ pipeline: IngestPipeline) { self.pipeline = pipeline }

    func partitionsAssigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] {
        pipeline?.assigned(partitions) ?? [:]
    }

    func partitionsRevoked(_ partitions: [TopicPartition]) { pipeline?.revoked(partitions) }
}

extension Error {
    var isFatal: Bool { (self as? KafkaError)?.isFatal ?? false }
}


/// A deliberate SIGKILL at a precise point, for the crash tests: set
/// `RECSTREAM_CRASH_AT=before-commit-write:N` or `after-commit-write:N` to kill the process at the
/// N-th commit that writes something, right before or right after its RocksDB write (before the
/// offsets go to the group); `during-model-write:N` (model file written, manifest not yet) or
/// `before-model-switch:N` (version directory in place, `CURRENT` not yet switched) to kill it in
/// the N-th model publish. Never set in production; a malformed value is ignored.
struct CrashPoint {
    enum Moment: String {
        case beforeCommitWrite = "before-commit-write"
        case afterCommitWrite = "after-commit-write"
        case duringModelWrite = "during-model-write"
        case beforeModelSwitch = "before-model-switch"
        /// Split mode: the commit's forwarded records are delivered, its changelog batch not yet sent.
        case afterForwardFlush = "after-forward-flush"
    }

    /// The crash point of this process's environment, read once.
    static let configured = fromEnvironment()

    let moment: Moment
    let commit: Int

    static func fromEnvironment() -> CrashPoint? {
        guard let value = ProcessInfo.processInfo.environment["RECSTREAM_CRASH_AT"] else { return nil }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let moment = Moment(rawValue: String(parts[0])), let n = Int(parts[1]), n > 0 else { return nil }
        return CrashPoint(moment: moment, commit: n)
    }

    /// Kills the process if this is the configured point, announcing it on stderr first
    /// (`crash point MOMENT:N reached`): the crash tests tell a planned kill from any other death,
    /// and from a point never reached, by that line.
    func reached(_ moment: Moment, commit: Int) {
        guard moment == self.moment, commit == self.commit else { return }
        FileHandle.standardError.write(Data("crash point \(moment.rawValue):\(commit) reached, raising SIGKILL\n".utf8))
        kill(getpid(), SIGKILL)
    }
}

/// Another instance of the group runs in a way this one must not run beside: two single-mode
/// instances (each would see part of the input), or single and split mode in one group.
struct GroupConflict: Error, CustomStringConvertible {
    var claim: OwnershipClaim
    var mode: RecstreamConfiguration.PipelineMode
    var group: String

    var description: String {
        let other = "instance \(claim.identity)\(claim.url.isEmpty ? "" : " at \(claim.url)") (\(claim.mode ?? "split") mode)"
        let what =
            mode == .single
            ? "pipeline.mode=single needs to be the only instance of its consumer group, and \(other) runs in group \(group)"
            : "\(other) runs in group \(group) in single mode, which owns every partition"
        return "refusing to run: \(what). Run several instances with --set pipeline.mode=split (docs/scaling.md), or give this one its own kafka.group_id. A stopped instance's claim expires \(OwnershipDirectory.freshnessMillis / 1000) s after its last renewal."
    }
}
