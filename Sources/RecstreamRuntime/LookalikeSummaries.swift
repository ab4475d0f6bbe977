import Foundation
import Logging
import Metrics
import RecstreamCore
import Synchronization

/// The look-alike side of a running instance: the seed lists live in ``InstanceState`` (updated by
/// ingest, committed with it); this holds what is derived from them and the served embedding model,
/// in memory only: the summaries of the last job run, the model version they were built with, and
/// the IVF index over the model's user vectors (rebuilt when the version changes). After a restart
/// the first job run rebuilds every summary.
///
/// Reads take the engine lock only to map ids and read seed counts, then score outside it.
public final class LookalikeEngine: LookalikeQueries, Sendable {
    let engine: StateEngine
    public let models: ServedModelSlot
    public let configuration: LookalikeConfiguration
    let derived = Mutex(Derived())

    /// What the summary job last built.
    struct Derived: Sendable {
        var summaries = SeedSummaries()
        /// The packed model version the summaries were built with; nil before the first run.
        var modelVersion: UInt64? = nil
        /// Wall-clock seconds of the last completed run.
        var builtAtSeconds: Double? = nil
        /// The IVF index over the user vectors of model `indexVersion`.
        var index: IVFIndex? = nil
        var indexVersion: UInt64? = nil
        /// Items past the gate whose last build found fewer seed vectors than the gate.
        var tooFewVectors = Set<Int32>()
    }

    public init(engine: StateEngine, models: ServedModelSlot, configuration: LookalikeConfiguration) {
        self.engine = engine
        self.models = models
        self.configuration = configuration
    }

    static func noModel() -> LookalikeQueryError {
        .noModel(
            "no embedding model is installed yet: look-alike scores and expansions need the user embeddings the embedding "
                + "job publishes; seeds are collected meanwhile (GET /v1/items/{id}/seeds)")
    }

    // MARK: Seeds

    public func seeds(itemID: String, limit: Int) -> ItemSeeds? {
        guard let found = engine.lock.withLock({ engine.state.instance.seeds(itemID: itemID, limit: limit) }) else {
            return nil
        }
        return ItemSeeds(
            itemID: itemID, seeds: found.seeds.map { ItemSeed(userID: $0.userID, timeMillis: $0.time.millis) },
            count: found.count, minimumSeeds: configuration.minimumSeeds, passesGate: found.passesGate)
    }

    // MARK: Score

    public func score(userID: String, itemIDs: [String]) throws(LookalikeQueryError) -> LookalikeScores {
        guard let served = models.load() else { throw Self.noModel() }
        guard itemIDs.count <= configuration.maximumScoredItems else {
            throw .invalid("\(itemIDs.count) items; the limit is \(configuration.maximumScoredItems) per request")
        }
        let (user, items, counts): (Int32?, [Int32], [Int]) = engine.lock.withLock {
            let instance = engine.state.instance
            let items = itemIDs.map { instance.items.lookup($0) ?? -1 }
            return (instance.users.lookup(userID), items, items.map { $0 < 0 ? 0 : instance.seeds.seedCount(of: $0) })
        }
        let version = served.version
        guard let user, let vector = served.model.users.vector(user) else {
            throw .notFound("user \(userID) has no vector in embedding model \(version)")
        }
        let snapshot = derived.withLock { $0 }
        let current = snapshot.modelVersion == EmbeddingUserVectors.packedVersion(version)
        var scorer = LookalikeScorer(configuration: configuration)
        var unit = vector
        guard Self.normalize(&unit) else {
            throw .notFound("user \(userID) has a zero vector in embedding model \(version)")
        }
        var answers: [LookalikeScores.ItemScore] = []
        answers.reserveCapacity(itemIDs.count)
        for i in itemIDs.indices {
            var answer = LookalikeScores.ItemScore(
                itemID: itemIDs[i], status: .belowMinimumSeeds, score: nil, seedCount: counts[i])
            if counts[i] >= configuration.minimumSeeds {
                if current, let summary = snapshot.summaries.summary(of: items[i]) {
                    if summary.dimension == unit.count {
                        answer.status = .scored
                        answer.score = scorer.score(unitUser: unit, summary: summary)
                    } else {
                        answer.status = .dimensionMismatch
                    }
                } else if current, snapshot.tooFewVectors.contains(items[i]) {
                    answer.status = .tooFewSeedVectors
                } else {
                    answer.status = .awaitingSummary
                }
            }
            answers.append(answer)
        }
        return LookalikeScores(userID: userID, modelVersion: version.description, items: answers)
    }

    static func normalize(_ v: inout [Float]) -> Bool {
        var n2: Float = 0
        for x in v { n2 += x * x }
        guard n2 > 0, n2.isFinite else { return false }
        let inv = 1 / n2.squareRoot()
        for j in v.indices { v[j] *= inv }
        return true
    }

    // MARK: Expand

    public func expand(_ request: ExpansionRequest) async throws(LookalikeQueryError) -> Expansion {
        guard let served = models.load() else { throw Self.noModel() }
        guard request.k >= 1 && request.k <= configuration.maximumExpansion else {
            throw .invalid("k must be 1...\(configuration.maximumExpansion), got \(request.k)")
        }
        let vectors = EmbeddingUserVectors(served.model)
        let packed = vectors.version
        let snapshot = derived.withLock { $0 }
        let configuration = self.configuration
        // The seeds (indices) and, for an item, the summary the job built for this model version.
        var seedUsers: [Int32] = []
        var unknown = 0
        var summary: SeedSummary? = nil
        if let itemID = request.itemID {
            let found: (item: Int32, users: [Int32], count: Int)? = engine.lock.withLock {
                let instance = engine.state.instance
                guard let item = instance.items.lookup(itemID) else { return nil }
                return (item, instance.seeds.seedUsers(of: item), instance.seeds.seedCount(of: item))
            }
            guard let found else { throw .notFound("item \(itemID) has no engagements on this instance") }
            guard found.count >= configuration.minimumSeeds else {
                throw .coldStart(
                    "item \(itemID) has \(found.count) seeds, below the cold-start gate of \(configuration.minimumSeeds)"
                )
            }
            seedUsers = found.users
            if snapshot.modelVersion == packed { summary = snapshot.summaries.summary(of: found.item) }
        } else if let ids = request.seedUserIDs {
            guard !ids.isEmpty else { throw .invalid("seeds must not be empty") }
            let indices: [Int32?] = engine.lock.withLock { ids.map { engine.state.instance.users.lookup($0) } }
            seedUsers = indices.compactMap { $0 }
            unknown = indices.count - seedUsers.count
        } else {
            throw .invalid("give either item or seeds")
        }
        // An item that passed the gate after the last run, or explicit seeds: summarised now.
        if summary == nil {
            summary = AudienceExpansion.summary(seedUsers: seedUsers, vectors: vectors, configuration: configuration)
        }
        guard let summary else {
            throw .notFound("none of the \(seedUsers.count) seeds has a vector in embedding model \(served.version)")
        }
        let seeds = Set(seedUsers)
        let k = request.k
        let index = snapshot.indexVersion == packed ? snapshot.index : nil
        let exact = request.exact || index == nil
        let result: (users: [ScoredUser], candidates: Int)
        do {
            result = try await onDedicatedThread(name: "recstream-lookalike-expand") {
                if !exact, let index {
                    var candidateCount = 0
                    let users = AudienceExpansion.expand(
                        summary: summary, seeds: seeds, k: k, vectors: vectors, configuration: configuration
                    ) { query in
                        let candidates = Self.candidates(index: index, query: query, seeds: seeds.count)
                        candidateCount = Set(candidates).count
                        return candidates
                    }
                    return (users, candidateCount)
                }
                let users = AudienceExpansion.expandExactly(
                    summary: summary, seeds: seeds, k: k, vectors: vectors, configuration: configuration)
                return (users, vectors.userCount)
            }
        } catch {
            throw .invalid("expansion failed: \(error)")
        }
        let ids: [String] = engine.lock.withLock {
            result.users.map { engine.state.instance.users.string(of: $0.user) }
        }
        return Expansion(
            itemID: request.itemID, modelVersion: served.version.description, method: exact ? "exact" : "ivf",
            seedsWithVectors: summary.vectorCount, unknownSeeds: unknown, candidates: result.candidates,
            users: zip(ids, result.users).map { ExpandedUser(userID: $0.0, score: $0.1.score) })
    }

    /// IVF candidates for an expansion: the users nearest the global embedding and each centre, from
    /// the index's default number of probed lists; `k + seeds` per query vector, so that seeds
    /// dropped afterwards still leave k.
    static func candidates(index: IVFIndex, query: ExpansionQuery, seeds: Int) -> [Int32] {
        let summary = query.summary
        let perQuery = query.k + seeds
        var out = index.search(summary.global, k: perQuery).map(\.item)
        for c in 0..<summary.clusterCount {
            out += index.search(summary.centre(c), k: perQuery).map(\.item)
        }
        return out
    }

    // MARK: Status

    /// Items with a summary, the model version they were built with, and the last run's time.
    public var summaryStatus: (summaries: Int, modelVersion: UInt64?, builtAtSeconds: Double?) {
        derived.withLock { ($0.summaries.count, $0.modelVersion, $0.builtAtSeconds) }
    }
}

/// What one summary job run did.
public struct LookalikeSummaryReport: Sendable, Hashable {
    /// The served model's version, nil when none is installed (the run then only refreshes metrics).
    public var modelVersion: String?
    /// Whether every item was rebuilt (new model version, or the first run since start).
    public var everyItem: Bool
    /// Items whose summary was rebuilt or removed.
    public var items: Int
    /// Items with a summary after the run.
    public var summaries: Int
    /// Items past the cold-start gate.
    public var itemsPastGate: Int
    /// Seeds dropped by expiry in this run.
    public var expiredSeeds: Int
    /// Whether the IVF index over user vectors was rebuilt.
    public var indexRebuilt: Bool
    /// Wall-clock seconds of the whole run, and of the summary building alone.
    public var seconds: Double
    public var buildSeconds: Double
}

/// The periodic look-alike summary job: under the engine lock, expire seeds and take the items whose
/// seeds changed since the last run (every item when the served model version changed); build their
/// summaries on a dedicated thread, off the ingest path; install them and clear the marks of the
/// items that did not change meanwhile. One caller at a time (the periodic service; tests and the
/// benchmark call it directly): the actor is reentrant while a run waits for its threads.
public actor LookalikeSummaryJob {
    let lookalike: LookalikeEngine
    let logger: Logger
    let duration: Timer
    let lastSuccess: Gauge
    let failures: Counter
    let rebuilt: Counter
    let seedUpdates: Counter
    let pastGate: Gauge
    let summaries: Gauge
    let seeds: Gauge
    private var reportedSeedUpdates: UInt64 = 0

    public init(lookalike: LookalikeEngine, metricsFactory: any MetricsFactory, logger: Logger) {
        self.lookalike = lookalike
        self.logger = logger
        let job = [("job", "lookalike_summaries")]
        duration = Timer(label: "recstream_job_duration_seconds", dimensions: job, factory: metricsFactory)
        lastSuccess = Gauge(
            label: "recstream_job_last_success_timestamp_seconds", dimensions: job, factory: metricsFactory)
        failures = Counter(label: "recstream_job_failures_total", dimensions: job, factory: metricsFactory)
        rebuilt = Counter(label: "recstream_lookalike_summaries_built_total", factory: metricsFactory)
        seedUpdates = Counter(label: "recstream_lookalike_seed_updates_total", factory: metricsFactory)
        pastGate = Gauge(label: "recstream_lookalike_items_past_gate", factory: metricsFactory)
        summaries = Gauge(label: "recstream_lookalike_summaries", factory: metricsFactory)
        seeds = Gauge(label: "recstream_lookalike_seeds", factory: metricsFactory)
    }

    /// One run (see the type). Without a model it only expires seeds and refreshes the metrics.
    @discardableResult
    public func run() async throws -> LookalikeSummaryReport {
        let started = ContinuousClock.now
        let engine = lookalike.engine
        let served = lookalike.models.load()
        let vectors = served.map { EmbeddingUserVectors($0.model) }
        let previous = lookalike.derived.withLock { (version: $0.modelVersion, indexVersion: $0.indexVersion) }
        let everyItem = vectors != nil && previous.version != vectors?.version
        let (batch, expired, counters, gate, totalSeeds): (SeedSummaryBatch?, Int, SeedListCounters, Int, Int) =
            engine.lock.withLock {
                let before = engine.state.instance.seeds.counters.expired
                var batch: SeedSummaryBatch? = nil
                if vectors != nil {
                    batch = engine.state.instance.takeSeedSummaryBatch(everyItem: everyItem)
                } else {
                    engine.state.instance.expireSeedsOnly()
                }
                let seeds = engine.state.instance.seeds
                var gate = 0
                for i in 0..<Int32(clamping: seeds.itemSlots) where seeds.passesGate(i) { gate += 1 }
                return (batch, Int(seeds.counters.expired - before), seeds.counters, gate, seeds.totalSeeds)
            }
        if counters.applied > reportedSeedUpdates {
            seedUpdates.increment(by: Int64(counters.applied - reportedSeedUpdates))
            reportedSeedUpdates = counters.applied
        }
        pastGate.record(gate)
        seeds.record(totalSeeds)
        guard let served, let vectors, let batch else {
            summaries.record(lookalike.summaryStatus.summaries)
            return LookalikeSummaryReport(
                modelVersion: nil, everyItem: false, items: 0, summaries: lookalike.summaryStatus.summaries,
                itemsPastGate: gate,
                expiredSeeds: expired, indexRebuilt: false, seconds: (ContinuousClock.now - started).seconds,
                buildSeconds: 0)
        }
        do {
            let builder = SeedSummaryBuilder(configuration: lookalike.configuration)
            let buildStarted = ContinuousClock.now
            let outcomes = try await onDedicatedThread(name: "recstream-lookalike-summaries") {
                builder.run(batch, vectors: vectors)
            }
            let buildSeconds = (ContinuousClock.now - buildStarted).seconds
            let index: IVFIndex? =
                previous.indexVersion == vectors.version
                ? nil
                : try await onDedicatedThread(name: "recstream-lookalike-index") {
                    IVFIndex(items: served.model.users, configuration: served.model.configuration)
                }
            let now = Date().timeIntervalSince1970
            let count = lookalike.derived.withLock { derived in
                if everyItem {
                    derived.summaries = SeedSummaries()
                    derived.tooFewVectors = []
                }
                derived.summaries.apply(outcomes)
                for (task, outcome) in zip(batch.tasks, outcomes) {
                    if outcome.summary == nil && task.users.count >= lookalike.configuration.minimumSeeds {
                        derived.tooFewVectors.insert(outcome.item)
                    } else {
                        derived.tooFewVectors.remove(outcome.item)
                    }
                }
                derived.modelVersion = vectors.version
                derived.builtAtSeconds = now
                if let index {
                    derived.index = index
                    derived.indexVersion = vectors.version
                }
                return derived.summaries.count
            }
            engine.lock.withLock { engine.state.instance.completeSeedSummaryBatch(batch) }
            let elapsed = (ContinuousClock.now - started).seconds
            duration.recordNanoseconds(Int64(elapsed * 1e9))
            lastSuccess.record(now)
            rebuilt.increment(by: Int64(outcomes.count))
            summaries.record(count)
            let report = LookalikeSummaryReport(
                modelVersion: served.version.description, everyItem: everyItem, items: outcomes.count, summaries: count,
                itemsPastGate: gate, expiredSeeds: expired, indexRebuilt: index != nil, seconds: elapsed,
                buildSeconds: buildSeconds)
            if report.items > 0 || report.indexRebuilt {
                logger.info(
                    "look-alike summaries",
                    metadata: [
                        "model": "\(served.version)", "items": "\(report.items)", "summaries": "\(count)",
                        "every_item": "\(everyItem)", "index_rebuilt": "\(report.indexRebuilt)",
                        "seconds": "\(String(format: "%.3f", elapsed))",
                    ])
            }
            return report
        } catch {
            failures.increment()
            logger.error("look-alike summary job failed", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
