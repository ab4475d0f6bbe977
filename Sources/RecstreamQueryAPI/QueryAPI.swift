import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Metrics
import CoreMetrics
import NIOCore
import Prometheus
import RecstreamCore

/// Settings of the HTTP query API.
public struct QueryAPIConfiguration: Sendable {
    /// Address to bind. Default 127.0.0.1:8080; port 0 picks a free port.
    public var host: String
    public var port: Int
    /// Largest batch of ids one request may ask for. Default 1000.
    public var maxBatchItems: Int
    /// Largest request body in bytes. Default 1 MiB.
    public var maxBodyBytes: Int
    /// `/readyz` answers 503 while the total consumer lag is above this many records. Default 100000.
    public var readyMaxLag: Int64
    /// Bearer token for `/v1/admin/*`; nil allows them only on a loopback address.
    public var adminToken: String?
    /// Settings of the state families switched off (`item_stats.enabled`, ...): their routes
    /// answer 404 `family_disabled` naming the setting.
    public var disabledFamilies: Set<String> = []

    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBatchItems: Int = 1000, maxBodyBytes: Int = 1 << 20,
        readyMaxLag: Int64 = 100_000, adminToken: String? = nil
    ) {
        self.adminToken = adminToken
        self.host = host
        self.port = port
        self.maxBatchItems = maxBatchItems
        self.maxBodyBytes = maxBodyBytes
        self.readyMaxLag = readyMaxLag
    }
}

/// The read-only HTTP API the serving fleet and the admin CLI use. Every route answers JSON
/// (except `/metrics`, Prometheus text), every error is a JSON ``APIError``.
public struct QueryAPI: Sendable {
    public let configuration: QueryAPIConfiguration
    public let queries: any StateQueries
    public let metricsRegistry: PrometheusCollectorRegistry?
    /// Where request durations are recorded (the Prometheus factory in production).
    public let metricsFactory: any MetricsFactory
    /// Operator actions behind `/v1/admin/*`; nil serves none.
    public let admin: (any AdminOperations)?
    /// Embedding retrieval, vectors and model versions; nil answers those routes with 503.
    public let embeddings: (any EmbeddingQueries)?
    /// Look-alike seeds, scores and expansion; nil answers those routes with 503.
    public let lookalike: (any LookalikeQueries)?
    /// Split mode: where keys' owners answer (query forwarding); nil in single mode.
    public let routing: (any OwnerRouting)?

    /// Which routes a router serves: everything, only the read routes, or only admin (plus health).
    public enum Routes: Sendable {
        case all
        case read
        case admin
    }

    public init(
        configuration: QueryAPIConfiguration, queries: any StateQueries, metricsRegistry: PrometheusCollectorRegistry?,
        metricsFactory: (any MetricsFactory)? = nil, admin: (any AdminOperations)? = nil,
        embeddings: (any EmbeddingQueries)? = nil,
        lookalike: (any LookalikeQueries)? = nil,
        routing: (any OwnerRouting)? = nil
    ) {
        self.routing = routing
        self.admin = admin
        self.embeddings = embeddings
        self.lookalike = lookalike
        self.configuration = configuration
        self.queries = queries
        self.metricsRegistry = metricsRegistry
        self.metricsFactory = metricsFactory ?? metricsRegistry.map { PrometheusMetricsFactory(registry: $0) } ?? NOOPMetricsHandler.instance
    }

    /// The routes, for serving and for in-process tests (`app.test(.router)`).
    public func buildRouter(_ routes: Routes = .all) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.middlewares.add(RequestMetricsMiddleware(factory: metricsFactory))
        router.middlewares.add(JSONErrorMiddleware())
        if let routing = self.routing { router.middlewares.add(ForwardingMiddleware(
                    routing: routing, maxBodyBytes: configuration.maxBodyBytes, ownedUserPartitions: { [queries] in queries.ownedUserPartitions() })) }
        router.middlewares.add(DisabledFamilyMiddleware(disabled: configuration.disabledFamilies))
        router.middlewares.add(WarmUpMiddleware(queries: queries))
        let queries = self.queries
        let configuration = self.configuration
        let registry = self.metricsRegistry
        let embeddings = self.embeddings

        router.get("/healthz") { _, _ in
            try Self.json(["status": "ok"])
        }
        if routes != .read, let admin {
            let group = router.group("/v1/admin").add(
                middleware: AdminAuthMiddleware(
                    token: configuration.adminToken, boundToLoopback: AdminAuthMiddleware<BasicRequestContext>.isLoopback(configuration.host)))
            group.post("/checkpoint") { _, _ in
                try Self.json(CheckpointBody(try await admin.checkpoint()))
            }
            group.post("/recompute") { _, _ in
                try Self.json(RecomputeBody(try await admin.recompute()))
            }
            group.get("/undeliverable") { request, _ in
                let limit = try Self.limit(request.uri.queryParameters["limit"].map(String.init), default: 100, max: 10_000)
                return try EmbeddingRoutes.json(try await admin.undeliverable(limit: limit))
            }
            EmbeddingRoutes.addAdmin(to: group, embeddings: embeddings, maxBodyBytes: configuration.maxBodyBytes)
        }
        if routes == .admin { return router }
        EmbeddingRoutes.addRead(to: router, embeddings: embeddings, maxBodyBytes: configuration.maxBodyBytes)

        router.get("/ui") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: StatusPage.html)))
        }

        router.get("/readyz") { _, _ in
            let reasons = queries.status().notReadyReasons(maxLag: configuration.readyMaxLag)
            var response = try Self.json(Readiness(ready: reasons.isEmpty, reasons: reasons))
            response.status = reasons.isEmpty ? .ok : .serviceUnavailable
            return response
        }

        router.get("/metrics") { _, _ in
            let text = registry?.emitToString() ?? ""
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: text)))
        }

        let routing = self.routing
        router.get("/v1/cluster") { _, _ in
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            return try Self.json(ClusterBody(selfURL: routing?.selfURL, instances: routing?.claims() ?? []), encoder: encoder)
        }

        router.get("/v1/status") { _, _ in
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            encoder.outputFormatting = [.sortedKeys]
            return try Self.json(queries.status(), encoder: encoder)
        }

        router.get("/v1/items/:id/stats") { _, context in
            let id = try Self.validatedID(context.parameters.get("id"))
            guard let report = queries.itemStats([id]).first ?? nil else {
                throw APIError.notFound("item \(id) has no statistics on this instance")
            }
            return try Self.json(ItemStatsBody(report))
        }

        router.get("/v1/items/top") { request, _ in
            let query = request.uri.queryParameters
            let typeName = query["type"].map(String.init) ?? "click"
            guard let type = EventType(name: typeName) else { throw APIError.badRequest("unknown type '\(typeName)'") }
            let windowName = query["window"].map(String.init) ?? "1h"
            guard let window = StatsWindow(rawValue: windowName) else {
                throw APIError.badRequest("unknown window '\(windowName)'; one of 1h, 24h, 7d, 30d")
            }
            let limitText = query["limit"].map(String.init) ?? "10"
            guard let limit = Int(limitText), (1...1000).contains(limit) else { throw APIError.badRequest("limit must be 1...1000") }
            return try Self.json(TopItemsBody(type: type.name, window: window.rawValue, items: queries.topItems(type: type, window: window, limit: limit)))
        }

        router.get("/v1/items/:id/similar") { request, context in
            let id = try Self.validatedID(context.parameters.get("id"))
            let method = try Self.method(request.uri.queryParameters["method"].map(String.init))
            let k = try Self.limit(request.uri.queryParameters["k"].map(String.init), default: 20, max: 1000)
            guard let items = queries.similarItems(id, method: method, k: k) else {
                throw APIError.notFound("item \(id) has no engagements in the co-occurrence window on this instance")
            }
            return try Self.json(SimilarBody(itemID: id, method: method.description, items: items))
        }

        router.post("/v1/items/similar") { request, _ in
            let body = try await Self.collect(request, limit: configuration.maxBodyBytes)
            let batch: SimilarBatchRequest
            do {
                batch = try JSONDecoder().decode(SimilarBatchRequest.self, from: body)
            } catch {
                throw APIError.badRequest(
                    "expected {\"items\": [\"item id\", ...], \"method\": \"itemcf\"|\"swing\", \"k\": 20, \"user_id\": optional}: \(Self.describe(error))")
            }
            guard !batch.items.isEmpty, batch.items.count <= 100 else {
                throw APIError.badRequest("\(batch.items.count) items; give 1 to 100")
            }
            let ids = try batch.items.map(Self.validatedID)
            let method = try Self.method(batch.method)
            let k = try Self.limit(batch.k.map(String.init), default: 20, max: 1000)
            let user = try batch.userID.map(Self.validatedID)
            let items = queries.similarItems(toAnyOf: ids, method: method, k: k, excludingExposedTo: user)
            return try Self.json(SimilarBatchBody(method: method.description, items: items))
        }

        router.post("/v1/users/:id/exposures/filter") { request, context in
            let user = try Self.validatedID(context.parameters.get("id"))
            let body = try await Self.collect(request, limit: configuration.maxBodyBytes)
            let filter: ExposureFilterRequest
            do {
                filter = try JSONDecoder().decode(ExposureFilterRequest.self, from: body)
            } catch {
                throw APIError.badRequest("expected {\"items\": [\"item id\", ...]}: \(Self.describe(error))")
            }
            guard filter.items.count <= 2_000 else {
                throw APIError.badRequest("\(filter.items.count) items; the limit is 2000 per request")
            }
            let items = try filter.items.map(Self.validatedID)
            let exposed = queries.exposed(userID: user, itemIDs: items)
            let kept = zip(items, exposed).filter { !$0.1 }.map(\.0)
            return try Self.json(ExposureFilterBody(userID: user, items: kept, removed: items.count - kept.count))
        }

        router.post("/v1/exposures/check") { request, _ in
            let body = try await Self.collect(request, limit: configuration.maxBodyBytes)
            let check: ExposureCheckRequest
            do {
                check = try JSONDecoder().decode(ExposureCheckRequest.self, from: body)
            } catch {
                throw APIError.badRequest(
                    "expected {\"pairs\": [{\"user_id\": \"u\", \"item_id\": \"i\"}, ...]}: \(Self.describe(error))")
            }
            guard check.pairs.count <= 10_000 else {
                throw APIError.badRequest("\(check.pairs.count) pairs; the limit is 10000 per request")
            }
            let pairs = try check.pairs.map { (userID: try Self.validatedID($0.userID), itemID: try Self.validatedID($0.itemID)) }
            return try Self.json(ExposureCheckBody(exposed: queries.exposed(pairs: pairs)))
        }

        router.get("/v1/users/:id/exposures/summary") { _, context in
            let user = try Self.validatedID(context.parameters.get("id"))
            return try Self.json(ExposureSummaryBody(userID: user, summary: queries.exposureSummary(user)))
        }

        router.get("/v1/users/:id/history") { _, context in
            let id = try Self.validatedID(context.parameters.get("id"))
            guard let history = queries.history(id) else {
                throw APIError.notFound("user \(id) has no engagements on this instance")
            }
            return try Self.json(HistoryBody(userID: id, items: history))
        }

        router.post("/v1/items/stats") { request, _ in
            let body = try await Self.collect(request, limit: configuration.maxBodyBytes)
            let batch: ItemStatsBatchRequest
            do {
                batch = try JSONDecoder().decode(ItemStatsBatchRequest.self, from: body)
            } catch {
                throw APIError.badRequest("expected a JSON object {\"ids\": [\"item id\", ...]}: \(Self.describe(error))")
            }
            guard batch.ids.count <= configuration.maxBatchItems else {
                throw APIError.badRequest("\(batch.ids.count) ids; the limit is \(configuration.maxBatchItems) per request")
            }
            let ids = try batch.ids.map(Self.validatedID)
            let reports = queries.itemStats(ids)
            var notFound: [String] = []
            for (id, report) in zip(ids, reports) where report == nil { notFound.append(id) }
            return try Self.json(ItemStatsBatchBody(items: reports.map { $0.map(ItemStatsBody.init) }, notFound: notFound))
        }
        LookalikeRoutes.add(to: router, lookalike: lookalike, configuration: configuration)
        return router
    }

    /// The application: the router served at the configured address. `onServerRunning` receives
    /// the bound address (useful with port 0).
    public func buildApplication(
        routes: Routes = .all, host: String? = nil, port: Int? = nil, logger: Logger,
        onServerRunning: @escaping @Sendable (_ host: String, _ port: Int) async -> Void = { _, _ in }
    ) -> some ApplicationProtocol {
        let configuration = self.configuration
        return Application(
            router: buildRouter(routes),
            configuration: .init(
                address: .hostname(host ?? configuration.host, port: port ?? configuration.port), serverName: "recstream"),
            onServerRunning: { channel in
                let address = channel.localAddress
                await onServerRunning(address?.ipAddress ?? configuration.host, address?.port ?? configuration.port)
            },
            logger: logger)
    }

    // MARK: Helpers

    static func validatedID(_ raw: String?) throws -> String {
        guard let raw, !raw.isEmpty else { throw APIError.badRequest("an id must not be empty") }
        let length = raw.utf8.count
        guard length <= EventDecoderLimits.maxIDBytes else {
            throw APIError.badRequest("id is \(length) bytes; the limit is \(EventDecoderLimits.maxIDBytes)")
        }
        return raw
    }

    static func method(_ raw: String?) throws -> SimilarityMethod {
        switch raw ?? "itemcf" {
        case "itemcf": return .itemCF
        case "swing": return .swing
        default: throw APIError.badRequest("method must be itemcf or swing, got '\(raw ?? "")'")
        }
    }

    static func limit(_ raw: String?, default value: Int, max: Int) throws -> Int {
        guard let raw else { return value }
        guard let k = Int(raw), (1...max).contains(k) else { throw APIError.badRequest("k must be 1...\(max), got '\(raw)'") }
        return k
    }

    static func collect(_ request: Request, limit: Int) async throws -> Data {
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw APIError.tooLarge("request body exceeds \(limit) bytes")
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): "missing field \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context): "wrong type at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.valueNotFound(_, let context): "null at \(context.codingPath.map(\.stringValue).joined(separator: "."))"
        case DecodingError.dataCorrupted: "the body is not valid JSON"
        default: "the body could not be read"
        }
    }

    static func json(_ value: some Encodable, encoder: JSONEncoder = JSONEncoder()) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
