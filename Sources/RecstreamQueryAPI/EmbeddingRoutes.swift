import Foundation
import Hummingbird
import RecstreamCore

/// The embedding routes: retrieval and vectors for the fleet, model versions for operators.
/// Registered whether or not the instance serves embeddings; without a model (or with
/// `embedding.enabled` false) they answer 503 with the reason.
enum EmbeddingRoutes {
    static let disabled = "embeddings are disabled on this instance (embedding.enabled is false)"

    struct RetrieveRequest: Decodable {
        var user: String
        var k: Int?
        var nprobe: Int?
    }

    struct RollbackRequest: Decodable {
        var version: String
    }

    struct TrainRequest: Decodable {
        var mode: String
        /// Serve the new version even when the publish gate holds it back.
        var force: Bool?
    }

    static func addRead(to router: Router<BasicRequestContext>, embeddings: (any EmbeddingQueries)?, maxBodyBytes: Int) {
        router.post("/v1/retrieve") { request, _ in
            let body = try await QueryAPI.collect(request, limit: maxBodyBytes)
            let query: RetrieveRequest
            do {
                query = try JSONDecoder().decode(RetrieveRequest.self, from: body)
            } catch {
                throw APIError.badRequest(
                    "expected {\"user\": \"user id\", \"k\": 1...1000, \"nprobe\": optional 1...65536}: \(QueryAPI.describe(error))")
            }
            let user = try QueryAPI.validatedID(query.user)
            let k = query.k ?? 100
            guard (1...1000).contains(k) else { throw APIError.badRequest("k must be 1...1000, got \(k)") }
            if let nprobe = query.nprobe, !(1...65_536).contains(nprobe) {
                throw APIError.badRequest("nprobe must be 1...65536, got \(nprobe)")
            }
            let result = try answer { () throws(EmbeddingQueryError) in
                try served(embeddings).retrieve(userID: user, k: k, probes: query.nprobe)
            }
            return try json(result)
        }
        router.get("/v1/users/:id/embedding") { _, context in
            let id = try QueryAPI.validatedID(context.parameters.get("id"))
            return try json(try answer { () throws(EmbeddingQueryError) in try served(embeddings).userEmbedding(id) })
        }
        router.get("/v1/items/:id/embedding") { _, context in
            let id = try QueryAPI.validatedID(context.parameters.get("id"))
            return try json(try answer { () throws(EmbeddingQueryError) in try served(embeddings).itemEmbedding(id) })
        }
    }

    static func addAdmin(to group: RouterGroup<BasicRequestContext>, embeddings: (any EmbeddingQueries)?, maxBodyBytes: Int) {
        group.get("/models") { _, _ in
            let embeddings = try answer { () throws(EmbeddingQueryError) in try served(embeddings) }
            return try json(try await embeddings.models())
        }
        group.post("/rollback") { request, _ in
            let body = try await QueryAPI.collect(request, limit: maxBodyBytes)
            guard let rollback = try? JSONDecoder().decode(RollbackRequest.self, from: body),
                let version = EmbeddingModelVersion(rollback.version)
            else {
                throw APIError.badRequest("expected {\"version\": \"MAJOR.MINOR\"}")
            }
            let embeddings = try answer { () throws(EmbeddingQueryError) in try served(embeddings) }
            do {
                return try json(try await embeddings.rollback(to: version))
            } catch let error as EmbeddingQueryError {
                throw apiError(error)
            } catch {
                throw APIError(.conflict, code: "model_unusable", "\(error)")
            }
        }
        group.post("/train") { request, _ in
            let body = try await QueryAPI.collect(request, limit: maxBodyBytes)
            guard let train = try? JSONDecoder().decode(TrainRequest.self, from: body),
                let kind = [EmbeddingModelKind.full, .incremental].first(where: { $0.description == train.mode })
            else {
                throw APIError.badRequest("expected {\"mode\": \"full\" | \"incremental\", \"force\": optional boolean}")
            }
            let embeddings = try answer { () throws(EmbeddingQueryError) in try served(embeddings) }
            do {
                return try json(try await embeddings.train(kind: kind, force: train.force ?? false))
            } catch {
                throw APIError(.serviceUnavailable, code: "training_failed", "\(error)")
            }
        }
    }

    private static func served(_ embeddings: (any EmbeddingQueries)?) throws(EmbeddingQueryError) -> any EmbeddingQueries {
        guard let embeddings else { throw .noModel(disabled) }
        return embeddings
    }

    /// Runs `body`, turning its ``EmbeddingQueryError`` into the API's error.
    private static func answer<T>(_ body: () throws(EmbeddingQueryError) -> T) throws(APIError) -> T {
        do { return try body() } catch { throw apiError(error) }
    }

    static func apiError(_ error: EmbeddingQueryError) -> APIError {
        switch error {
        case .noModel(let m): APIError(.serviceUnavailable, code: "no_model", m)
        case .notFound(let m): APIError.notFound(m)
        case .unknownVersion(let m): APIError.notFound(m)
        }
    }

    static func json(_ value: some Encodable) throws -> Response {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys]
        return try QueryAPI.json(value, encoder: encoder)
    }
}
