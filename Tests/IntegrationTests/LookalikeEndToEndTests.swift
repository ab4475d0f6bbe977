import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Look-alike end to end", .serialized)
struct LookalikeEndToEndTests {
    /// Engagements produced through Kafka become every item's seed list: the users, their latest
    /// engagement times, the count and the cold-start gate equal a reference computed from the
    /// produced events; before any embedding model exists, score and expand answer 503 with the
    /// reason, while the seeds are served.
    @Test(.timeLimit(.minutes(3)))
    func seedsMatchTheReferenceAndScoresWaitForAModel() async throws {
        let minimumSeeds = 8
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=200",
            "--set", "lookalike.minimum_seeds=\(minimumSeeds)", "--set", "lookalike.seeds_per_item=40",
        ])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        var config = GeneratorConfiguration(seed: 17, events: 20_000)
        config.users = 400
        config.items = 120
        config.itemsPerCommunity = 30
        config.clickRate = 0.25
        let events = Array(EventGenerator(config))
        let producer = try TestProducer(bootstrap)
        for event in events { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await awaitConsumed(api, count: events.count)

        // The reference: per item, each distinct engager's latest engagement time (retries removed),
        // the 40 most recent kept.
        var latest: [String: [String: Int64]] = [:]
        var seen = Set<String>()
        for event in events where event.type.isEngagement && seen.insert(event.eventID).inserted {
            latest[event.itemID, default: [:]][event.userID] = max(
                latest[event.itemID]?[event.userID] ?? Int64.min, event.time.millis)
        }
        func ordered(_ seeds: [(String, Int64)]) -> [String] {
            seeds.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.map { "\($0.0)@\($0.1)" }
        }
        var gated = 0
        var capped = 0
        for (item, users) in latest.sorted(by: { $0.key < $1.key }) {
            let reference = Array(ordered(users.map { ($0.key, $0.value) }).prefix(40))
            let (code, body, text) = try await http(api + "/v1/items/\(item)/seeds?limit=1000")
            #expect(code == 200, "\(item): \(text)")
            let object = body as? [String: Any] ?? [:]
            let seeds = (object["seeds"] as? [[String: Any]] ?? []).map {
                ($0["user_id"] as? String ?? "", ($0["time_ms"] as? NSNumber)?.int64Value ?? 0)
            }
            // Newest first as served (ties in arrival order); compared with ties ordered by user.
            #expect(zip(seeds, seeds.dropFirst()).allSatisfy { $0.1 >= $1.1 }, "\(item) is not newest first")
            #expect(ordered(seeds) == reference, "\(item)")
            #expect(object["count"] as? Int == reference.count, "\(item)")
            #expect(object["passes_gate"] as? Bool == (reference.count >= minimumSeeds), "\(item)")
            if reference.count >= minimumSeeds { gated += 1 }
            if users.count > 40 { capped += 1 }
        }
        #expect(
            gated > 10 && gated < latest.count, "both sides of the gate are exercised (\(gated) of \(latest.count))")
        #expect(capped > 0, "some items hit the cap")
        let (unknown, _, _) = try await http(api + "/v1/items/no-such-item/seeds")
        #expect(unknown == 404)

        // No embedding model yet: 503 with the reason, for both look-alike routes.
        let item = latest.keys.sorted()[0]
        let user = latest[item]!.keys.sorted()[0]
        for (path, body) in [
            ("/v1/lookalike/score", ["user": user, "items": [item]] as [String: Any]),
            ("/v1/lookalike/expand", ["item": item, "k": 10] as [String: Any]),
        ] {
            let (code, answer, text) = try await http(api + path, method: .POST, json: body)
            #expect(code == 503, "\(path): \(text)")
            let error = (answer as? [String: Any])?["error"] as? [String: Any]
            #expect(error?["code"] as? String == "no_model", "\(path): \(text)")
            let message = error?["message"] as? String ?? ""
            #expect(message.contains("no embedding model is installed"), "\(path): \(text)")
        }

        // The admin command shows the same list.
        let admin = try RecstreamProcess(["admin", "seeds", item, "--api", api, "--json", "--limit", "1000"])
        #expect(try await admin.waitForExit(within: .seconds(30)) == 0)
        let shown = try #require(
            try JSONSerialization.jsonObject(with: Data(admin.lines.joined().utf8)) as? [String: Any])
        #expect(shown["count"] as? Int == min(latest[item]!.count, 40))
    }
}
