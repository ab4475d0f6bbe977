/// What the query API asks of the embedding family; the runtime implements it. Ids are the
/// instance's string ids; the implementation maps them to the dense indices the model uses.
public protocol EmbeddingQueries: Sendable {
    /// The top `k` items for `userID` by the served model, items the user was already shown
    /// (exposure filter) dropped. `probes` overrides the configured nprobe.
    /// - Throws: ``EmbeddingQueryError/noModel(_:)`` before any model is served.
    func retrieve(userID: String, k: Int, probes: Int?) throws(EmbeddingQueryError) -> RetrievalResult
    /// The served model's vector of `userID` (or its fallback query vector).
    /// - Throws: ``EmbeddingQueryError``: no model, or the user has no vector.
    func userEmbedding(_ userID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody
    /// The served model's vector of `itemID`.
    /// - Throws: ``EmbeddingQueryError``: no model, or the item has no vector.
    func itemEmbedding(_ itemID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody
    /// Every published version on disk, newest first, with which one is served.
    func models() async throws -> ModelList
    /// Trains (full refresh or incremental update) and publishes a new version now, serving it
    /// unless the publish gate holds it back; `force` serves it even then.
    func train(kind: EmbeddingModelKind, force: Bool) async throws -> TrainingReport
    /// Serves `version` (published earlier and intact) from now on.
    /// - Throws: ``EmbeddingQueryError/unknownVersion(_:)`` or a checksum failure.
    func rollback(to version: EmbeddingModelVersion) async throws -> ModelList
}

/// Why an embedding query has no answer.
public enum EmbeddingQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No model is served yet (503).
    case noModel(String)
    /// The id has no vector in the served model (404).
    case notFound(String)
    /// No such published version (404).
    case unknownVersion(String)

    public var description: String {
        switch self {
        case .noModel(let m), .notFound(let m), .unknownVersion(let m): m
        }
    }
}

/// One retrieved item.
public struct RetrievedItem: Sendable, Codable, Hashable {
    public var itemID: String
    /// Cosine with the query vector (engagement count when `source` is popularity).
    public var score: Double

    public init(itemID: String, score: Double) {
        self.itemID = itemID
        self.score = score
    }
}

/// The answer of `POST /v1/retrieve`.
public struct RetrievalResult: Sendable, Codable, Hashable {
    public var userID: String
    /// The served model version, `major.minor`.
    public var modelVersion: String
    /// user-vector, engaged-items-mean or popularity.
    public var source: String
    public var items: [RetrievedItem]
    /// Candidates dropped because the user was already shown them.
    public var exposedDropped: Int

    public init(userID: String, modelVersion: String, source: String, items: [RetrievedItem], exposedDropped: Int) {
        self.userID = userID
        self.modelVersion = modelVersion
        self.source = source
        self.items = items
        self.exposedDropped = exposedDropped
    }
}

/// The answer of `GET /v1/users/{id}/embedding` and `GET /v1/items/{id}/embedding`.
public struct EmbeddingVectorBody: Sendable, Codable, Hashable {
    public var id: String
    public var modelVersion: String
    /// user-vector, engaged-items-mean (users below the threshold) or item-vector.
    public var source: String
    /// The raw vector (the unit query vector for engaged-items-mean).
    public var vector: [Float]

    public init(id: String, modelVersion: String, source: String, vector: [Float]) {
        self.id = id
        self.modelVersion = modelVersion
        self.source = source
        self.vector = vector
    }
}

/// A published model version as its `manifest.json` describes it.
public struct ModelManifest: Sendable, Codable, Hashable {
    public var version: String
    /// full or incremental.
    public var kind: String
    /// The version it started from (full: the previous full model; incremental: the served one).
    public var parent: String?
    /// The event-time window trained on: (start, end], milliseconds.
    public var windowStartMillis: Int64
    public var windowEndMillis: Int64
    public var trainedThroughMillis: Int64
    /// Engagement-log position (commit sequence) the model reflects.
    public var logPosition: UInt64
    public var dimension: Int
    public var usersWithVectors: Int
    public var itemsWithVectors: Int
    public var engagementsUsed: Int
    public var examples: Int
    public var epochs: Int
    public var firstEpochLoss: Double
    public var lastEpochLoss: Double
    public var trainedUsers: Int
    public var trainedItems: Int
    public var newUsers: Int
    public var newItems: Int
    public var evictedUsers: Int
    public var evictedItems: Int
    public var trainSeconds: Double
    /// `murmur3-x64-128:` and 32 hex digits, of the whole model.bin.
    public var checksum: String
    public var bytes: Int
    public var publishedAtMillis: Int64
    /// The publish gate's measurement (nil in manifests written before the gate existed).
    public var evaluation: ModelEvaluation?
    /// What the publish gate decided (nil in manifests written before the gate existed).
    public var gate: ModelGateVerdict?
    /// True when no model this one starts from since its lineage's last full refresh trained on
    /// the held-out pairs (a full refresh, or an incremental update of such a model, trained with
    /// the validation split). Only then is a new model compared against it: one trained before the
    /// split existed may have learnt the very pairs it would be scored on. Nil: written before.
    public var excludesHeldOut: Bool?
    /// Listings only (`GET /v1/admin/models`), never in manifest.json: whether it is served now.
    public var served: Bool?
    /// Listings only: `served`, or why not (held back by the gate and how to serve it anyway,
    /// replaced by a newer version, or an earlier one rolled back to).
    public var status: String?

    // Every field added to the manifest is optional: a manifest that does not decode makes its
    // version incomplete, and ``ModelStore/recover()`` deletes incomplete versions.

    public init(
        model: EmbeddingModel, trainSeconds: Double, checksum: String, bytes: Int, publishedAtMillis: Int64,
        evaluation: ModelEvaluation? = nil, gate: ModelGateVerdict? = nil, excludesHeldOut: Bool? = nil
    ) {
        let m = model.metadata
        version = m.version.description
        kind = m.kind.description
        parent = m.parent?.description
        windowStartMillis = m.window.end.millis - m.window.lengthMillis
        windowEndMillis = m.window.end.millis
        trainedThroughMillis = m.trainedThrough.millis
        logPosition = m.logPosition
        dimension = model.dimension
        usersWithVectors = model.users.vectorCount
        itemsWithVectors = model.items.vectorCount
        engagementsUsed = m.metrics.engagementsUsed
        examples = m.metrics.examples
        epochs = m.metrics.epochs
        firstEpochLoss = m.metrics.firstEpochLoss
        lastEpochLoss = m.metrics.lastEpochLoss
        trainedUsers = m.metrics.trainedUsers
        trainedItems = m.metrics.trainedItems
        newUsers = m.metrics.newUsers
        newItems = m.metrics.newItems
        evictedUsers = m.metrics.evictedUsers
        evictedItems = m.metrics.evictedItems
        self.trainSeconds = trainSeconds
        self.checksum = checksum
        self.bytes = bytes
        self.publishedAtMillis = publishedAtMillis
        self.evaluation = evaluation
        self.gate = gate
        self.excludesHeldOut = excludesHeldOut
    }
}

/// A new model and the served one scored on the same recent held-out engagements (pairs no model
/// of the instance trains on; docs/embeddings.md, "Publish gate").
public struct ModelEvaluation: Sendable, Codable, Hashable {
    /// The measure, `recall@50`: per test user |top 50 ∩ held-out items| / |held-out items|, averaged.
    public var metric: String
    /// Test users and held-out (user, item) pairs scored.
    public var users: Int
    public var pairs: Int
    /// This version's value.
    public var value: Double
    /// The version served when this one was trained and its value on the same pairs; nil when none was.
    public var servedVersion: String?
    public var servedValue: Double?
    /// The standard error of ``relativeChange``: the sample standard deviation of the per-user
    /// differences (this − served) over √users, divided by `servedValue`; nil with fewer than two
    /// users or no served value above 0.
    public var relativeChangeStandardError: Double?

    public init(
        metric: String, users: Int, pairs: Int, value: Double, servedVersion: String?, servedValue: Double?,
        relativeChangeStandardError: Double? = nil
    ) {
        self.metric = metric
        self.users = users
        self.pairs = pairs
        self.value = value
        self.servedVersion = servedVersion
        self.servedValue = servedValue
        self.relativeChangeStandardError = relativeChangeStandardError
    }

    /// The evaluation from per-user values: `values[u]` this model's, `served.values[u]` the served
    /// model's for the same user (same order, same count).
    /// - Important: Traps when the two lists differ in length.
    public init(metric: String, pairs: Int, values: [Double], served: (version: String, values: [Double])?) {
        let n = Double(max(values.count, 1))
        let mean = values.reduce(0, +) / n
        var servedMean: Double? = nil
        var error: Double? = nil
        if let served {
            precondition(served.values.count == values.count, "\(values.count) values against \(served.values.count) served")
            let s = served.values.reduce(0, +) / n
            servedMean = s
            if values.count >= 2 && s > 0 {
                let differences = zip(values, served.values).map { $0 - $1 }
                let d = differences.reduce(0, +) / n
                let variance = differences.reduce(0) { $0 + ($1 - d) * ($1 - d) } / (n - 1)
                error = (variance / n).squareRoot() / s
            }
        }
        self.init(
            metric: metric, users: values.count, pairs: pairs, value: mean, servedVersion: served?.version,
            servedValue: servedMean, relativeChangeStandardError: error)
    }

    /// (value − served) / served; nil without a served value above 0.
    public var relativeChange: Double? {
        guard let servedValue, servedValue > 0 else { return nil }
        return (value - servedValue) / servedValue
    }
}

/// What the publish gate decided for a version, persisted in its manifest.
public struct ModelGateVerdict: Sendable, Codable, Hashable {
    /// `served`, `held_back` (written, not served) or `forced` (served although the gate held it back).
    public var decision: String
    /// One sentence: the comparison and the threshold, or why there was none.
    public var reason: String

    public init(decision: String, reason: String) {
        self.decision = decision
        self.reason = reason
    }

    public static let served = "served"
    public static let heldBack = "held_back"
    public static let forced = "forced"

    public var isHeldBack: Bool { decision == Self.heldBack }
}

/// The answer of `GET /v1/admin/models` and of a rollback.
public struct ModelList: Sendable, Codable, Hashable {
    /// The version served now, nil before any.
    public var served: String?
    /// Published versions, newest first.
    public var models: [ModelManifest]

    public init(served: String?, models: [ModelManifest]) {
        self.served = served
        self.models = models
    }
}

/// What one training job did.
public struct TrainingReport: Sendable, Codable, Hashable {
    /// full or incremental.
    public var kind: String
    /// Whether a version was written: false when there was nothing to train on or too little
    /// (`embedding.min_examples`); `message` says which.
    public var published: Bool
    /// Whether the new version is served now: false when not published or held back by the
    /// publish gate (`manifest.gate` says why).
    public var served: Bool
    /// Training examples (distinct user–item positives) the run had; 0 when it did not start.
    public var examples: Int
    /// The version published (nil when not published).
    public var manifest: ModelManifest?
    /// Engagements read from the log.
    public var engagementsRead: Int
    /// Wall seconds: reading the log, training, publishing and building the index.
    public var readSeconds: Double
    public var trainSeconds: Double
    public var publishSeconds: Double
    /// Training examples per second (positives × epochs / training seconds).
    public var examplesPerSecond: Double
    public var message: String

    public init(
        kind: String, published: Bool, served: Bool, examples: Int, manifest: ModelManifest?, engagementsRead: Int,
        readSeconds: Double, trainSeconds: Double, publishSeconds: Double, examplesPerSecond: Double, message: String
    ) {
        self.kind = kind
        self.published = published
        self.served = served
        self.examples = examples
        self.manifest = manifest
        self.engagementsRead = engagementsRead
        self.readSeconds = readSeconds
        self.trainSeconds = trainSeconds
        self.publishSeconds = publishSeconds
        self.examplesPerSecond = examplesPerSecond
        self.message = message
    }
}
