/// The look-alike read side the query API needs; the runtime implements it over the seed lists in
/// the instance state, the summaries its job builds and the served embedding model.
public protocol LookalikeQueries: Sendable {
    /// The seeds of `itemID`, newest first, at most `limit`; nil when the instance has never seen
    /// an engagement of the item.
    func seeds(itemID: String, limit: Int) -> ItemSeeds?
    /// The look-alike score of `userID` for each of `itemIDs`, in order.
    /// - Throws: ``LookalikeQueryError``: no model installed, or the user has no vector.
    func score(userID: String, itemIDs: [String]) throws(LookalikeQueryError) -> LookalikeScores
    /// The top `k` users, not seeds, that look like the seeds of an item or of an explicit list.
    /// - Throws: ``LookalikeQueryError``.
    func expand(_ request: ExpansionRequest) async throws(LookalikeQueryError) -> Expansion
}

/// Why a look-alike query has no answer; the API renders each as its own status.
public enum LookalikeQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// No embedding model is installed (503).
    case noModel(String)
    /// An unknown user, item or one without what the query needs (404).
    case notFound(String)
    /// The item is below the cold-start gate (409).
    case coldStart(String)
    /// The request cannot be answered as given (400).
    case invalid(String)

    public var description: String {
        switch self {
        case .noModel(let m), .notFound(let m), .coldStart(let m), .invalid(let m): m
        }
    }
}

/// An item's seed list as the API shows it.
public struct ItemSeeds: Sendable, Hashable {
    public var itemID: String
    /// Newest first: user id and the time of their latest engagement.
    public var seeds: [ItemSeed]
    /// Seeds held (may exceed `seeds.count` when a limit applied).
    public var count: Int
    public var minimumSeeds: Int
    /// Whether the item passes the cold-start gate (count >= minimumSeeds).
    public var passesGate: Bool

    public init(itemID: String, seeds: [ItemSeed], count: Int, minimumSeeds: Int, passesGate: Bool) {
        self.itemID = itemID
        self.seeds = seeds
        self.count = count
        self.minimumSeeds = minimumSeeds
        self.passesGate = passesGate
    }
}

/// One seed: a user and the event time of their latest engagement with the item.
public struct ItemSeed: Sendable, Hashable {
    public var userID: String
    public var timeMillis: Int64

    public init(userID: String, timeMillis: Int64) {
        self.userID = userID
        self.timeMillis = timeMillis
    }
}

/// The answer of a score request: one entry per requested item, in order.
public struct LookalikeScores: Sendable {
    public var userID: String
    /// The served model version, `major.minor`.
    public var modelVersion: String
    public var items: [ItemScore]

    public init(userID: String, modelVersion: String, items: [ItemScore]) {
        self.userID = userID
        self.modelVersion = modelVersion
        self.items = items
    }

    /// One item's answer: a score when ``status`` is ``LookalikeStatus/scored``.
    public struct ItemScore: Sendable {
        public var itemID: String
        public var status: LookalikeStatus
        public var score: Float?
        public var seedCount: Int

        public init(itemID: String, status: LookalikeStatus, score: Float?, seedCount: Int) {
            self.itemID = itemID
            self.status = status
            self.score = score
            self.seedCount = seedCount
        }
    }
}

/// An audience-expansion request: the seeds of `itemID`, or the explicit `seedUserIDs`.
public struct ExpansionRequest: Sendable, Hashable {
    public var itemID: String?
    public var seedUserIDs: [String]?
    public var k: Int
    /// Brute force over every user instead of the IVF index.
    public var exact: Bool

    public init(itemID: String?, seedUserIDs: [String]?, k: Int, exact: Bool) {
        self.itemID = itemID
        self.seedUserIDs = seedUserIDs
        self.k = k
        self.exact = exact
    }
}

/// The answer of an expansion: the best users, best first.
public struct Expansion: Sendable {
    public var itemID: String?
    public var modelVersion: String
    /// `ivf` or `exact`.
    public var method: String
    /// Seeds the summary was built from (those with a vector).
    public var seedsWithVectors: Int
    /// Explicit seed ids the instance does not know (ignored).
    public var unknownSeeds: Int
    /// Users re-scored exactly (every user for `exact`).
    public var candidates: Int
    public var users: [ExpandedUser]

    public init(
        itemID: String?, modelVersion: String, method: String, seedsWithVectors: Int, unknownSeeds: Int,
        candidates: Int,
        users: [ExpandedUser]
    ) {
        self.itemID = itemID
        self.modelVersion = modelVersion
        self.method = method
        self.seedsWithVectors = seedsWithVectors
        self.unknownSeeds = unknownSeeds
        self.candidates = candidates
        self.users = users
    }
}

/// A user proposed by an expansion and their look-alike score.
public struct ExpandedUser: Sendable, Hashable {
    public var userID: String
    public var score: Float

    public init(userID: String, score: Float) {
        self.userID = userID
        self.score = score
    }
}
