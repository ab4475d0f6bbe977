import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import RecstreamCore
import RecstreamQueryAPI
import RecstreamTesting
import Testing
import MetricsTestKit
import Yams

/// Real shards behind the query protocol, for route tests.
struct ShardQueries: StateQueries {
    let shards: [Shard]
    func itemStats(_ itemIDs: [String]) -> [ItemStatsReport?] {
        itemIDs.map { ItemStatsQuery.report(itemID: $0, shards: shards, configuration: StatsConfiguration()) }
    }
    func topItems(type: EventType, window: StatsWindow, limit: Int) -> [RankedItem] {
        TopItemsQuery.top(shards: shards, type: type, window: window, limit: limit)
    }
    func similarItems(_ itemID: String, method: SimilarityMethod, k: Int) -> [SimilarItem]? {
        itemID == "i1" ? [SimilarItem(itemID: "i2", score: 0.5)] : nil
    }
    func similarItems(toAnyOf itemIDs: [String], method: SimilarityMethod, k: Int, excludingExposedTo userID: String?) -> [SimilarItem] {
        [SimilarItem(itemID: "i3", score: Double(itemIDs.count))]
    }
    func exposed(userID: String, itemIDs: [String]) -> [Bool] {
        itemIDs.map { id in shards.contains { $0.wasExposed(userID: userID, itemHash: ExposureHash(id)) } }
    }
    func exposed(pairs: [(userID: String, itemID: String)]) -> [Bool] {
        pairs.map { exposed(userID: $0.userID, itemIDs: [$0.itemID])[0] }
    }
    func exposureSummary(_ userID: String) -> ExposureSummary? {
        shards.lazy.compactMap { $0.exposureSummary(userID: userID) }.first
    }
    func history(_ userID: String) -> [HistoryItem]? {
        userID == "u1" ? [HistoryItem(itemID: "i1", type: .click, timeMillis: 5, weight: 1)] : nil
    }
    func status() -> InstanceStatus {
        InstanceStatus(
            version: "test", bootstrapServers: "127.0.0.1:1", groupID: "g", eventsTopic: "recstream.events",
            deadLetterTopic: "recstream.events.dlq", startedAtMillis: 0,
            partitions: shards.map {
                PartitionStatus(
                    topic: "recstream.events", partition: $0.partition, appliedOffset: $0.nextOffset, committedOffset: nil,
                    endOffset: 10, watermarkMillis: $0.watermark?.millis, applied: $0.counters.appliedTotal,
                    duplicates: $0.counters.duplicates, late: $0.counters.late, rejected: $0.counters.rejected)
            })
    }
}

func makeAPI() -> QueryAPI {
    var a = Shard(partition: 0, configuration: ShardConfiguration())
    var b = Shard(partition: 1, configuration: ShardConfiguration())
    let t: Int64 = 1_793_491_200_000
    // i1: 4 exposures and 1 click over two partitions, i2: one exposure.
    a.apply(Event(eventID: "e1", type: .exposure, userID: "u1", itemID: "i1", time: .init(millis: t)), offset: 0)
    a.apply(Event(eventID: "e2", type: .exposure, userID: "u1", itemID: "i1", time: .init(millis: t + 1)), offset: 1)
    a.apply(Event(eventID: "e3", type: .click, userID: "u1", itemID: "i1", time: .init(millis: t + 2)), offset: 2)
    b.apply(Event(eventID: "e4", type: .exposure, userID: "u2", itemID: "i1", time: .init(millis: t + 3)), offset: 0)
    b.apply(Event(eventID: "e5", type: .exposure, userID: "u2", itemID: "i1", time: .init(millis: t + 4)), offset: 1)
    b.apply(Event(eventID: "e6", type: .exposure, userID: "u2", itemID: "i2", time: .init(millis: t + 5)), offset: 2)
    return QueryAPI(configuration: QueryAPIConfiguration(port: 0, maxBatchItems: 3, maxBodyBytes: 32_768), queries: ShardQueries(shards: [a, b]), metricsRegistry: nil)
}

func jsonObject(_ buffer: ByteBuffer) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
}

@Suite("Query API")
struct QueryAPITests {
    let app = Application(router: makeAPI().buildRouter())

    @Test func itemStatsMergesPartitionsAndSmoothsRates() async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/items/i1/stats", method: .get) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                #expect(body["item_id"] as? String == "i1")
                #expect(body["now"] as? Int64 == 1_793_491_200_005)
                let windows = try #require(body["windows"] as? [String: Any])
                let hour = try #require(windows["1h"] as? [String: Any])
                let counts = try #require(hour["counts"] as? [String: Any])
                #expect(counts["exposure"] as? Int == 4)
                #expect(counts["click"] as? Int == 1)
                let rates = try #require(hour["rates"] as? [String: Double])
                // CTR with the default Beta(1, 12): (1 + 1) / (4 + 13) = 2/17.
                #expect(abs(rates["ctr"]! - 2.0 / 17.0) < 1e-12)
                #expect(windows["all"] != nil)
            }
        }
    }

    @Test func exposureFilterKeepsUnseenCandidatesInOrder() async throws {
        try await app.test(.router) { client in
            // u1 was shown i1 (partition 0), u2 was shown i1 and i2 (partition 1).
            try await client.execute(
                uri: "/v1/users/u2/exposures/filter", method: .post, body: ByteBuffer(string: #"{"items": ["i9", "i2", "i8", "i1"]}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                #expect(body["items"] as? [String] == ["i9", "i8"])
                #expect(body["removed"] as? Int == 2)
            }
            try await client.execute(
                uri: "/v1/users/nobody/exposures/filter", method: .post, body: ByteBuffer(string: #"{"items": ["i1", "i2"]}"#)
            ) { response in
                let body = try jsonObject(response.body)
                #expect(body["items"] as? [String] == ["i1", "i2"])
            }
            try await client.execute(
                uri: "/v1/exposures/check", method: .post,
                body: ByteBuffer(string: #"{"pairs": [{"user_id": "u1", "item_id": "i1"}, {"user_id": "u1", "item_id": "i2"}]}"#)
            ) { response in
                let body = try jsonObject(response.body)
                #expect(body["exposed"] as? [Bool] == [true, false])
            }
            try await client.execute(uri: "/v1/users/u2/exposures/summary", method: .get) { response in
                let body = try jsonObject(response.body)
                #expect(body["estimated_count"] as? Int == 2)
                #expect((body["slices"] as? [Any])?.count == 1)
            }
            let tooMany = "{\"items\": [" + (0..<2001).map { "\"i\($0)\"" }.joined(separator: ",") + "]}"
            try await client.execute(uri: "/v1/users/u1/exposures/filter", method: .post, body: ByteBuffer(string: tooMany)) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test func unknownItemIs404WithJSONBody() async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/items/nope/stats", method: .get) { response in
                #expect(response.status == .notFound)
                let error = try #require(try jsonObject(response.body)["error"] as? [String: String])
                #expect(error["code"] == "not_found")
            }
        }
    }

    @Test func batchAlignsResultsAndListsMissing() async throws {
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/items/stats", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"ids": ["i2", "missing", "i1"]}"#)
            ) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                let items = try #require(body["items"] as? [Any])
                #expect(items.count == 3)
                #expect((items[0] as? [String: Any])?["item_id"] as? String == "i2")
                #expect(items[1] is NSNull)
                #expect(body["not_found"] as? [String] == ["missing"])
            }
        }
    }

    @Test(arguments: [
        (#"{"ids": "i1"}"#, HTTPResponse.Status.badRequest),
        (#"not json"#, .badRequest),
        (#"{"idz": []}"#, .badRequest),
        (#"{"ids": ["a", "b", "c", "d"]}"#, .badRequest),
        (#"{"ids": [""]}"#, .badRequest),
        ("{\"ids\": [\"\(String(repeating: "x", count: 129))\"]}", .badRequest),
        ("{\"ids\": [\"\(String(repeating: "y", count: 40_000))\"]}", .contentTooLarge),
    ])
    func malformedBatchesAreClientErrors(body: String, status: HTTPResponse.Status) async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/items/stats", method: .post, body: ByteBuffer(string: body)) { response in
                #expect(response.status == status)
                let body = try jsonObject(response.body)
                #expect(body["error"] != nil)
            }
        }
    }

    @Test func unknownRouteIsJSON404() async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/v2/nothing", method: .get) { response in
                #expect(response.status == .notFound)
                let body = try jsonObject(response.body)
                #expect(body["error"] != nil)
            }
        }
    }

    @Test func statusAndHealthOverALiveSocket() async throws {
        try await app.test(.live) { client in
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: "/v1/status", method: .get) { response in
                #expect(response.status == .ok)
                let body = try jsonObject(response.body)
                let partitions = try #require(body["partitions"] as? [[String: Any]])
                #expect(partitions.count == 2)
                #expect(partitions[0]["applied_offset"] as? Int == 3)
                #expect(partitions[0]["lag"] as? Int == 7)
                #expect(body["dead_letter_topic"] as? String == "recstream.events.dlq")
            }
        }
    }

    @Test func readinessSaysWhyNot() async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try jsonObject(response.body)
                #expect(body["ready"] as? Bool == false)
                #expect((body["reasons"] as? [String])?.contains("ingest is not consuming") == true)
            }
        }
    }

    @Test func requestDurationsAreRecordedPerRouteTemplate() async throws {
        let metrics = TestMetrics()
        let api = makeAPI()
        let app = Application(
            router: QueryAPI(configuration: api.configuration, queries: api.queries, metricsRegistry: nil, metricsFactory: metrics)
                .buildRouter())
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/items/i1/stats", method: .get) { _ in }
            try await client.execute(uri: "/v1/items/nope/stats", method: .get) { _ in }
        }
        let ok = try metrics.expectTimer(
            "recstream_http_request_duration_seconds", [("route", "/v1/items/{id}/stats"), ("method", "GET"), ("status", "200")])
        #expect(ok.values.count == 1)
        let missing = try metrics.expectTimer(
            "recstream_http_request_duration_seconds", [("route", "/v1/items/{id}/stats"), ("method", "GET"), ("status", "404")])
        #expect(missing.values.count == 1)
    }

    final class CountingAdmin: AdminOperations, @unchecked Sendable {
        var calls = 0
        func checkpoint() async throws -> CheckpointReport {
            calls += 1
            return CheckpointReport(path: "/tmp/cp", offsets: [0: 3], bytes: 10)
        }
        func recompute() async throws -> RecomputeReport {
            RecomputeReport(engagements: 1, engagementsInWindow: 1, items: 1, windowEndMillis: 0, seconds: 0, swapped: true)
        }
        func undeliverable(limit: Int) async throws -> UndeliverableList { UndeliverableList(total: 0, records: []) }
    }

    @Test(arguments: [
        ("127.0.0.1", nil, nil, HTTPResponse.Status.ok),
        ("0.0.0.0", nil, nil, .forbidden),
        ("0.0.0.0", "s3cret-token-0123456789", nil, .unauthorized),
        ("0.0.0.0", "s3cret-token-0123456789", "Bearer wrong-token-0123456789", .unauthorized),
        ("0.0.0.0", "s3cret-token-0123456789", "Bearer s3cret-token-0123456789", .ok),
    ] as [(String, String?, String?, HTTPResponse.Status)])
    func adminRoutesNeedTheTokenOffLoopback(host: String, token: String?, header: String?, expected: HTTPResponse.Status) async throws {
        let admin = CountingAdmin()
        let api = makeAPI()
        var configuration = api.configuration
        configuration.host = host
        configuration.adminToken = token
        let app = Application(router: QueryAPI(configuration: configuration, queries: api.queries, metricsRegistry: nil, admin: admin).buildRouter())
        try await app.test(.router) { client in
            var headers = HTTPFields()
            if let header { headers[.authorization] = header }
            try await client.execute(uri: "/v1/admin/checkpoint", method: .post, headers: headers) { response in
                #expect(response.status == expected)
                if expected == .ok {
                    let body = try jsonObject(response.body)
                    #expect(body["path"] as? String == "/tmp/cp")
                }
            }
        }
        #expect(admin.calls == (expected == .ok ? 1 : 0))
    }

    @Test func readRouterServesNoAdminRoutes() {
        let api = QueryAPI(configuration: makeAPI().configuration, queries: makeAPI().queries, metricsRegistry: nil, admin: CountingAdmin())
        #expect(!api.buildRouter(.read).routes.contains { "\($0.path)".contains("admin") })
        #expect(api.buildRouter(.admin).routes.contains { "\($0.path)".contains("checkpoint") })
    }

    /// Every route the server registers is in Schemas/openapi.yaml, and every path there is served.
    @Test func routesMatchTheOpenAPISpec() throws {
        let specURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Schemas/openapi.yaml")
        let spec = try #require(try Yams.load(yaml: String(contentsOf: specURL, encoding: .utf8)) as? [String: Any])
        let paths = try #require(spec["paths"] as? [String: [String: Any]])
        var specRoutes = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { specRoutes.insert("\(method.uppercased()) \(path)") }
        }
        let served = Set(
            QueryAPI(configuration: makeAPI().configuration, queries: makeAPI().queries, metricsRegistry: nil, admin: CountingAdmin())
                .buildRouter().routes.map { route -> String in
                let path = route.path.description.split(separator: "/").map { part in
                    part.hasPrefix(":") ? "{\(part.dropFirst())}" : String(part)
                }.joined(separator: "/")
                return "\(route.method.rawValue) /\(path)"
            })
        #expect(served == specRoutes)
    }
}

@Suite("Switched-off families")
struct DisabledFamilyRouteTests {
    @Test(arguments: [
        ("/v1/items/i1/stats", "item_stats.enabled"), ("/v1/items/top", "item_stats.enabled"), ("/v1/items/stats", "item_stats.enabled"),
        ("/v1/items/i1/similar", "cooccurrence.enabled"), ("/v1/items/similar", "cooccurrence.enabled"),
        ("/v1/users/u1/history", "cooccurrence.enabled"), ("/v1/admin/recompute", "cooccurrence.enabled"),
        ("/v1/users/u1/exposures/filter", "exposure.enabled"), ("/v1/users/u1/exposures/summary", "exposure.enabled"),
        ("/v1/exposures/check", "exposure.enabled"), ("/v1/items/i1/seeds", "lookalike.enabled"),
        ("/v1/lookalike/score", "lookalike.enabled"), ("/v1/retrieve", "embedding.enabled"),
        ("/v1/users/u1/embedding", "embedding.enabled"),
    ])
    func everyRouteOfAFamilyNamesItsSetting(path: String, setting: String) {
        #expect(DisabledFamilyMiddleware<BasicRequestContext>.setting(for: path) == setting)
    }

    @Test func unrelatedRoutesBelongToNoFamily() {
        for path in ["/v1/status", "/v1/cluster", "/healthz", "/v1/admin/models", "/v1/admin/undeliverable"] {
            #expect(DisabledFamilyMiddleware<BasicRequestContext>.setting(for: path) == nil)
        }
    }
}
