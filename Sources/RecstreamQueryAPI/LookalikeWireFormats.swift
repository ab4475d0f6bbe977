import RecstreamCore

/// `GET /v1/items/{id}/seeds` response (Schemas/openapi.yaml, ItemSeeds).
struct SeedsBody: Encodable, Sendable {
    struct Seed: Encodable, Sendable {
        var userID: String
        var timeMillis: Int64

        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case timeMillis = "time_ms"
        }
    }

    var itemID: String
    var count: Int
    var minimumSeeds: Int
    var passesGate: Bool
    var seeds: [Seed]

    enum CodingKeys: String, CodingKey {
        case itemID = "item_id"
        case count
        case minimumSeeds = "minimum_seeds"
        case passesGate = "passes_gate"
        case seeds
    }

    init(_ seeds: ItemSeeds) {
        itemID = seeds.itemID
        count = seeds.count
        minimumSeeds = seeds.minimumSeeds
        passesGate = seeds.passesGate
        self.seeds = seeds.seeds.map { Seed(userID: $0.userID, timeMillis: $0.timeMillis) }
    }
}

/// `POST /v1/lookalike/score` request.
struct LookalikeScoreRequest: Decodable, Sendable {
    var user: String
    var items: [String]
}

/// `POST /v1/lookalike/score` response: `items` aligned with the request; `score` only when
/// `status` is `scored`, `cold_start` when the item is below the gate or too few of its seeds have vectors.
struct LookalikeScoresBody: Encodable, Sendable {
    struct Item: Encodable, Sendable {
        var itemID: String
        var status: String
        var score: Float?
        var seedCount: Int
        var coldStart: Bool

        enum CodingKeys: String, CodingKey {
            case itemID = "item_id"
            case status
            case score
            case seedCount = "seed_count"
            case coldStart = "cold_start"
        }
    }

    var user: String
    var modelVersion: String
    var items: [Item]

    enum CodingKeys: String, CodingKey {
        case user
        case modelVersion = "model_version"
        case items
    }

    init(_ scores: LookalikeScores) {
        user = scores.userID
        modelVersion = scores.modelVersion
        items = scores.items.map {
            Item(
                itemID: $0.itemID, status: $0.status.description, score: $0.score, seedCount: $0.seedCount,
                coldStart: $0.status == .belowMinimumSeeds || $0.status == .tooFewSeedVectors)
        }
    }
}

/// `POST /v1/lookalike/expand` request: `item` or `seeds`.
struct ExpandRequestBody: Decodable, Sendable {
    var item: String?
    var seeds: [String]?
    var k: Int?
    var exact: Bool?
}

/// `POST /v1/lookalike/expand` response.
struct ExpansionBody: Encodable, Sendable {
    struct User: Encodable, Sendable {
        var userID: String
        var score: Float

        enum CodingKeys: String, CodingKey {
            case userID = "user_id"
            case score
        }
    }

    var item: String?
    var modelVersion: String
    var method: String
    var seedsWithVectors: Int
    var unknownSeeds: Int
    var candidates: Int
    var users: [User]

    enum CodingKeys: String, CodingKey {
        case item
        case modelVersion = "model_version"
        case method
        case seedsWithVectors = "seeds_with_vectors"
        case unknownSeeds = "unknown_seeds"
        case candidates
        case users
    }

    init(_ expansion: Expansion) {
        item = expansion.itemID
        modelVersion = expansion.modelVersion
        method = expansion.method
        seedsWithVectors = expansion.seedsWithVectors
        unknownSeeds = expansion.unknownSeeds
        candidates = expansion.candidates
        users = expansion.users.map { User(userID: $0.userID, score: $0.score) }
    }
}
