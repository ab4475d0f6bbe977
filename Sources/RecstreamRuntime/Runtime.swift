import CoreMetrics
import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import ServiceLifecycle

/// The assembled engine of one `recstream run`: the durable store, the live state and the
/// ingest service, wired from a configuration. The executable adds the HTTP server and the
/// embedded broker and runs everything in a service group.
public final class Runtime: AdminOperations, Sendable {
    public let engine: StateEngine
    public let ingest: IngestService
    /// The periodic exact co-occurrence recompute (run it in the service group).
    public let recomputeService: any Service
    /// The embedding model served now (what retrieval and the look-alike family read); stays empty
    /// when `embedding.enabled` is false.
    public let servedModel: ServedModelSlot
    /// The embedding family (training jobs, queries) over `servedModel`; nil when `embedding.enabled` is false.
    public let embeddings: EmbeddingServing?
    /// The embedding jobs' schedule (run it in the service group).
    public let embeddingService: any Service
    public let stateDirectory: String
    private let repository: StateRepository
    private let recomputeJob: CooccurrenceRecompute
    /// Look-alike queries over the seed lists, their summaries and the served model.
    public let lookalike: LookalikeEngine
    /// The periodic look-alike summary job (run it in the service group).
    public let lookalikeSummaryService: any Service
    public let lookalikeSummaryJob: LookalikeSummaryJob
    /// Split mode: the group's ownership directory (query forwarding); nil in single mode.
    public let directory: OwnershipDirectory?
    /// The group's directory in either mode (claims; in single mode the one-instance guard).
    public let groupDirectory: OwnershipDirectory

    /// Opens the store and prepares ingest; nothing is consumed until `ingest.run()`.
    /// - Throws: configuration, storage (locked, corrupt, mismatched directory) or Kafka client
    ///   errors, each with a message fit for an operator.
    public init(
        configuration: RecstreamConfiguration, bootstrapServers: String, stateDirectory: String, version: String,
        metricsFactory: any MetricsFactory, logger: Logger, models: ServedModelSlot? = nil, clock: RuntimeClock = .system
    ) throws {
        self.stateDirectory = stateDirectory
        repository = try StateRepository(
            path: stateDirectory, syncWrites: configuration.syncWrites, eventsTopic: configuration.eventsTopic)
        try repository.verifyNotRolledBack()
        if configuration.verify == .blocking {
            let records = try repository.verifyAll()
            logger.info("state verified", metadata: ["records": "\(records)", "commits": "\(repository.commitCount)"])
        }
        let kafka = KafkaConfiguration(bootstrapServers: bootstrapServers, configuration.kafkaProperties)
        if let clusterID = try? KafkaAdmin(configuration: kafka).clusterID(timeout: .seconds(10)) {
            try repository.checkCluster(clusterID)
        } else {
            logger.warning("the brokers did not report a cluster id; the state directory is not checked against the cluster")
        }
        let cooccurrence = try configuration.cooccurrence()
        let lookalikeConfiguration = try configuration.lookalike()
        // Split mode: the engagement stage's state is loaded (and served) only once its partition
        // is assigned here.
        let split = configuration.pipelineMode == .split
        let instance =
            split
            ? InstanceState(configuration: cooccurrence, lookalike: lookalikeConfiguration, families: configuration.engagementFamilies)
            : try repository.loadInstanceState(
                configuration: cooccurrence, lookalike: lookalikeConfiguration, families: configuration.engagementFamilies)
        let engine = StateEngine(
            configuration: configuration, version: version, bootstrapServers: bootstrapServers, instance: instance, ownsEngagements: !split,
            clock: clock)
        self.engine = engine
        engine.committed = repository
        // Facts about this state directory that must survive restarts.
        let dataLoss = try repository.dataLossEvents()
        let undeliverable = try repository.undeliverable(limit: EngineState.undeliverableKept)
        engine.lock.withLock {
            engine.state.dataLoss = dataLoss
            engine.state.undeliverable = undeliverable.records
            engine.state.undeliverableCount = undeliverable.total
        }
        let identity =
            configuration.instanceID
            ?? "\(ProcessInfo.processInfo.hostName):\(URL(fileURLWithPath: stateDirectory).standardizedFileURL.path)"
        let pipeline = try IngestPipeline(
            configuration: configuration, kafka: kafka, engine: engine, repository: repository,
            metricsFactory: metricsFactory, logger: logger, identity: identity, clock: clock)
        ingest = IngestService(pipeline: pipeline)
        groupDirectory = pipeline.directory
        directory = split ? pipeline.directory : nil
        engine.directory = directory
        recomputeJob = CooccurrenceRecompute(
            pipeline: pipeline, repository: repository, configuration: cooccurrence, metricsFactory: metricsFactory, logger: logger)
        let job = recomputeJob
        let cooccurrenceKept = configuration.cooccurrenceEnabled
        recomputeService = PeriodicService(interval: .milliseconds(cooccurrence.exactRecomputeIntervalMillis)) {
            if cooccurrenceKept { _ = try? await job.run() }
        }
        servedModel = models ?? ServedModelSlot()
        engine.models = servedModel
        (embeddings, embeddingService) = try Self.embeddingFamily(
            configuration: configuration, engine: engine, repository: repository, slot: servedModel,
            stateDirectory: stateDirectory, metricsFactory: metricsFactory, logger: logger)
        let ownedEngine = engine
        embeddings?.jobs.setOwnershipCheck { ownedEngine.ownsEngagementStage }
        lookalike = LookalikeEngine(engine: engine, models: servedModel, configuration: lookalikeConfiguration)
        lookalikeSummaryJob = LookalikeSummaryJob(lookalike: lookalike, metricsFactory: metricsFactory, logger: logger)
        let summaryJob = lookalikeSummaryJob
        let seedsKept = configuration.lookalikeEnabled
        lookalikeSummaryService = PeriodicService(interval: .milliseconds(lookalikeConfiguration.summaryIntervalMillis)) {
            if seedsKept { _ = try? await summaryJob.run() }
        }
        if configuration.verify == .background {
            Self.verifyInBackground(repository: repository, engine: engine, metricsFactory: metricsFactory, logger: logger)
        }
    }

    /// Reads every stored record once, 50,000 per store-lock hold and bypassing the block cache,
    /// on a thread of its own, so a start does not wait for a read of the whole store and commits
    /// and queries go on meanwhile. Progress and the outcome are in `/v1/status` `verification`;
    /// damage is logged, fails `/readyz` with the command that rebuilds the state, and sets the
    /// gauge `recstream_state_damaged` to 1. Ends quietly when the store is closed first.
    static func verifyInBackground(repository: StateRepository, engine: StateEngine, metricsFactory: any MetricsFactory, logger: Logger) {
        let damaged = Gauge(label: "recstream_state_damaged", factory: metricsFactory)
        damaged.record(0)
        engine.lock.withLock { engine.state.verification = StateVerificationStatus(phase: .running) }
        let thread = Thread {
            let clock = ContinuousClock()
            let started = clock.now
            var next: [UInt8]? = []
            var records = 0
            while let from = next {
                do {
                    let chunk = try repository.verify(from: from, limit: 50_000)
                    records += chunk.records
                    next = chunk.next
                    engine.lock.withLock { engine.state.verification.records = records }
                } catch let error as StateRepository.CorruptionError {
                    logger.critical("\(error)")
                    damaged.record(1)
                    engine.lock.withLock {
                        engine.state.verification = StateVerificationStatus(
                            phase: .damaged, records: records, seconds: (clock.now - started).seconds, damage: error.description)
                    }
                    return
                } catch {
                    // The store was closed (the instance is stopping) or failed otherwise: the
                    // verification did not finish, and says so by staying in its running phase.
                    logger.info("state verification stopped", metadata: ["error": "\(error)", "records": "\(records)"])
                    return
                }
            }
            let seconds = (clock.now - started).seconds
            engine.lock.withLock {
                engine.state.verification = StateVerificationStatus(phase: .passed, records: records, seconds: seconds)
            }
            logger.info("state verified in the background", metadata: ["records": "\(records)", "seconds": "\(seconds)"])
        }
        thread.name = "recstream-verify"
        thread.start()
    }

    /// Refused records the dead-letter topic did not take, from the state store.
    public func undeliverable(limit: Int) async throws -> UndeliverableList {
        let repository = self.repository
        return try await onDedicatedThread(name: "recstream-undeliverable") {
            let (records, total) = try repository.undeliverable(limit: limit)
            return UndeliverableList(total: total, records: records)
        }
    }

    /// Runs the exact co-occurrence recompute now (admin API, tests).
    public func recompute() async throws -> RecomputeReport { try await recomputeJob.run() }

    /// Checkpoints go to `state.checkpoint_dir`, or `<state dir>.checkpoints`.
    public func checkpoint() async throws -> CheckpointReport {
        let directory = engine.configuration.checkpointDir ?? (stateDirectory + ".checkpoints")
        let repository = self.repository
        let configuration = engine.configuration
        return try await onDedicatedThread(name: "recstream-checkpoint") {
            try repository.checkpoint(
                under: directory, eventsTopic: configuration.eventsTopic, configuration: configuration.shardConfiguration)
        }
    }

    /// Closes the store; call after the ingest service has returned.
    public func close() { repository.close() }

    /// The canonical dump of the state committed in `stateDirectory` (the process owning it must
    /// have stopped): every shard's metadata and items, partitions ascending, then the co-occurrence
    /// state and the look-alike seed lists.
    public static func dumpCommittedState(stateDirectory: String, configuration: RecstreamConfiguration) throws -> [String] {
        let repository = try StateRepository(
            path: stateDirectory, syncWrites: false, eventsTopic: configuration.eventsTopic)
        defer { repository.close() }
        var lines: [String] = []
        for partition in try repository.partitions() {
            lines += try repository.loadShard(partition: partition, configuration: configuration.shardConfiguration).dumpLines()
        }
        for partition in try repository.partitions(stage: ShardKeys.itemsStage) {
            lines += try repository.loadShard(stage: ShardKeys.itemsStage, partition: partition, configuration: configuration.shardConfiguration)
                .dumpLines()
        }
        lines += try dumpCooccurrence(repository, configuration: try configuration.cooccurrence())
        lines += try repository.loadInstanceState(
            configuration: try configuration.cooccurrence(), lookalike: try configuration.lookalike()
        ).seedDumpLines()
        return lines
    }

    /// What repairing a poisoned clock changed in a state directory.
    public struct ClockRepairReport: Sendable, Codable {
        /// The latest event time the repair kept: the wall clock plus `ingest.max_future_ms`.
        public var limitMillis: Int64
        public var shards: [Shard.ClockRepair]
        /// The engagement state's watermark before and after, when it moved.
        public var engagementWatermarkMillis: Int64?
        public var repairedEngagementWatermarkMillis: Int64?
        public var written: Bool
    }

    /// Repairs a state directory that an earlier version let a far-future event poison: every
    /// shard (both stages) and the engagement state whose watermark is after `limit` is moved
    /// back to it (``Shard/repairClock(notAfter:)``), in one atomic commit. With `dryRun`, reports
    /// without writing. The process owning the directory must have stopped.
    public static func repairClock(
        stateDirectory: String, configuration: RecstreamConfiguration, limit: EventTime, dryRun: Bool
    ) throws -> ClockRepairReport {
        let repository = try StateRepository(
            path: stateDirectory, syncWrites: true, eventsTopic: configuration.eventsTopic,
            blockCacheBytes: configuration.blockCacheBytes, writeBufferBytes: configuration.writeBufferBytes)
        defer { repository.close() }
        var changes = StateChanges()
        var repairs: [Shard.ClockRepair] = []
        for stage in [ShardKeys.eventsStage, ShardKeys.itemsStage] {
            for partition in try repository.partitions(stage: stage) {
                var shard = try repository.loadShard(stage: stage, partition: partition, configuration: configuration.shardConfiguration)
                guard let repair = shard.repairClock(notAfter: limit) else { continue }
                repairs.append(repair)
                changes.append(shard.drainChanges())
            }
        }
        var instance = try repository.loadInstanceState(configuration: try configuration.cooccurrence(), lookalike: try configuration.lookalike())
        let engagement = instance.repairClock(notAfter: limit)
        if engagement != nil { changes.append(instance.drainChanges()) }
        let write = !dryRun && !changes.isEmpty
        if write { try repository.commit(changes) }
        return ClockRepairReport(
            limitMillis: limit.millis, shards: repairs, engagementWatermarkMillis: engagement?.millis,
            repairedEngagementWatermarkMillis: engagement.map { _ in limit.millis }, written: write)
    }

    /// Split mode: the group's merged state rebuilt from its changelog topics into a temporary
    /// directory, dumped like ``dumpCommittedState(stateDirectory:configuration:)``.
    public static func dumpFromChangelogs(configuration: RecstreamConfiguration, bootstrapServers: String) throws -> [String] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-changelog-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try restoreFromChangelogs(configuration: configuration, bootstrapServers: bootstrapServers, into: directory)
        return try dumpCommittedState(stateDirectory: directory, configuration: configuration)
    }

    /// What restoring a group's stores from their changelogs read and took.
    public struct ChangelogRestore: Sendable {
        public var stores = 0
        public var records = 0
        public var bytes = 0
        public var seconds = 0.0
    }

    /// Split mode: rebuilds every store of the group from its changelog partitions into the state
    /// directory `directory` (created if needed), as a new instance does on assignment.
    public static func restoreFromChangelogs(
        configuration: RecstreamConfiguration, bootstrapServers: String, into directory: String
    ) throws -> ChangelogRestore {
        let kafka = KafkaConfiguration(bootstrapServers: bootstrapServers, configuration.kafkaProperties)
        let admin = try KafkaAdmin(configuration: kafka)
        let repository = try StateRepository(path: directory, syncWrites: false, eventsTopic: configuration.eventsTopic)
        defer { repository.close() }
        let changelog = Changelog(producer: nil, offsets: Changelog.DeliveredOffsets(), kafka: kafka, logger: Logger(label: "recstream.restore"))
        var total = ChangelogRestore()
        let started = ContinuousClock.now
        for kind in [MovableStore.Kind.user, .item, .engagement] {
            let topic = configuration.changelogTopic(stage: kind.stageName)
            guard let partitions = try admin.partitionCount(of: topic, timeout: .seconds(30)) else {
                throw ForwardError(description: "changelog topic \(topic) does not exist (is the group running in split mode?)")
            }
            for partition in 0..<Int32(partitions) {
                let report = try changelog.restore(MovableStore(kind: kind, partition: partition, configuration: configuration), repository: repository)
                total.stores += 1
                total.records += report.records
                total.bytes += report.bytes
            }
        }
        total.seconds = (ContinuousClock.now - started).seconds
        return total
    }

    /// The co-occurrence part of the dump: LastN histories, and ItemCF/Swing computed exactly
    /// from the engagement log (the incremental values are approximations whose rounding depends
    /// on how partitions interleave, so they are not part of the canonical state). Every item's
    /// complete neighbour set is summarised as its size and an order-independent digest of its
    /// `neighbour:score` pairs (scores to 9 significant digits), so ties cannot reorder anything.
    static func dumpCooccurrence(_ repository: StateRepository, configuration: CooccurrenceConfiguration) throws -> [String] {
        let instance = try repository.loadInstanceState(configuration: configuration)
        var lines: [String] = []
        var users: [(String, String)] = []
        for index in 0..<Int32(instance.users.count) {
            let id = instance.users.string(of: index)
            let history = (instance.history(userID: id) ?? []).map { "\($0.itemID):\($0.type.name):\($0.time.millis)" }
            users.append((id, "history user=\(id) [\(history.joined(separator: " "))]"))
        }
        lines += users.sorted { $0.0 < $1.0 }.map(\.1)
        guard let watermark = instance.watermark else { return lines }
        let engagements = try repository.engagements(upTo: UInt64.max)
        let exact = ExactSimilarities.compute(
            engagements: engagements, window: CooccurrenceWindow(end: watermark, lengthMillis: configuration.windowMillis),
            configuration: configuration, keepingAllPairs: true)
        guard let pairs = exact.allPairs else { return lines }
        func summary(_ row: [Int32: Double]?) -> String {
            var digest: UInt64 = 0
            for (neighbour, score) in row ?? [:] {
                digest &+= MurmurHash3.hash128("\(instance.items.string(of: neighbour)):\(String(format: "%.9g", score))").low
            }
            return "n=\((row ?? [:]).count) digest=\(String(digest, radix: 16))"
        }
        var items: [(String, String)] = []
        for item in exact.items {
            let id = instance.items.string(of: item)
            items.append(
                (id, "similar item=\(id) degree=\(exact.degree(of: item)) itemcf{\(summary(pairs.itemCFScores[item]))} swing{\(summary(pairs.swing[item]))}"))
        }
        lines += items.sorted { $0.0 < $1.0 }.map(\.1)
        return lines
    }
}
