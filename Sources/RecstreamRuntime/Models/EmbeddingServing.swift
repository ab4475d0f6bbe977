import CoreMetrics
import Foundation
import Logging
import RecstreamCore
import ServiceLifecycle

/// The embedding family as the query API sees it (``EmbeddingQueries``): retrieval and vectors
/// from the served model, ids mapped through the instance's interners, exposed items dropped by
/// the exposure filter; admin actions go to the jobs.
public final class EmbeddingServing: EmbeddingQueries, Sendable {
    let engine: StateEngine
    public let jobs: EmbeddingJobs

    init(engine: StateEngine, jobs: EmbeddingJobs) {
        self.engine = engine
        self.jobs = jobs
    }

    static let noModelReason =
        "no embedding model is served yet: the first incremental update publishes one (embedding.incremental_interval_ms "
        + "after start), or run `recstream train --mode full`"

    private func served() throws(EmbeddingQueryError) -> ServedModel {
        guard let served = jobs.slot.load() else { throw .noModel(Self.noModelReason) }
        return served
    }

    public func retrieve(userID: String, k: Int, probes: Int?) throws(EmbeddingQueryError) -> RetrievalResult {
        let served = try served()
        let user = engine.lock.withLock { engine.state.instance.users.lookup(userID) } ?? -1
        // Over-fetch, then drop exposed items; widen until k survive or nothing more comes back.
        var fetch = k * 2 + 16
        var dropped = 0
        while true {
            let retrieval = served.retriever.retrieve(user: user, k: fetch, probes: probes)
            let ids = itemIDs(retrieval.items.map(\.item))
            let exposed = engine.exposed(userID: userID, itemIDs: ids.map { $0 ?? "" })
            var kept: [RetrievedItem] = []
            dropped = 0
            for (i, scored) in retrieval.items.enumerated() {
                guard let id = ids[i] else { continue }
                if exposed[i] {
                    dropped += 1
                    continue
                }
                if kept.count < k { kept.append(RetrievedItem(itemID: id, score: scored.score)) }
            }
            if kept.count >= k || retrieval.items.count < fetch || fetch >= 8 * k + 256 {
                return RetrievalResult(
                    userID: userID, modelVersion: served.version.description, source: retrieval.source.description,
                    items: kept, exposedDropped: dropped)
            }
            fetch *= 2
        }
    }

    /// String ids of model item indices (nil for an index the interner does not hold).
    private func itemIDs(_ indices: [Int32]) -> [String?] {
        engine.lock.withLock {
            let items = engine.state.instance.items
            return indices.map { $0 >= 0 && Int($0) < items.count ? items.string(of: $0) : nil }
        }
    }

    public func userEmbedding(_ userID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody {
        let served = try served()
        guard let user = engine.lock.withLock({ engine.state.instance.users.lookup(userID) }) else {
            throw .notFound("user \(userID) has no engagements on this instance")
        }
        if let vector = served.model.users.vector(user) {
            return EmbeddingVectorBody(id: userID, modelVersion: served.version.description, source: "user-vector", vector: vector)
        }
        guard let query = served.model.queryVector(user: user) else {
            throw .notFound("user \(userID) has no vector in model \(served.version) (below the engagement threshold, no engaged item with a vector)")
        }
        return EmbeddingVectorBody(
            id: userID, modelVersion: served.version.description, source: query.source.description, vector: query.vector)
    }

    public func itemEmbedding(_ itemID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody {
        let served = try served()
        guard let item = engine.lock.withLock({ engine.state.instance.items.lookup(itemID) }),
            let vector = served.model.items.vector(item)
        else {
            throw .notFound("item \(itemID) has no vector in model \(served.version)")
        }
        return EmbeddingVectorBody(id: itemID, modelVersion: served.version.description, source: "item-vector", vector: vector)
    }

    public func models() async throws -> ModelList { await jobs.models() }

    public func train(kind: EmbeddingModelKind, force: Bool) async throws -> TrainingReport {
        try await jobs.train(kind: kind, force: force)
    }

    public func rollback(to version: EmbeddingModelVersion) async throws -> ModelList {
        try await jobs.rollback(to: version)
    }
}

extension Runtime {
    /// The embedding family of a runtime: jobs over `<state dir>/models`, the served model loaded
    /// from `CURRENT`, and their schedule; nil and an idle service when disabled.
    static func embeddingFamily(
        configuration: RecstreamConfiguration, engine: StateEngine, repository: StateRepository, slot: ServedModelSlot,
        stateDirectory: String, metricsFactory: any MetricsFactory, logger: Logger
    ) throws -> (EmbeddingServing?, any Service) {
        let settings = try configuration.embedding()
        guard settings.enabled else { return (nil, IdleService()) }
        let jobs = EmbeddingJobs(
            repository: repository, slot: slot,
            directory: (stateDirectory as NSString).appendingPathComponent("models"), settings: settings,
            metricsFactory: metricsFactory, logger: logger)
        try jobs.loadAtStart()
        return (EmbeddingServing(engine: engine, jobs: jobs), EmbeddingScheduleService(jobs: jobs))
    }
}

/// A service with nothing to do: returns at shutdown.
struct IdleService: Service {
    func run() async throws {
        try? await gracefulShutdown()
    }
}

extension Runtime {
    /// Trains and publishes one model on the state directory of a stopped instance (the
    /// `recstream train --state-dir` path): the same job the running instance schedules, reading
    /// the committed log and publishing into `<state dir>/models`, with the same publish gate
    /// against the version `CURRENT` names. The next `run` serves it unless the gate held it back.
    /// - Throws: storage errors (the directory is locked while an instance runs on it),
    ///   configuration, training or publishing errors.
    public static func trainEmbeddings(
        stateDirectory: String, configuration: RecstreamConfiguration, kind: EmbeddingModelKind, force: Bool = false,
        logger: Logger, progress: (@Sendable (TrainingProgress) -> Void)? = nil
    ) async throws -> TrainingReport {
        let repository = try StateRepository(
            path: stateDirectory, syncWrites: configuration.syncWrites, eventsTopic: configuration.eventsTopic)
        defer { repository.close() }
        let jobs = EmbeddingJobs(
            repository: repository, slot: ServedModelSlot(),
            directory: (stateDirectory as NSString).appendingPathComponent("models"), settings: try configuration.embedding(),
            metricsFactory: NOOPMetricsHandler.instance, logger: logger)
        try jobs.loadAtStart()
        return try await jobs.train(kind: kind, force: force, progress: progress)
    }
}
