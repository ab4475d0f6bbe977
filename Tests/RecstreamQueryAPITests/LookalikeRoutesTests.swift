import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import RecstreamCore
import RecstreamQueryAPI
import Testing

/// Look-alike queries with canned answers: one item "hot" past the gate, a model only when
/// `hasModel`.
struct CannedLookalike: LookalikeQueries {
    var hasModel: Bool

    func seeds(itemID: String, limit: Int) -> ItemSeeds? {
        guard itemID == "hot" else { return nil }
        let seeds = [ItemSeed(userID: "u2", timeMillis: 20), ItemSeed(userID: "u1", timeMillis: 10)]
        return ItemSeeds(itemID: itemID, seeds: Array(seeds.prefix(limit)), count: 2, minimumSeeds: 2, passesGate: true)
    }

    func score(userID: String, itemIDs: [String]) throws(LookalikeQueryError) -> LookalikeScores {
        guard hasModel else { throw .noModel("no embedding model is installed yet") }
        return LookalikeScores(
            userID: userID, modelVersion: "1.0",
            items: itemIDs.map {
                $0 == "hot"
                    ? .init(itemID: $0, status: .scored, score: 0.5, seedCount: 2)
                    : .init(itemID: $0, status: .belowMinimumSeeds, score: nil, seedCount: 0)
            })
    }

    func expand(_ request: ExpansionRequest) async throws(LookalikeQueryError) -> Expansion {
        guard hasModel else { throw .noModel("no embedding model is installed yet") }
        guard request.itemID != "cold" else { throw .coldStart("item cold has 0 seeds") }
        return Expansion(
            itemID: request.itemID, modelVersion: "1.0", method: request.exact ? "exact" : "ivf", seedsWithVectors: 2,
            unknownSeeds: 0, candidates: 3, users: [ExpandedUser(userID: "u3", score: 0.9)])
    }
}

@Suite("Query API: look-alike routes")
struct LookalikeRoutesTests {
    static func app(_ lookalike: (any LookalikeQueries)?) -> some ApplicationProtocol {
        let base = makeAPI()
        return Application(
            router: QueryAPI(
                configuration: base.configuration, queries: base.queries, metricsRegistry: nil, lookalike: lookalike
            )
            .buildRouter())
    }

    static func call(
        _ lookalike: (any LookalikeQueries)?, _ uri: String, body: String? = nil
    ) async throws -> (HTTPResponse.Status, [String: Any]) {
        let (status, data) = try await app(lookalike).test(.router) { client in
            let response = try await client.execute(
                uri: uri, method: body == nil ? .get : .post, body: body.map { ByteBuffer(string: $0) })
            return (response.status, Data(response.body.readableBytesView))
        }
        return (status, try #require(JSONSerialization.jsonObject(with: data) as? [String: Any]))
    }

    @Test func seedsAreListedNewestFirstWithTheGate() async throws {
        let (status, body) = try await Self.call(CannedLookalike(hasModel: false), "/v1/items/hot/seeds?limit=1")
        #expect(status == .ok)
        #expect(body["count"] as? Int == 2 && body["passes_gate"] as? Bool == true)
        #expect((body["seeds"] as? [[String: Any]])?.map { $0["user_id"] as? String } == ["u2"])
        #expect(try await Self.call(CannedLookalike(hasModel: false), "/v1/items/none/seeds").0 == .notFound)
    }

    @Test func noModelIs503WithTheReason() async throws {
        for (uri, body) in [
            ("/v1/lookalike/score", #"{"user": "u1", "items": ["hot"]}"#),
            ("/v1/lookalike/expand", #"{"item": "hot"}"#),
        ] {
            let (status, answer) = try await Self.call(CannedLookalike(hasModel: false), uri, body: body)
            #expect(status == .serviceUnavailable)
            let error = answer["error"] as? [String: Any]
            #expect(error?["code"] as? String == "no_model")
            #expect((error?["message"] as? String)?.contains("no embedding model") == true)
        }
        #expect(try await Self.call(nil, "/v1/items/hot/seeds").0 == .serviceUnavailable)
    }

    @Test func scoresFlagColdStartItems() async throws {
        let (status, body) = try await Self.call(
            CannedLookalike(hasModel: true), "/v1/lookalike/score", body: #"{"user": "u1", "items": ["hot", "new"]}"#)
        #expect(status == .ok)
        let items = try #require(body["items"] as? [[String: Any]])
        #expect(items[0]["status"] as? String == "scored" && items[0]["score"] as? Double == 0.5)
        #expect(items[1]["status"] as? String == "below_minimum_seeds" && items[1]["cold_start"] as? Bool == true)
        #expect(items[1]["score"] == nil)
    }

    @Test(arguments: [
        ("/v1/lookalike/score", #"{"user": "u1", "items": []}"#, HTTPResponse.Status.badRequest),
        (
            "/v1/lookalike/score",
            "{\"user\": \"u1\", \"items\": [" + Array(repeating: "\"i\"", count: 1_001).joined(separator: ",") + "]}",
            .badRequest
        ),
        ("/v1/lookalike/score", #"{"items": ["i"]}"#, .badRequest),
        (
            "/v1/lookalike/score", "{\"user\": \"u\", \"items\": [\"\(String(repeating: "y", count: 40_000))\"]}",
            .contentTooLarge
        ),
        ("/v1/lookalike/expand", #"{"item": "hot", "seeds": ["u1"]}"#, .badRequest),
        ("/v1/lookalike/expand", #"{"k": 5}"#, .badRequest),
        ("/v1/lookalike/expand", #"{"item": "hot", "k": 0}"#, .badRequest),
        ("/v1/lookalike/expand", #"{"seeds": []}"#, .badRequest),
        ("/v1/lookalike/expand", #"{"item": "cold"}"#, .conflict),
        ("/v1/lookalike/expand", #"{"seeds": ["u1"], "k": 3, "exact": true}"#, .ok),
    ])
    func requestsAreCheckedAndMapped(uri: String, body: String, status: HTTPResponse.Status) async throws {
        #expect(try await Self.call(CannedLookalike(hasModel: true), uri, body: body).0 == status)
    }
}
