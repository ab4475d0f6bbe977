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
    let metrics: IngestMetrics
    var consumer: KafkaConsumer?
    let deadLetters: DeadLetterQueue
    var decoder: EventDecoder
    var tally = BatchTally()
    /// True while the ingest thread holds the engine lock (only touched on that thread).
    var holdsLock = false
    /// The runtime's clocks (see ``RuntimeClock``).
    let clock: RuntimeClock
    var lastCommit: ContinuousClock.Instant
    var lastStatus: ContinuousClock.Instant
    var lastSizes: ContinuousClock.Instant
    var appliedAtLastStatus: UInt64 = 0
    var stopRequested: () -> Bool = { false }
    let kafkaConfiguration: KafkaConfiguration
    /// Fault injection for the crash tests only (see ``CrashPoint``); nil in normal runs.
    let crashPoint = CrashPoint.configured
    var writtenCommits = 0
    var forwardFlushes = 0
    var forwardedSinceCommit = 0
    /// Split mode: the user-keyed stage forwards through the internal topics; every store has a changelog.
    let split: Bool
    /// Split mode: one idempotent producer for forwarded records and changelog batches.
    let producer: KafkaProducer?
    let changelog: Changelog?
    /// The group's directory (published to and read from Kafka): query forwarding in split mode,
    /// the one-instance guard in single mode.
    let directory: OwnershipDirectory
    /// Single mode: when the events topic's partition count was last checked (new partitions
    /// are assigned as they appear).
    var lastPartitionCheck: ContinuousClock.Instant
    var lastConflictCheck: ContinuousClock.Instant
    var assignedPartitionCount = 0
    /// The owned partitions changed (or were never published): publish a claim.
    var claimDue = true
    /// A forward that could not be queued or delivered: ingest stops, and no commit on any path
    /// (the final one, a revoke's) stores a source offset past it.
    var forwardFailure: (any Error)? = nil
    /// A paged entry could not be read from the store: the record that needed it was not applied,
    /// so ingest stops without committing past it (like a lost forward) and the restart reads it again.
    var storeFailure: (any Error)? = nil
    /// Changes drained by a commit that was then abandoned (a changelog write or the storage write
    /// failed): the next commit writes them first. Without this, ids marked persisted by the
    /// abandoned drain would never be written and a later commit would leave a hole in a dictionary.
    var carriedLocal = StateChanges()
    var carriedStores: [MovableStore: StateChanges] = [:]
    /// Wall-clock milliseconds since the epoch: the future-timestamp limit, status stamps.
    let wallClock: @Sendable () -> Int64
    /// Events stamped after this (wall clock at the batch's first record + `ingest.max_future_ms`)
    /// are refused as `future_ts`.
    var futureLimitMillis = Int64.max
    /// Fault injection for the failure-path tests only (see ``FaultInjection``); nil in normal runs.
    let faults = FaultInjection.configured
    var dictionaryFullLogged = 0
    /// The engagement families kept (read once: the configuration computes it).
    let engagementFamilies: EngagementFamilies
    /// Forwards and dead letters of the current batch, sent after the engine lock is released.
    var outgoingForwards: [OutgoingRecord] = []
    var outgoingDeadLetters: [RefusedRecord] = []
    /// Exact-recompute requests waiting for a cut on the ingest thread.
    let cutRequests = Mutex<[CheckedContinuation<(cut: CooccurrenceCut, logSequence: UInt64), any Error>]>([])
    /// Keeps end offsets, lags and the stall alarm live on its own thread.
    let endOffsets: EndOffsetMonitor
    var itemsPartitions = 0
    let cooccurrenceConfiguration: CooccurrenceConfiguration
    let lookalikeConfiguration: LookalikeConfiguration

    init(
        configuration: RecstreamConfiguration, kafka: KafkaConfiguration, engine: StateEngine,
        repository: StateRepository, metricsFactory: any MetricsFactory, logger: Logger, identity: String,
        clock: RuntimeClock = .system
    ) throws {
        self.clock = clock
        self.wallClock = clock.wallMillis
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
            logger: logger, clock: clock)
        if configuration.maxFutureMillis >= configuration.allowedLatenessMillis {
            logger.warning(
                "ingest.max_future_ms is not below ingest.allowed_lateness_ms: an accepted event at the future limit moves the watermark far enough to make on-time events late",
                metadata: ["max_future_ms": "\(configuration.maxFutureMillis)", "allowed_lateness_ms": "\(configuration.allowedLatenessMillis)"])
        }
        cooccurrenceConfiguration = try configuration.cooccurrence()
        lookalikeConfiguration = try configuration.lookalike()
        engagementFamilies = configuration.engagementFamilies
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
            clock: clock)
        let now = clock.now()
        lastPartitionCheck = now
        lastConflictCheck = now
        lastCommit = now
        lastStatus = now
        // Sizes are first computed at the first status refresh, then every five seconds.
        lastSizes = now - .seconds(60)
    }

    // MARK: Locking from the ingest thread

    /// Runs `body` with the engine state, taking the lock unless this thread already holds it.
    func withState<T>(_ body: (inout EngineState) throws -> T) rethrows -> T {
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
                sendOutgoing()
                if error.isFatal {
                    logger.critical("fatal Kafka error; stopping ingest", metadata: ["error": "\(error)"])
                    failure = error
                    break
                }
                logger.warning("poll failed; retrying", metadata: ["error": "\(error)"])
                continue
            }
            if holdsLock {
                // The lock was taken because records arrived: note when, for staleness.
                engine.state.lastRecordAtMillis = wallClock()
                engine.lock.unlock()
                holdsLock = false
            }
            sendOutgoing()
            if let storeFailure {
                logger.critical("a state entry could not be read from the store; stopping without committing past it", metadata: ["error": "\(storeFailure)"])
                failure = storeFailure
                break
            }
            if let forwardFailure {
                logger.critical("a forwarded record could not be queued; stopping without committing past it", metadata: ["error": "\(forwardFailure)"])
                failure = forwardFailure
                break
            }
            tally.flush(into: metrics)
            let now = clock.now()
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
        if forwardFailure == nil && storeFailure == nil { commit(consumer: consumer) }
        // close() leaves the group; the final revoke commits again (a no-op) and drops shards.
        consumer.close()
        logger.info("ingest stopped")
        if let failure { throw failure }
    }
}

extension Error {
    var isFatal: Bool { (self as? KafkaError)?.isFatal ?? false }
}
