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
    /// Split mode: the group's ownership directory (published to and read from Kafka).
    let directory: OwnershipDirectory?
    /// The owned partitions changed (or were never published): publish a claim.
    private var claimDue = true
    /// A forward that could not be queued: ingest stops without committing past it.
    private var forwardFailure: (any Error)? = nil
    private var itemsPartitions = 0
    private let cooccurrenceConfiguration: CooccurrenceConfiguration
    private let lookalikeConfiguration: LookalikeConfiguration

    init(
        configuration: RecstreamConfiguration, kafka: KafkaConfiguration, engine: StateEngine,
        repository: StateRepository, metricsFactory: any MetricsFactory, logger: Logger
    ) throws {
        self.configuration = configuration
        self.kafkaConfiguration = kafka
        self.engine = engine
        self.repository = repository
        self.logger = logger
        metrics = IngestMetrics(factory: metricsFactory)
        decoder = EventDecoder(maxRecordBytes: configuration.maxRecordBytes)
        deadLetters = try DeadLetterQueue(configuration: kafka, topic: configuration.deadLetterTopic, logger: logger)
        cooccurrenceConfiguration = try configuration.cooccurrence()
        lookalikeConfiguration = try configuration.lookalike()
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
            directory = try OwnershipDirectory(configuration: configuration, kafka: kafka, logger: logger)
        } else {
            producer = nil
            changelog = nil
            directory = nil
        }
        let now = clock.now
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
        defer {
            self.consumer = nil
            deadLetters.close()
            directory?.stop()
            producer?.close()
        }
        if split {
            let counts = try InternalTopics.ensure(configuration: configuration, kafka: kafkaConfiguration, logger: logger)
            itemsPartitions = counts.items
            directory?.setPartitionCounts(events: counts.events, items: counts.items)
            directory?.start()
            withState { $0.itemsPartitions = counts.items }
        }
        try consumer.subscribe(configuration.subscribedTopics)
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
                engine.state.lastRecordAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
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
            if now - lastStatus >= .seconds(1) { refreshStatus(consumer: consumer, now: now) }
            if claimDue { publishClaim() }
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
            let idBytes = decoder.idBytes
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
        if record.topic == configuration.itemsTopic {
            let index = Int(record.partition)
            guard index < engine.state.itemShards.count, engine.state.itemShards[index] != nil else { return }
            _ = engine.state.itemShards[index]!.applyForwarded(forwarded, offset: record.offset)
        } else if record.topic == configuration.engagementsTopic, engine.state.ownsEngagements {
            engine.state.instance.applyForwarded(forwarded, offset: record.offset)
        }
    }

    private func refuse(_ record: borrowing ConsumedRecord, _ rejection: Rejection) {
        let partition = Int(record.partition)
        do {
            try deadLetters.send(
                key: record.key.map { Array($0) }, value: Array(record.value), originalHeaders: record.headers,
                rejection: rejection, source: record.topicPartition, offset: record.offset)
        } catch {
            // The record stays ahead of the committed offset: stop this batch's progress on the
            // partition by not advancing it; the next poll after a seek would redeliver it. Rare
            // (local queue full for the whole timeout); logged loudly.
            logger.error(
                "cannot queue a refused record for the dead-letter topic",
                metadata: ["partition": "\(record.partition)", "offset": "\(record.offset)", "error": "\(error)"])
        }
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
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        if requested < watermarks.low {
            let lost = watermarks.low - requested
            let loss = DataLossEvent(
                topic: tp.topic, partition: tp.partition, fromOffset: requested, toOffset: watermarks.low, detectedAtMillis: now,
                message: "the log start moved past offset \(requested) to \(watermarks.low): \(lost) records were deleted "
                    + "before they were applied (retention); resuming at \(watermarks.low)")
            withState { state in
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
            withState { $0.dataLoss.append(loss) }
            logger.error("STATE AHEAD OF LOG", metadata: ["partition": "\(tp.partition)", "detail": "\(loss.message)"])
        }
    }

    // MARK: Commit

    /// One atomic commit of every owned shard's changes and offsets. Retries storage failures
    /// with backoff (ingest pauses meanwhile) until it succeeds or a stop is requested.
    func commit(consumer: KafkaConsumer?) {
        let started = clock.now
        // Refused records must be in the dead-letter topic before their offsets are committed.
        guard deadLetters.awaitDelivered(shouldStop: stopRequested) else {
            logger.error("stopping with undelivered dead-letter records; their offsets stay uncommitted")
            return
        }
        var changes = StateChanges()
        var offsets: [TopicPartition: Int64] = [:]
        var stores: [(MovableStore, StateChanges)] = []
        withState { state in
            if split {
                for shard in state.ownedShards {
                    stores.append((MovableStore(kind: .user, partition: shard.partition, configuration: configuration), state.shards[Int(shard.partition)]!.drainChanges()))
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.eventsTopic, partition: shard.partition)] = next }
                }
                for shard in state.ownedItemShards {
                    stores.append((MovableStore(kind: .item, partition: shard.partition, configuration: configuration), state.itemShards[Int(shard.partition)]!.drainChanges()))
                    if let next = shard.nextOffset { offsets[TopicPartition(topic: configuration.itemsTopic, partition: shard.partition)] = next }
                }
                if state.ownsEngagements {
                    stores.append((MovableStore(kind: .engagement, partition: 0, configuration: configuration), state.instance.drainChanges()))
                    if let next = state.instance.nextOffset { offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] = next }
                }
                return
            }
            changes.append(state.instance.drainChanges())
            for index in state.shards.indices where state.shards[index] != nil {
                changes.append(state.shards[index]!.drainChanges())
                if let next = state.shards[index]!.nextOffset {
                    offsets[TopicPartition(topic: configuration.eventsTopic, partition: Int32(index))] = next
                }
            }
        }
        if split {
            // Forwards first: a source offset is committed only after what it forwarded is in Kafka.
            // Then each store's batch goes to its changelog, and only then to the local store, so
            // the local copy is never ahead of the changelog.
            guard let changelog, let producer, awaitProducer(producer) else { return }
            if forwardedSinceCommit > 0 {
                forwardedSinceCommit = 0
                forwardFlushes += 1
                crashPoint?.reached(.afterForwardFlush, commit: forwardFlushes)
            }
            var tokens: [(MovableStore, UInt64)] = []
            do {
                for (store, storeChanges) in stores {
                    if let token = try changelog.send(storeChanges, of: store, repository: repository) { tokens.append((store, token)) }
                }
            } catch {
                forwardFailure = error
                logger.critical("a changelog record could not be queued; the commit is abandoned", metadata: ["error": "\(error)"])
                return
            }
            guard awaitProducer(producer) else { return }
            for (store, token) in tokens {
                guard let position = changelog.position(after: token) else {
                    forwardFailure = ForwardError(description: "changelog batch of \(store) has no delivery offset")
                    logger.critical("a changelog batch was not delivered; the commit is abandoned", metadata: ["store": "\(store)"])
                    return
                }
                var w = BinaryWriter()
                w.appendBigEndian(UInt64(bitPattern: position))
                changes.put(store.positionKey, w.bytes)
            }
            for (_, storeChanges) in stores { changes.append(storeChanges) }
        }
        lastCommit = clock.now
        guard !changes.isEmpty else { return }
        var backoff = Duration.milliseconds(50)
        writtenCommits += 1
        crashPoint?.reached(.beforeCommitWrite, commit: writtenCommits)
        while true {
            do {
                try repository.commit(changes)
                crashPoint?.reached(.afterCommitWrite, commit: writtenCommits)
                break
            } catch {
                metrics.commitFailures.increment()
                withState { $0.lastCommitError = "\(ISO8601DateFormatter().string(from: Date())): \(error)" }
                logger.error("state commit failed; retrying", metadata: ["error": "\(error)", "backoff": "\(backoff)"])
                if stopRequested() && backoff >= .seconds(5) {
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
        let elapsed = clock.now - started
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        withState { state in
            for (tp, offset) in offsets where tp.topic == configuration.eventsTopic { state.committedOffsets[tp.partition] = offset }
            for (tp, offset) in offsets where split && tp.topic == configuration.itemsTopic { state.itemCommitted[tp.partition] = offset }
            if let engagements = offsets[TopicPartition(topic: configuration.engagementsTopic, partition: 0)] {
                state.engagementsCommitted = engagements
            }
            state.lastCommitAtMillis = Int64(Date().timeIntervalSince1970 * 1000)
            state.lastCommitDurationMillis = millis
            state.lastCommitError = nil
        }
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

    /// Split mode: tells the group which partitions this instance owns and where it answers, after
    /// every change (the directory renews the claim on its own thread).
    private func publishClaim() {
        guard let directory, directory.selfURL != nil else { return }
        claimDue = false
        let partitions: [String: [Int32]] = withState { state in
            [
                "user": state.ownedShards.map(\.partition), "item": state.ownedItemShards.map(\.partition),
                "engagement": state.ownsEngagements ? [0] : [],
            ]
        }
        directory.publish(partitions: partitions)
    }

    private func refreshStatus(consumer: KafkaConsumer, now: ContinuousClock.Instant) {
        let elapsed = now - lastStatus
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        lastStatus = now
        let refreshSizes = now - lastSizes >= .seconds(5) || withState { $0.familySizes.isEmpty }
        if refreshSizes { lastSizes = now }
        let (applied, lag, watermark, lags, sizes): (UInt64, Int64, Int64?, [Int32: Int64], [FamilySize]?) = withState { state in
            var applied: UInt64 = 0
            var lag: Int64 = 0
            var lags: [Int32: Int64] = [:]
            var watermark: Int64? = nil
            for shard in state.ownedShards {
                applied += shard.counters.appliedTotal
                let tp = TopicPartition(topic: configuration.eventsTopic, partition: shard.partition)
                if let cached = consumer.cachedWatermarks(tp)?.high, cached >= 0 {
                    // The cached high watermark is from the last fetch; never report an end
                    // before what has already been applied.
                    let high = max(cached, shard.nextOffset ?? 0)
                    state.endOffsets[shard.partition] = high
                    let partitionLag = high - (shard.nextOffset ?? 0)
                    lags[shard.partition] = partitionLag
                    lag += partitionLag
                }
                if let w = shard.watermark?.millis { watermark = max(watermark ?? w, w) }
            }
            if split {
                for shard in state.ownedItemShards {
                    let tp = TopicPartition(topic: configuration.itemsTopic, partition: shard.partition)
                    if let cached = consumer.cachedWatermarks(tp)?.high, cached >= 0 {
                        state.itemEnds[shard.partition] = max(cached, shard.nextOffset ?? 0)
                    }
                }
                if state.ownsEngagements,
                    let cached = consumer.cachedWatermarks(TopicPartition(topic: configuration.engagementsTopic, partition: 0))?.high, cached >= 0
                {
                    state.engagementsEnd = max(cached, state.instance.nextOffset ?? 0)
                }
            }
            let delta = applied >= appliedAtLastStatus ? applied - appliedAtLastStatus : 0
            state.eventsPerSecond = seconds > 0 ? Double(delta) / seconds : 0
            if refreshSizes { state.familySizes = Self.sizes(of: state.ownedShards + state.ownedItemShards) }
            return (applied, lag, watermark, lags, refreshSizes ? state.familySizes : nil)
        }
        appliedAtLastStatus = applied
        metrics.lag.record(lag)
        for (partition, value) in lags { metrics.lag(partition: partition).record(value) }
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
                    state.engagementsEnd = nil
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
