import Foundation
import NIOHTTP1
import RecstreamBench
import RecstreamCore
import RecstreamRuntime
import RecstreamTesting
import Testing

@Suite("Embeddings end to end", .serialized, .processSlot)
struct EmbeddingEndToEndTests {
    /// Before any model: a full refresh of the empty log publishes nothing (the publish gate), and
    /// retrieval is 503. An incremental update runs while events keep arriving, is published
    /// and served; the scheduled updates continue; the incremental lineage together read every
    /// distinct engagement exactly once, and so does a full refresh; retrieval and the vector
    /// routes answer from the served model; a rollback serves the earlier version again.
    @Test(.timeLimit(.minutes(8)))
    func incrementalUpdatesWhileIngestingAreServedAndLoseNothing() async throws {
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("recstream-embed-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: stateDir) }
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--state-dir", stateDir,
            "--set", "state.commit_interval_ms=200",
            "--set", "embedding.incremental_interval_ms=1500", "--set", "embedding.full_refresh_time=off",
            "--set", "embedding.epochs=2", "--set", "embedding.incremental_epochs=1", "--set", "embedding.keep_versions=100",
            // A small instance: its first third holds about 500 training examples.
            "--set", "embedding.min_examples=200",
        ])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        // A full refresh of the empty log publishes nothing and says why (no empty model 1.0).
        let (emptyCode, emptyBody, emptyText) = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "full"])
        #expect(emptyCode == 200, "\(emptyText)")
        #expect((emptyBody as? [String: Any])?["published"] as? Bool == false, "\(emptyText)")
        #expect(((emptyBody as? [String: Any])?["message"] as? String)?.contains("below embedding.min_examples=200") == true)
        let emptyList = try await Self.models(api)
        #expect((emptyList["models"] as? [Any])?.isEmpty == true && emptyList["served"] == nil, "\(emptyList)")

        // Until its partitions are assigned the instance answers warming_up; then no_model.
        try await eventually(within: .seconds(60), "the instance to own its partitions") {
            !(try await status(api)["partitions"] as? [[String: Any]] ?? []).isEmpty
        }
        let (before, beforeBody, _) = try await http(api + "/v1/retrieve", method: .POST, json: ["user": "u1", "k": 10])
        #expect(before == 503)
        #expect(((beforeBody as? [String: Any])?["error"] as? [String: Any])?["code"] as? String == "no_model")

        var config = GeneratorConfiguration(seed: 21, events: 30_000)
        config.users = 400
        config.items = 300
        config.itemsPerCommunity = 60
        config.clickRate = 0.25
        config.lateFraction = 0
        config.duplicateFraction = 0.01
        let events = Array(EventGenerator(config))
        let weights = EngagementWeights()
        var seen = Set<String>()
        let engagements = events.filter { weights.isEngagement($0.type) && seen.insert($0.eventID).inserted }.count
        #expect(engagements > 2_000)

        let producer = try TestProducer(bootstrap)
        let third = events.count / 3
        for event in events[..<third] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await awaitConsumed(api, count: third)

        // The rest arrives while an incremental update trains and publishes.
        let rest = Array(events[third...])
        let producing = Task.detached {
            for (n, event) in rest.enumerated() {
                try producer.send(event, partition: testPartition(of: event.userID, partitions: 8))
                if n % 2_000 == 0 { try await Task.sleep(for: .milliseconds(50)) }
            }
            try producer.flush()
        }
        let (trainCode, trainBody, trainText) = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "incremental"])
        #expect(trainCode == 200, "\(trainText)")
        let report = trainBody as? [String: Any] ?? [:]
        let served = try await Self.models(api)["served"] as? String
        #expect(served != nil && served?.hasPrefix("0.") == true, "\(trainText)")
        // The status's state table lists the served model with its ids.
        let families = try await status(api)["state"] as? [[String: Any]] ?? []
        let model = families.first { $0["family"] as? String == "embedding_model" }
        #expect((model?["entries"] as? Int ?? 0) > 0, "\(families)")
        try await producing.value
        try await awaitConsumed(api, count: events.count)

        // After the last commit, one more update (or the scheduled one) reads what is left.
        _ = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "incremental"])
        let list = try await Self.models(api)
        // A version the publish gate held back is retrained by the next update from the served one.
        let lineage = (list["models"] as? [[String: Any]] ?? []).filter {
            ($0["version"] as? String)?.hasPrefix("0.") == true && ($0["gate"] as? [String: Any])?["decision"] as? String != "held_back"
        }
        let read = lineage.reduce(0) { $0 + ($1["engagements_used"] as? Int ?? 0) }
        #expect(read == engagements, "incrementals \(lineage.map { "\($0["version"] ?? "?"):\($0["engagements_used"] ?? "?")" }); first report \(report)")
        #expect(lineage.count >= 2)

        let (fullCode, fullBody, fullText) = try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "full"])
        #expect(fullCode == 200, "\(fullText)")
        print("embeddings end to end, full refresh: \((fullBody as? [String: Any])?["message"] ?? fullText)")
        let manifest = (fullBody as? [String: Any])?["manifest"] as? [String: Any] ?? [:]
        #expect(manifest["version"] as? String == "1.0" && (fullBody as? [String: Any])?["served"] as? Bool == true, "\(fullText)")
        #expect(manifest["engagements_used"] as? Int == engagements)

        let user = events.first { weights.isEngagement($0.type) }!.userID
        let (code, body, text) = try await http(api + "/v1/retrieve", method: .POST, json: ["user": user, "k": 20])
        #expect(code == 200, "\(text)")
        let retrieval = body as? [String: Any] ?? [:]
        #expect(retrieval["model_version"] as? String == "1.0")
        let items = retrieval["items"] as? [[String: Any]] ?? []
        #expect(items.count == 20)
        // None of them was shown to the user.
        let ids = items.compactMap { $0["item_id"] as? String }
        let (_, filtered, _) = try await http(api + "/v1/users/\(user)/exposures/filter", method: .POST, json: ["items": ids])
        #expect((filtered as? [String: Any])?["removed"] as? Int == 0)

        let (userCode, userBody, _) = try await http(api + "/v1/users/\(user)/embedding")
        #expect(userCode == 200)
        #expect(((userBody as? [String: Any])?["vector"] as? [Any])?.count == 32)
        let (itemCode, _, _) = try await http(api + "/v1/items/\(ids[0])/embedding")
        #expect(itemCode == 200)
        let (unknownCode, _, _) = try await http(api + "/v1/items/no-such-item/embedding")
        #expect(unknownCode == 404)

        let rollback = try RecstreamProcess(["admin", "rollback", "0.1", "--api", api, "--json"])
        #expect(try await rollback.waitForExit(within: .seconds(120)) == 0)
        let rolled = try JSONSerialization.jsonObject(with: Data(rollback.lines.joined().utf8)) as? [String: Any]
        #expect(rolled?["served"] as? String == "0.1")
        #expect(run.process.isRunning)

        // A full refresh requested over the API is still running when SIGTERM arrives: it stops at
        // its next batch, publishes nothing, and the process exits cleanly.
        let training = Task { try await http(api + "/v1/admin/train", method: .POST, json: ["mode": "full"]).status }
        try await Task.sleep(for: .milliseconds(300))
        run.signal(SIGTERM)
        #expect(try await run.waitForExit(within: .seconds(30)) == 0)
        _ = try? await training.value

        // Offline on the stopped instance's directory: a new full version, served at the next start.
        let offline = try RecstreamProcess([
            "train", "--mode", "full", "--state-dir", stateDir, "--set", "embedding.epochs=1", "--json",
        ])
        #expect(try await offline.waitForExit(within: .seconds(300)) == 0)
        let trained = try JSONSerialization.jsonObject(with: Data(offline.lines.joined().utf8)) as? [String: Any]
        let version = (trained?["manifest"] as? [String: Any])?["version"] as? String
        #expect(trained?["published"] as? Bool == true && version?.hasSuffix(".0") == true)
        let current = try String(contentsOfFile: stateDir + "/models/CURRENT", encoding: .utf8)
        #expect(current.trimmingCharacters(in: .whitespacesAndNewlines) == version)
    }

    static func models(_ api: String) async throws -> [String: Any] {
        let (code, body, text) = try await http(api + "/v1/admin/models")
        guard code == 200, let object = body as? [String: Any] else {
            throw RecstreamProcess.Failure(description: "models: HTTP \(code) \(text)")
        }
        return object
    }
}
