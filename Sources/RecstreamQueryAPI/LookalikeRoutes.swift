import Foundation
import Hummingbird
import RecstreamCore

/// The look-alike routes: an item's seeds, scores of a user for items, and audience expansion.
/// Without look-alike queries (an API built without them) every route answers 503.
enum LookalikeRoutes {
    /// Largest explicit seed list of an expansion request.
    static let maximumExplicitSeeds = 10_000
    /// Largest `limit` of a seeds request.
    static let maximumSeedsListed = 100_000

    static func add(
        to router: Router<BasicRequestContext>, lookalike: (any LookalikeQueries)?, configuration: QueryAPIConfiguration
    ) {
        @Sendable func served() throws -> any LookalikeQueries {
            guard let lookalike else {
                throw APIError(
                    .serviceUnavailable, code: "lookalike_unavailable",
                    "this instance does not serve look-alike queries")
            }
            return lookalike
        }

        router.get("/v1/items/:id/seeds") { request, context in
            let id = try QueryAPI.validatedID(context.parameters.get("id"))
            let limit = try QueryAPI.limit(
                request.uri.queryParameters["limit"].map(String.init), default: 1_000, max: maximumSeedsListed)
            guard let seeds = try served().seeds(itemID: id, limit: limit) else {
                throw APIError.notFound("item \(id) has no engagements on this instance")
            }
            return try QueryAPI.json(SeedsBody(seeds))
        }

        router.post("/v1/lookalike/score") { request, _ in
            let lookalike = try served()
            let body = try await QueryAPI.collect(request, limit: configuration.maxBodyBytes)
            let score: LookalikeScoreRequest
            do {
                score = try JSONDecoder().decode(LookalikeScoreRequest.self, from: body)
            } catch {
                throw APIError.badRequest(
                    "expected {\"user\": \"user id\", \"items\": [\"item id\", ...]}: \(QueryAPI.describe(error))")
            }
            guard !score.items.isEmpty, score.items.count <= 1_000 else {
                throw APIError.badRequest("\(score.items.count) items; give 1 to 1000")
            }
            let user = try QueryAPI.validatedID(score.user)
            let items = try score.items.map(QueryAPI.validatedID)
            let scores: LookalikeScores
            do { scores = try lookalike.score(userID: user, itemIDs: items) } catch { throw apiError(error) }
            return try QueryAPI.json(LookalikeScoresBody(scores))
        }

        router.post("/v1/lookalike/expand") { request, _ in
            let lookalike = try served()
            let body = try await QueryAPI.collect(request, limit: configuration.maxBodyBytes)
            let expand: ExpandRequestBody
            do {
                expand = try JSONDecoder().decode(ExpandRequestBody.self, from: body)
            } catch {
                throw APIError.badRequest(
                    "expected {\"item\": \"item id\"} or {\"seeds\": [\"user id\", ...]}, with \"k\": 50 and \"exact\": false: "
                        + QueryAPI.describe(error))
            }
            guard (expand.item == nil) != (expand.seeds == nil) else {
                throw APIError.badRequest("give exactly one of item and seeds")
            }
            if let seeds = expand.seeds, seeds.isEmpty || seeds.count > maximumExplicitSeeds {
                throw APIError.badRequest("\(seeds.count) seeds; give 1 to \(maximumExplicitSeeds)")
            }
            let item = try expand.item.map(QueryAPI.validatedID)
            let seeds = try expand.seeds?.map(QueryAPI.validatedID)
            let k = expand.k ?? 50
            guard k >= 1 && k <= 10_000 else { throw APIError.badRequest("k must be 1...10000, got \(k)") }
            let result: Expansion
            do {
                result = try await lookalike.expand(
                    ExpansionRequest(itemID: item, seedUserIDs: seeds, k: k, exact: expand.exact ?? false))
            } catch {
                throw apiError(error)
            }
            return try QueryAPI.json(ExpansionBody(result))
        }
    }

    /// A ``LookalikeQueryError`` as its API error; anything else as it is.
    static func apiError(_ error: any Error) -> any Error {
        guard let error = error as? LookalikeQueryError else { return error }
        return switch error {
        case .noModel(let message): APIError(.serviceUnavailable, code: "no_model", message)
        case .notFound(let message): APIError.notFound(message)
        case .coldStart(let message): APIError(.conflict, code: "cold_start", message)
        case .invalid(let message): APIError.badRequest(message)
        }
    }
}
