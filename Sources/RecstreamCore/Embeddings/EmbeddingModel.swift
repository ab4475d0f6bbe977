/// A model version: `major.minor`. A full refresh publishes `(parent full major + 1).0`; an
/// incremental update publishes `served.major.(served.minor + 1)`. Ordered by (major, minor).
public struct EmbeddingModelVersion: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var major: UInt32
    public var minor: UInt32

    public init(major: UInt32, minor: UInt32) {
        self.major = major
        self.minor = minor
    }

    /// The version of an empty model, before any training.
    public static let initial = EmbeddingModelVersion(major: 0, minor: 0)

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor) < (b.major, b.minor) }

    public var description: String { "\(major).\(minor)" }
}

/// How a model was trained.
public enum EmbeddingModelKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Every embedding trained over the whole retained window, starting from the previous full model.
    case full = 0
    /// Users and new or recently engaged items trained on the engagements since the last publish,
    /// starting from the served model.
    case incremental = 1

    public var description: String {
        switch self {
        case .full: "full"
        case .incremental: "incremental"
        }
    }
}

/// What a training run read and did.
public struct EmbeddingTrainingMetrics: Hashable, Sendable {
    /// Engagements read (every type, before the window filter).
    public var engagementsRead = 0
    /// Engagements used (an engagement type, inside the window).
    public var engagementsUsed = 0
    /// Distinct (user, item) positives trained on.
    public var examples = 0
    public var epochs = 0
    public var batches = 0
    /// Mean loss per positive (weighted) over the first and the last epoch.
    public var firstEpochLoss = 0.0
    public var lastEpochLoss = 0.0
    /// Users and items whose vector the run updated.
    public var trainedUsers = 0
    public var trainedItems = 0
    /// Ids that got their own vector in this run.
    public var newUsers = 0
    public var newItems = 0
    /// Ids evicted (unseen for the eviction window).
    public var evictedUsers = 0
    public var evictedItems = 0

    public init() {}
}

/// Where a model comes from and what it covers.
public struct EmbeddingModelMetadata: Hashable, Sendable {
    public var version: EmbeddingModelVersion = .initial
    public var kind: EmbeddingModelKind = .full
    /// Full: the previous full model it started from. Incremental: the served model it started from.
    /// Nil for a model trained from nothing.
    public var parent: EmbeddingModelVersion? = nil
    /// The event-time window of the engagements trained on: (end − length, end].
    public var window = CooccurrenceWindow(end: EventTime(millis: 0), lengthMillis: 0)
    /// The latest event time the model reflects (the window end of the newest run in its lineage).
    public var trainedThrough = EventTime(millis: 0)
    /// The engagement-log position the model reflects, as the caller numbers it (for example the
    /// last commit sequence read); the next incremental update reads the log after it.
    public var logPosition: UInt64 = 0
    public var metrics = EmbeddingTrainingMetrics()

    public init() {}
}

/// User and item ID embeddings with their metadata: one immutable version of the model.
///
/// A user or item has its own vector once it has ``EmbeddingConfiguration/minEngagements``
/// engagements, and keeps it until it is evicted (unseen for
/// ``EmbeddingConfiguration/evictionWindowMillis``). Below the threshold:
/// - a user is served by the mean of the unit vectors of the items it engaged (kept per such user,
///   at most `minEngagements − 1` items), or, when none of them has a vector, by popularity;
/// - an item is not retrievable and is no candidate in training.
///
/// ``encode(index:)`` gives one self-checking blob laid out to be read in place (format 2, see
/// docs/embeddings.md); ``open(_:verifiesChecksum:)`` reads it in place from ``ModelBytes`` (the
/// runtime's read-only mapping of the file), ``decode(_:)`` into the heap; both refuse anything
/// else. A model read in place holds nothing per id in the heap and is read-only: training starts
/// from ``materialized()``.
///
/// Equality compares content (metadata, configuration, tables by id, fallback lists), whatever
/// the storage.
public struct EmbeddingModel: Sendable, Equatable {
    public internal(set) var metadata: EmbeddingModelMetadata
    /// The configuration it was trained with.
    public internal(set) var configuration: EmbeddingConfiguration
    public internal(set) var users: EmbeddingTable
    public internal(set) var items: EmbeddingTable
    /// Users below the threshold: the items they engaged, ascending (at most minEngagements − 1).
    /// Empty for a model read in place (its lists are in ``mapped``).
    var coldUserItems: [Int32: [Int32]] = [:]
    /// Set for a model read in place: its fallback lists and stored item index.
    private(set) var mapped: MappedModelParts? = nil

    /// A model with no ids, version 0.0 (kind full), for a cold start.
    /// - Important: Traps when `configuration.validate()` is not empty.
    public init(configuration: EmbeddingConfiguration) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid EmbeddingConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
        metadata = EmbeddingModelMetadata()
        users = EmbeddingTable(dimension: configuration.dimension)
        items = EmbeddingTable(dimension: configuration.dimension)
    }

    public var dimension: Int { configuration.dimension }

    /// A model read in place: `users` and `items` are mapped tables, `parts` the rest.
    init(
        metadata: EmbeddingModelMetadata, configuration: EmbeddingConfiguration, users: EmbeddingTable,
        items: EmbeddingTable, mapped parts: MappedModelParts
    ) {
        self.init(configuration: configuration)
        self.metadata = metadata
        self.users = users
        self.items = items
        mapped = parts
    }

    /// Whether the model is read in place from a model file (format 2) rather than held in the heap.
    public var isMapped: Bool { mapped != nil }

    /// The items a user below the threshold engaged (what the fallback averages), ascending.
    public func fallbackItems(user: Int32) -> [Int32] {
        if let m = mapped { return m.fallback.items(user: user) }
        return coldUserItems[user] ?? []
    }

    /// Users below the threshold with a fallback list.
    public var fallbackUserCount: Int { mapped?.fallback.userCount ?? coldUserItems.count }

    /// The fallback lists, by user ascending.
    var fallbackLists: [(user: Int32, items: [Int32])] {
        if let m = mapped { return (0..<m.fallback.userCount).map { (m.fallback.user($0), m.fallback.items(at: $0)) } }
        return coldUserItems.keys.sorted().map { ($0, coldUserItems[$0] ?? []) }
    }

    /// The same model in the heap, mutable (what a training run starts from); `self` when already
    /// in the heap. Cost: the heap model's bytes (``approximateBytes`` of the copy), O(ids + rows · d).
    public func materialized() -> EmbeddingModel {
        guard mapped != nil else { return self }
        var out = EmbeddingModel(configuration: configuration)
        out.metadata = metadata
        out.users = users.materialized()
        out.items = items.materialized()
        for (user, list) in fallbackLists { out.coldUserItems[user] = list }
        return out
    }

    public static func == (a: EmbeddingModel, b: EmbeddingModel) -> Bool {
        guard a.metadata == b.metadata, a.configuration == b.configuration, a.users == b.users, a.items == b.items
        else { return false }
        let fa = a.fallbackLists
        let fb = b.fallbackLists
        return fa.count == fb.count && zip(fa, fb).allSatisfy { $0.user == $1.user && $0.items == $1.items }
    }

    /// The unit query vector for `user` and where it comes from: the user's own vector, else the
    /// normalised mean of the unit vectors of its engaged items that have one; nil when neither
    /// exists (serve by popularity).
    public func queryVector(user: Int32) -> (vector: [Float], source: EmbeddingQuerySource)? {
        if let own = users.unitVector(user) { return (own, .userVector) }
        let engaged = fallbackItems(user: user).compactMap { items.unitVector($0) }
        guard !engaged.isEmpty else { return nil }
        var mean = [Float](repeating: 0, count: dimension)
        for v in engaged { for k in 0..<dimension { mean[k] += v[k] } }
        let n2 = mean.reduce(Float(0)) { $0 + $1 * $1 }
        guard n2 > 0 else { return nil }
        let inv = 1 / n2.squareRoot()
        return (mean.map { $0 * inv }, .engagedItemsMean)
    }

    /// The cosine similarity of `user`'s query vector and `item`'s vector, or nil.
    public func score(user: Int32, item: Int32) -> Float? {
        guard let q = queryVector(user: user), let v = items.unitVector(item) else { return nil }
        var s: Float = 0
        for k in 0..<dimension { s += q.vector[k] * v[k] }
        return s
    }

    /// Bytes held in the heap by the tables and the fallback lists (0 per id for a model read in
    /// place: its tables and lists are in the mapped file).
    public var approximateBytes: Int {
        users.approximateBytes + items.approximateBytes + coldUserItems.reduce(0) { $0 + 40 + $1.value.count * 4 }
    }
}

/// Where a retrieval's query vector came from.
public enum EmbeddingQuerySource: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// The user's own trained vector.
    case userVector = 0
    /// The mean of the user's engaged items' vectors (user below the engagement threshold).
    case engagedItemsMean = 1
    /// No vector: the most engaged items.
    case popularity = 2

    public var description: String {
        switch self {
        case .userVector: "user-vector"
        case .engagedItemsMean: "engaged-items-mean"
        case .popularity: "popularity"
        }
    }
}
