import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Look-alike end to end", .serialized, .processSlot)
struct LookalikeEndToEndTests {
    /// Engagements produced through Kafka become every item's seed list: the users, their latest
    /// engagement times, the count and the cold-start gate equal a reference computed from the
    /// produced events; before any embedding model exists, score and expand answer 503 with the
    /// reason, while the seeds are served.
    @Test(.timeLimit(.minutes(6)))
    func seedsMatchTheReferenceAndScoresWaitForAModel() async throws {
        let minimumSeeds = 8
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=200",
            "--set", "lookalike.minimum_seeds=\(minimumSeeds)", "--set", "lookalike.seeds_per_item=40",
            "--set", "lookalike.summary_interval_ms=1000", "--set", "lookalike.clusters=4",
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
        #expect(try await admin.waitForExit(within: .seconds(120)) == 0)
        let shown = try #require(
            try JSONSerialization.jsonObject(with: Data(admin.lines.joined().utf8)) as? [String: Any])
        #expect(shown["count"] as? Int == min(latest[item]!.count, 40))
            // With a model: train one through the admin route, then the summary job picks it up.
        let (trained, _, trainText) = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "full"])
        #expect(trained == 200, "\(trainText)")
        let items = latest.keys.sorted()
        let scorer = latest[items.first { (latest[$0]?.count ?? 0) >= minimumSeeds }!]!.keys.sorted().last!
        var scored: [String: Double] = [:]
        var lastAnswer = ""
        var fewVectors = 0
        try await eventually(within: .seconds(180), "every gated item scored with the new model (last answer: \(lastAnswer.prefix(600)))") {
            let (code, body, text) = try await http(api + "/v1/lookalike/score", method: .POST, json: ["user": scorer, "items": items] as [String: Any])
            lastAnswer = text
            guard code == 200, let entries = (body as? [String: Any])?["items"] as? [[String: Any]] else { return false }
            scored = [:]
            fewVectors = 0
            for entry in entries {
                guard let id = entry["item_id"] as? String else { return false }
                let seeds = min(latest[id]?.count ?? 0, 40)
                let status = entry["status"] as? String
                if seeds < minimumSeeds {
                    // The cold-start gate is a per-item flag, never a score.
                    guard status == "below_minimum_seeds", entry["cold_start"] as? Bool == true, entry["score"] == nil else {
                        lastAnswer = "\(entry)"
                        return false
                    }
                } else if status == "too_few_seed_vectors" {
                    // Past the gate, but too few seed users have a vector in this model: a flag too.
                    guard entry["cold_start"] as? Bool == true, entry["score"] == nil else { return false }
                    fewVectors += 1
                } else {
                    guard status == "scored", let score = (entry["score"] as? NSNumber)?.doubleValue else {
                        lastAnswer = "\(entry) (reference: \(seeds) seeds)"
                        return false
                    }
                    scored[id] = score
                }
            }
            return true
        }
        #expect(scored.count + fewVectors == gated && scored.count > gated / 2, "\(scored.count) scored, \(fewVectors) with too few vectors, \(gated) gated")
        #expect(scored.values.allSatisfy { $0.isFinite && $0 >= -1.000001 && $0 <= 1.000001 })

        // Expansion: the exact answer and the IVF answer, both excluding the seeds, best first; the
        // exact one is optimal rank by rank, and its scores are the score route's for those users.
        let target = items.first { (latest[$0]?.count ?? 0) >= minimumSeeds }!
        let seedSet = Set(latest[target]!.sorted { $0.value > $1.value }.prefix(40).map(\.key))
        func expand(exact: Bool) async throws -> [(String, Double)] {
            let (code, body, text) = try await http(api + "/v1/lookalike/expand", method: .POST, json: ["item": target, "k": 20, "exact": exact] as [String: Any])
            #expect(code == 200, "\(text)")
            return ((body as? [String: Any])?["users"] as? [[String: Any]] ?? []).map {
                ($0["user_id"] as? String ?? "", ($0["score"] as? NSNumber)?.doubleValue ?? .nan)
            }
        }
        let exact = try await expand(exact: true)
        let approximate = try await expand(exact: false)
        #expect(exact.count == 20 && approximate.count == 20)
        for answer in [exact, approximate] {
            #expect(answer.allSatisfy { !seedSet.contains($0.0) }, "seeds are never expanded to")
            #expect(zip(answer, answer.dropFirst()).allSatisfy { $0.1 >= $1.1 }, "best first")
        }
        #expect(zip(exact, approximate).allSatisfy { $0.1 >= $1.1 - 1e-6 }, "the exact answer is optimal rank by rank")
        for (user, score) in exact.prefix(5) {
            let (_, body, _) = try await http(api + "/v1/lookalike/score", method: .POST, json: ["user": user, "items": [target]] as [String: Any])
            let entry = ((body as? [String: Any])?["items"] as? [[String: Any]])?.first
            let direct = (entry?["score"] as? NSNumber)?.doubleValue ?? .nan
            #expect(abs(direct - score) < 1e-4, "\(user): expansion \(score), score route \(direct)")
        }
            // The admin CLI shows the same answers.
        let score = try RecstreamProcess(["admin", "score", scorer, target, "--api", api, "--json"])
        #expect(try await score.waitForExit(within: .seconds(120)) == 0)
        let scoreAnswer = try JSONSerialization.jsonObject(with: Data(score.lines.joined().utf8)) as? [String: Any]
        let cliScore = ((scoreAnswer?["items"] as? [[String: Any]])?.first?["score"] as? NSNumber)?.doubleValue
        #expect(cliScore != nil && abs(cliScore! - scored[target]!) < 1e-6)
        let retrieve = try RecstreamProcess(["admin", "retrieve", scorer, "--k", "7", "--api", api, "--json"])
        #expect(try await retrieve.waitForExit(within: .seconds(120)) == 0)
        let retrieved = try JSONSerialization.jsonObject(with: Data(retrieve.lines.joined().utf8)) as? [String: Any]
        #expect((retrieved?["items"] as? [Any])?.count == 7)
    }
}
