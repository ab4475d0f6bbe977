import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamStorage
import RecstreamTraining
import ServiceLifecycle
import Synchronization

extension StateRepository {
    /// The engagements of every committed log chunk with commit sequence above `sequence`, and
    /// the highest sequence read (`sequence` when there is none). The scan reads one RocksDB
    /// snapshot and a commit writes its chunks in one batch, so every chunk up to the returned
    /// position is in the result: the next call with it misses nothing and repeats nothing.
    func engagements(after sequence: UInt64) throws -> (engagements: [Engagement], position: UInt64) {
        var engagements: [Engagement] = []
        var position = sequence
        var failure: (any Error)? = nil
        try store.scan(prefix: [InstanceState.marker, InstanceState.logKind]) { key, value in
            guard let chunkSequence = InstanceState.logChunkSequence(Array(key)) else {
                failure = StateDecodingError("malformed engagement-log key")
                return false
            }
            guard chunkSequence > sequence else { return true }
            do {
                engagements.append(contentsOf: try EngagementLogChunk.decode(Array(value)).engagements)
                position = max(position, chunkSequence)
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return (engagements, position)
    }
}

/// Progress of a training job, after every mini-batch (the CLI draws its bar from it).
public struct TrainingProgress: Sendable {
    public var kind: EmbeddingModelKind
    public var batchesApplied: Int
    public var totalBatches: Int
    public var examples: Int
    /// Mean loss per positive over the last 50 batches.
    public var recentLoss: Double
    public var examplesPerSecond: Double
}

/// Set once to stop a running training job at its next batch (shutdown).
final class StopSignal: Sendable {
    private let flag = Atomic<Bool>(false)
    func request() { flag.store(true, ordering: .relaxed) }
    var isRequested: Bool { flag.load(ordering: .relaxed) }
}

/// The embedding training jobs and model publishing of one instance: reads the committed
/// engagement log (never blocking ingest: a RocksDB snapshot scan on its own thread), trains a
/// full refresh or an incremental update on `settings.threads` threads, publishes the version
/// to the ``ModelStore`` and serves it through the ``ServedModelSlot`` with a new IVF index.
/// Jobs are serialized: a request while one runs waits for it.
public actor EmbeddingJobs {
    let repository: StateRepository
    public nonisolated let slot: ServedModelSlot
    public nonisolated let store: ModelStore
    public nonisolated let settings: EmbeddingSettings
    let logger: Logger
    nonisolated let stop = StopSignal()
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    private let fullDuration: Timer
    private let fullSuccess: Gauge
    private let fullFailures: Counter
    private let incrementalDuration: Timer
    private let incrementalSuccess: Gauge
    private let incrementalFailures: Counter
    private let versionMajor: Gauge
    private let versionMinor: Gauge
    private let notServedBelowMinimum: Counter
    private let notServedRegression: Counter

    init(
        repository: StateRepository, slot: ServedModelSlot, directory: String, settings: EmbeddingSettings,
        metricsFactory: any MetricsFactory, logger: Logger
    ) {
        self.repository = repository
        self.slot = slot
        self.store = ModelStore(directory: directory)
        self.settings = settings
        self.logger = logger
        func job(_ name: String) -> [(String, String)] { [("job", name)] }
        fullDuration = Timer(label: "recstream_job_duration_seconds", dimensions: job("embedding_full"), factory: metricsFactory)
        fullSuccess = Gauge(
            label: "recstream_job_last_success_timestamp_seconds", dimensions: job("embedding_full"), factory: metricsFactory)
        fullFailures = Counter(label: "recstream_job_failures_total", dimensions: job("embedding_full"), factory: metricsFactory)
        incrementalDuration = Timer(
            label: "recstream_job_duration_seconds", dimensions: job("embedding_incremental"), factory: metricsFactory)
        incrementalSuccess = Gauge(
            label: "recstream_job_last_success_timestamp_seconds", dimensions: job("embedding_incremental"),
            factory: metricsFactory)
        incrementalFailures = Counter(
            label: "recstream_job_failures_total", dimensions: job("embedding_incremental"), factory: metricsFactory)
        versionMajor = Gauge(label: "recstream_model_version", dimensions: [("part", "major")], factory: metricsFactory)
        versionMinor = Gauge(label: "recstream_model_version", dimensions: [("part", "minor")], factory: metricsFactory)
        notServedBelowMinimum = Counter(
            label: "recstream_model_not_served_total", dimensions: [("reason", "min_examples")], factory: metricsFactory)
        notServedRegression = Counter(
            label: "recstream_model_not_served_total", dimensions: [("reason", "regression")], factory: metricsFactory)
    }

    /// Cleans what an interrupted publish left and serves the `CURRENT` version (or the newest
    /// intact one when it is damaged). Call once at start, before serving.
    nonisolated func loadAtStart() throws {
        let removed = try store.recover()
        if !removed.isEmpty {
            logger.warning("removed incomplete model versions left by an interrupted publish", metadata: ["removed": "\(removed)"])
        }
        let (model, problems) = store.loadServable()
        for problem in problems { logger.error("embedding model not served", metadata: ["reason": "\(problem)"]) }
        if let model {
            install(model)
            logger.info("serving embedding model", metadata: ["version": "\(model.metadata.version)"])
        }
    }

    /// Serves `model`; `retriever` is its index when already built (otherwise it is read from the
    /// model's file when mapped, or built here).
    private nonisolated func install(_ model: EmbeddingModel, retriever: EmbeddingRetriever? = nil) {
        slot.install(ServedModel(model: model, retriever: retriever ?? EmbeddingRetriever(model: model)))
        versionMajor.record(Int64(model.metadata.version.major))
        versionMinor.record(Int64(model.metadata.version.minor))
    }

    private func acquire() async {
        if busy {
            await withCheckedContinuation { waiters.append($0) }
        } else {
            busy = true
        }
    }

    private func release() {
        if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
    }

    /// Why a job did not finish.
    public struct Stopped: Error, CustomStringConvertible {
        public var description: String { "training stopped: the process is shutting down" }
    }

    private let ownershipCheck = Mutex<@Sendable () -> Bool>({ true })

    /// Split mode: jobs run only while this instance owns the engagement stage (its log is the
    /// group's); `check` says whether it does.
    public nonisolated func setOwnershipCheck(_ check: @escaping @Sendable () -> Bool) { ownershipCheck.withLock { $0 = check } }

    /// The instance does not own the engagement stage (split mode), so its log is not the group's.
    public struct NotOwner: Error, CustomStringConvertible {
        public var description: String {
            "this instance does not own the engagement stage (split mode): training runs on the instance that owns it (see /v1/status)"
        }
    }

    /// Trains and publishes a new version, and serves it unless the ``PublishGate`` holds it back.
    /// - Full refresh: from the newest full model on disk that was not held back, over the log's
    ///   last `windowMillis` of event time; publishes the next major.
    /// - Incremental: from the served model (an empty one on a cold start), over the log chunks
    ///   committed after its log position; publishes the next minor. Nothing new: no publish.
    /// - Gate: fewer training examples than `minExamples` (a full refresh, or an incremental update
    ///   with no model served): no publish. Held-out recall@50 more than `maxRegression` below the
    ///   served model's: the version is written, not served, unless `force`.
    /// - Throws: storage, training, publishing errors (the served model stays), or ``Stopped``.
    public func train(
        kind: EmbeddingModelKind, force: Bool = false, progress: (@Sendable (TrainingProgress) -> Void)? = nil
    ) async throws -> TrainingReport {
        guard ownershipCheck.withLock({ $0 })() else { throw NotOwner() }
        await acquire()
        defer { release() }
        let started = ContinuousClock.now
        do {
            let report = try await runJob(kind: kind, force: force, progress: progress ?? Self.loggingProgress(logger))
            let elapsed = ContinuousClock.now - started
            let nanos = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
            (kind == .full ? fullDuration : incrementalDuration).recordNanoseconds(nanos)
            (kind == .full ? fullSuccess : incrementalSuccess).record(Date().timeIntervalSince1970)
            return report
        } catch {
            (kind == .full ? fullFailures : incrementalFailures).increment()
            logger.error("embedding \(kind) training failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Without a caller's progress bar, a log line every 10 s of training (long jobs show progress).
    private static func loggingProgress(_ logger: Logger) -> @Sendable (TrainingProgress) -> Void {
        let last = Mutex(ContinuousClock.now)
        return { p in
            let due = last.withLock { last in
                guard ContinuousClock.now - last >= .seconds(10) else { return false }
                last = ContinuousClock.now
                return true
            }
            guard due else { return }
            logger.info(
                "embedding training",
                metadata: [
                    "kind": "\(p.kind)", "batches": "\(p.batchesApplied)/\(p.totalBatches)",
                    "loss": "\(String(format: "%.4f", p.recentLoss))", "examples_per_second": "\(Int(p.examplesPerSecond))",
                ])
        }
    }

    private func runJob(
        kind: EmbeddingModelKind, force: Bool, progress: (@Sendable (TrainingProgress) -> Void)?
    ) async throws -> TrainingReport {
        let repository = self.repository
        let store = self.store
        let settings = self.settings
        let stop = self.stop
        let gate = PublishGate(settings: settings)
        let servedNow = slot.load()
        let readClock = ContinuousClock.now
        let run: EmbeddingTrainingRun
        let heldOut: HeldOutEngagements
        let engagementsRead: Int
        switch kind {
        case .full:
            let logger = self.logger
            (run, heldOut, engagementsRead) = try await onDedicatedThread(name: "recstream-embedding-read") {
                var parent: EmbeddingModel? = nil
                if let version = store.newestFull() {
                    do { parent = try store.load(version) } catch {
                        logger.error("previous full model unusable; the full refresh starts from nothing", metadata: ["error": "\(error)"])
                    }
                }
                if let p = parent, p.dimension != settings.model.dimension {
                    logger.warning(
                        "embedding.dimension changed; the full refresh starts from nothing",
                        metadata: ["previous": "\(p.dimension)", "now": "\(settings.model.dimension)"])
                    parent = nil
                }
                let (engagements, position) = try repository.engagements(after: 0)
                let end = engagements.reduce(parent?.metadata.trainedThrough.millis ?? 0) { max($0, $1.time.millis) }
                let window = CooccurrenceWindow(end: EventTime(millis: end), lengthMillis: settings.windowMillis)
                let run = try EmbeddingTrainingRun.fullRefresh(
                    parent: parent, engagements: engagements, window: window, configuration: settings.model,
                    logPosition: position, holdout: .standard)
                let heldOut = HeldOutEngagements(
                    recent: engagements.lazy.filter { window.contains($0.time) }, split: .standard,
                    weights: settings.model.weights, maxPairs: PublishGate.maxPairs)
                return (run, heldOut, engagements.count)
            }
        case .incremental:
            let served = servedNow?.model ?? EmbeddingModel(configuration: settings.model)
            let since = served.metadata.logPosition
            let (engagements, position) = try await onDedicatedThread(name: "recstream-embedding-read") {
                try repository.engagements(after: since)
            }
            engagementsRead = engagements.count
            guard !engagements.isEmpty else {
                return TrainingReport(
                    kind: kind.description, published: false, served: false, examples: 0, manifest: nil, engagementsRead: 0,
                    readSeconds: (ContinuousClock.now - readClock).seconds, trainSeconds: 0, publishSeconds: 0,
                    examplesPerSecond: 0, message: "no engagement committed since model \(served.metadata.version); nothing published")
            }
            (run, heldOut) = try await onDedicatedThread(name: "recstream-embedding-prepare") {
                let run = try EmbeddingTrainingRun.incremental(
                    served: served, engagements: engagements, configuration: settings.model, logPosition: position,
                    holdout: .standard)
                let heldOut = HeldOutEngagements(
                    recent: engagements, split: .standard, weights: settings.model.weights, maxPairs: PublishGate.maxPairs)
                return (run, heldOut)
            }
        }
        let readSeconds = (ContinuousClock.now - readClock).seconds
        if let refusal = gate.refusal(kind: kind, examples: run.exampleCount, served: servedNow?.version) {
            notServedBelowMinimum.increment()
            logger.warning("embedding model not published", metadata: ["kind": "\(kind)", "reason": "\(refusal)"])
            return TrainingReport(
                kind: kind.description, published: false, served: false, examples: run.exampleCount, manifest: nil,
                engagementsRead: engagementsRead, readSeconds: readSeconds, trainSeconds: 0, publishSeconds: 0,
                examplesPerSecond: 0, message: refusal)
        }
        let trainClock = ContinuousClock.now
        let threads = settings.threads
        let trainedRun = run
        let (model, finished) = try await onDedicatedThread(name: "recstream-embedding-train") {
            var run = trainedRun
            var recent: [(Double, Int)] = []
            let clock = ContinuousClock.now
            var examples = 0
            let finished = ParallelEmbeddingTrainer.train(&run, threads: threads) { step in
                examples += step.examples
                recent.append((step.loss, step.examples))
                if recent.count > 50 { recent.removeFirst() }
                if let progress {
                    let seconds = max((ContinuousClock.now - clock).seconds, 1e-9)
                    let n = recent.reduce(0) { $0 + $1.1 }
                    progress(
                        TrainingProgress(
                            kind: kind, batchesApplied: step.batchesApplied, totalBatches: step.totalBatches,
                            examples: examples, recentLoss: recent.reduce(0) { $0 + $1.0 } / Double(max(n, 1)),
                            examplesPerSecond: Double(examples) / seconds))
                }
                return !stop.isRequested
            }
            return (run.isFinished ? run.finish() : nil, finished || run.isFinished)
        }
        guard finished, let model else { throw Stopped() }
        let trainSeconds = (ContinuousClock.now - trainClock).seconds
        let publishClock = ContinuousClock.now
        let numbered = model.renumbered(store.nextVersion(for: model))
        // Both models scored on the same held-out pairs, neither trained on them.
        let (retriever, evaluation) = try await onDedicatedThread(name: "recstream-embedding-evaluate") {
            let retriever = EmbeddingRetriever(model: numbered)
            let evaluation = ModelEvaluation(
                metric: PublishGate.metric, pairs: heldOut.pairCount, values: heldOut.recalls(retriever, k: PublishGate.k),
                served: servedNow.map { ($0.version.description, heldOut.recalls($0.retriever, k: PublishGate.k)) })
            return (retriever, evaluation)
        }
        // A full refresh retrains every vector without the held-out pairs; an incremental update
        // keeps its parent's (the served model's) vectors, and with them what the parent learnt.
        let servedExcludesHeldOut = servedNow.map { store.manifest($0.version.description)?.excludesHeldOut == true }
        let excludesHeldOut = kind == .full || (servedExcludesHeldOut ?? true)
        let verdict = gate.verdict(evaluation, servedExcludesHeldOut: servedExcludesHeldOut ?? true, force: force)
        // The file carries the evaluated index; the version is then served from its mapping, and
        // the heap copies trained and evaluated here are dropped when the job returns.
        let publication = try await onDedicatedThread(name: "recstream-embedding-publish") {
            try store.publish(
                numbered, index: retriever.index, trainSeconds: trainSeconds, evaluation: evaluation, gate: verdict,
                excludesHeldOut: excludesHeldOut)
        }
        let manifest = publication.manifest
        let version = numbered.metadata.version
        if let mapped = publication.model {
            install(mapped)
        } else {
            notServedRegression.increment()
        }
        let removed = store.applyRetention(
            keep: settings.keepVersions, served: verdict.isHeldBack ? servedNow?.version : version)
        let publishSeconds = (ContinuousClock.now - publishClock).seconds
        let m = numbered.metadata.metrics
        let rate = Double(m.examples * m.epochs) / max(trainSeconds, 1e-9)
        let metadata: Logger.Metadata = [
            "version": "\(version)", "kind": "\(kind)", "engagements": "\(m.engagementsUsed)",
            "examples": "\(m.examples)", "loss": "\(String(format: "%.4f", m.lastEpochLoss))",
            "train_seconds": "\(String(format: "%.2f", trainSeconds))", "removed": "\(removed)",
            "gate": "\(verdict.decision)", "gate_reason": "\(verdict.reason)",
        ]
        let message: String
        switch verdict.decision {
        case ModelGateVerdict.heldBack:
            message =
                "published \(version) but did not serve it (held back: \(verdict.reason)); "
                + (servedNow.map { "\($0.version) stays served; " } ?? "")
                + "serve it with `recstream admin rollback \(version)` or train again with --force"
            logger.warning("embedding model held back", metadata: metadata)
        case ModelGateVerdict.forced:
            message = "published and served \(version), forced past the gate: \(verdict.reason)"
            logger.notice("embedding model published past the gate (forced)", metadata: metadata)
        default:
            message = "published and served \(version) (\(verdict.reason))"
            logger.info("embedding model published", metadata: metadata)
        }
        return TrainingReport(
            kind: kind.description, published: true, served: !verdict.isHeldBack, examples: m.examples, manifest: manifest,
            engagementsRead: engagementsRead, readSeconds: readSeconds, trainSeconds: trainSeconds,
            publishSeconds: publishSeconds, examplesPerSecond: rate, message: message)
    }

    /// The published versions, newest first, each with whether it is served and, when not, why.
    public func models() -> ModelList {
        store.listing(served: slot.load()?.version)
    }

    /// Serves `version` from now on and points `CURRENT` at it.
    /// - Throws: ``EmbeddingQueryError/unknownVersion(_:)``, or ``ModelStore/Failure`` when it is damaged.
    public func rollback(to version: EmbeddingModelVersion) async throws -> ModelList {
        await acquire()
        defer { release() }
        guard store.versions().contains(where: { $0.version == version.description }) else {
            throw EmbeddingQueryError.unknownVersion("model \(version) is not published on this instance")
        }
        let store = self.store
        let (model, retriever) = try await onDedicatedThread(name: "recstream-embedding-load") {
            let model = try store.load(version)
            return (model, EmbeddingRetriever(model: model))
        }
        try store.switchCurrent(to: version)
        install(model, retriever: retriever)
        logger.notice("embedding model rolled back", metadata: ["version": "\(version)"])
        return models()
    }
}

/// Runs the embedding jobs on their schedule until shutdown: an incremental update every
/// `incrementalIntervalMillis` of wall-clock time, a full refresh daily at the configured minute
/// (UTC). A shutdown stops a running job at its next batch (nothing is published).
struct EmbeddingScheduleService: Service {
    let jobs: EmbeddingJobs

    func run() async throws {
        let settings = jobs.settings
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                if settings.incrementalIntervalMillis > 0 {
                    group.addTask {
                        await Self.loop(jobs: jobs, kind: .incremental) { _ in .milliseconds(settings.incrementalIntervalMillis) }
                    }
                }
                if let minute = settings.fullRefreshMinuteOfDay {
                    group.addTask {
                        await Self.loop(jobs: jobs, kind: .full) { now in Self.untilNext(minuteOfDay: minute, now: now) }
                    }
                }
                if settings.incrementalIntervalMillis <= 0 && settings.fullRefreshMinuteOfDay == nil {
                    // Nothing scheduled (jobs run only when asked): stay up until shutdown, since a
                    // service that returns early ends the whole service group.
                    group.addTask { try? await gracefulShutdown() }
                }
            }
        } onGracefulShutdown: {
            jobs.stop.request()
        }
    }

    static func loop(jobs: EmbeddingJobs, kind: EmbeddingModelKind, delay: @escaping @Sendable (Date) -> Duration) async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: delay(Date())) }
            } catch {
                return
            }
            guard !Task.isShuttingDownGracefully else { return }
            _ = try? await jobs.train(kind: kind)
        }
    }

    /// Wall-clock time from `now` to the next `minuteOfDay` (UTC), at least one second.
    static func untilNext(minuteOfDay: Int, now: Date) -> Duration {
        let seconds = now.timeIntervalSince1970
        let day = 86_400.0
        let target = (seconds / day).rounded(.down) * day + Double(minuteOfDay * 60)
        let next = target > seconds + 1 ? target : target + day
        return .milliseconds(Int64((next - seconds) * 1000))
    }
}
