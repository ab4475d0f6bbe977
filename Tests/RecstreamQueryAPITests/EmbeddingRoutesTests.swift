import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import RecstreamCore
import RecstreamQueryAPI
import Testing

/// A fixed embedding family: one served model "2.1" that knows user u1 and item i1.
struct FixedEmbeddings: EmbeddingQueries {
    let hasModel: Bool

    func retrieve(userID: String, k: Int, probes: Int?) throws(EmbeddingQueryError) -> RetrievalResult {
        guard hasModel else { throw .noModel("no embedding model is served yet") }
        let items = (0..<k).map { RetrievedItem(itemID: "i\($0)", score: 1 - Double($0) / 100) }
        return RetrievalResult(userID: userID, modelVersion: "2.1", source: "user-vector", items: items, exposedDropped: 1)
    }

    func userEmbedding(_ userID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody {
        guard hasModel else { throw .noModel("no model") }
        guard userID == "u1" else { throw .notFound("user \(userID) has no vector") }
        return EmbeddingVectorBody(id: userID, modelVersion: "2.1", source: "user-vector", vector: [1, 0])
    }

    func itemEmbedding(_ itemID: String) throws(EmbeddingQueryError) -> EmbeddingVectorBody {
        guard hasModel else { throw .noModel("no model") }
        guard itemID == "i1" else { throw .notFound("item \(itemID) has no vector") }
        return EmbeddingVectorBody(id: itemID, modelVersion: "2.1", source: "item-vector", vector: [0, 1])
    }

    func models() async throws -> ModelList { ModelList(served: hasModel ? "2.1" : nil, models: []) }

    func train(kind: EmbeddingModelKind, force: Bool) async throws -> TrainingReport {
        TrainingReport(
            kind: kind.description, published: false, served: false, examples: 0, manifest: nil, engagementsRead: 0,
            readSeconds: 0, trainSeconds: 0, publishSeconds: 0, examplesPerSecond: 0,
            message: force ? "nothing new (forced)" : "nothing new")
    }

    func rollback(to version: EmbeddingModelVersion) async throws -> ModelList {
        throw EmbeddingQueryError.unknownVersion("model \(version) is not published")
    }
}

@Suite("Embedding routes")
struct EmbeddingRoutesTests {
    func router(_ embeddings: (any EmbeddingQueries)?) -> Application<RouterResponder<BasicRequestContext>> {
        let api = makeAPI()
        return Application(
            router: QueryAPI(
                configuration: api.configuration, queries: api.queries, metricsRegistry: nil,
                admin: QueryAPITests.CountingAdmin(), embeddings: embeddings)
                .buildRouter())
    }

    @Test(arguments: [nil, FixedEmbeddings(hasModel: false)] as [FixedEmbeddings?])
    func withoutAModelRetrievalIs503WithTheReason(embeddings: FixedEmbeddings?) async throws {
        try await router(embeddings).test(.router) { client in
            try await client.execute(uri: "/v1/retrieve", method: .post, body: ByteBuffer(string: #"{"user": "u1", "k": 5}"#)) {
                #expect($0.status == .serviceUnavailable)
                let error = try jsonObject($0.body)["error"] as? [String: Any]
                #expect(error?["code"] as? String == "no_model")
                #expect((error?["message"] as? String)?.isEmpty == false)
            }
            try await client.execute(uri: "/v1/items/i1/embedding", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }

    @Test func retrievalAndVectorsAnswerFromTheServedModel() async throws {
        try await router(FixedEmbeddings(hasModel: true)).test(.router) { client in
            try await client.execute(uri: "/v1/retrieve", method: .post, body: ByteBuffer(string: #"{"user": "u1", "k": 3}"#)) {
                #expect($0.status == .ok)
                let body = try jsonObject($0.body)
                #expect(body["model_version"] as? String == "2.1")
                #expect(body["exposed_dropped"] as? Int == 1)
                #expect((body["items"] as? [[String: Any]])?.map { $0["item_id"] as? String } == ["i0", "i1", "i2"])
            }
            try await client.execute(uri: "/v1/users/u1/embedding", method: .get) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                #expect(body["vector"] as? [Double] == [1, 0])
            }
            try await client.execute(uri: "/v1/users/u9/embedding", method: .get) { #expect($0.status == .notFound) }
            try await client.execute(uri: "/v1/admin/rollback", method: .post, body: ByteBuffer(string: #"{"version": "1.0"}"#)) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/admin/train", method: .post, body: ByteBuffer(string: #"{"mode": "full"}"#)) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                #expect(body["published"] as? Bool == false)
            }
        }
    }

    @Test(arguments: [
        #"{"user": "u1", "k": 0}"#, #"{"user": "u1", "k": 1001}"#, #"{"user": ""}"#, #"{"k": 3}"#, #"{"user": "u1", "nprobe": 0}"#,
        "not json",
    ])
    func malformedRetrievalsAre400(body: String) async throws {
        try await router(FixedEmbeddings(hasModel: true)).test(.router) { client in
            try await client.execute(uri: "/v1/retrieve", method: .post, body: ByteBuffer(string: body)) {
                #expect($0.status == .badRequest)
            }
        }
    }
}
