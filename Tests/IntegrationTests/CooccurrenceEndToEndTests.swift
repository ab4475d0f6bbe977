import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("ItemCF and Swing end to end", .serialized, .processSlot)
struct CooccurrenceEndToEndTests {
    /// Engagements produced through Kafka become ItemCF and Swing neighbours and LastN histories;
    /// after the admin recompute, every item's top-20 lists equal the brute-force reference to 1e-9.
    @Test(.timeLimit(.minutes(8)))
    func similarItemsMatchTheReferenceAfterTheExactRecompute() async throws {
        let run = try RecstreamProcess([
            "run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=200",
        ])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        var config = GeneratorConfiguration(seed: 11, events: 60_000)
        config.users = 800
        config.items = 300
        config.itemsPerCommunity = 60
        config.clickRate = 0.25
        let events = Array(EventGenerator(config))
        let producer = try TestProducer(bootstrap)
        for event in events { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await awaitConsumed(api, count: events.count)

        // The reference: every distinct engagement (retries removed), ids mapped to indices.
        let configuration = CooccurrenceConfiguration.default
        var userIndex: [String: Int32] = [:]
        var itemIndex: [String: Int32] = [:]
        var itemName: [Int32: String] = [:]
        var seen = Set<String>()
        var engagements: [Engagement] = []
        var lastEngaged: [String: (item: String, time: Int64)] = [:]
        for event in events where configuration.weights.isEngagement(event.type) && seen.insert(event.eventID).inserted {
            let u = userIndex[event.userID] ?? Int32(userIndex.count)
            userIndex[event.userID] = u
            let i = itemIndex[event.itemID] ?? Int32(itemIndex.count)
            itemIndex[event.itemID] = i
            itemName[i] = event.itemID
            engagements.append(Engagement(user: u, item: i, type: event.type, time: event.time))
            if (lastEngaged[event.userID]?.time ?? Int64.min) < event.time.millis { lastEngaged[event.userID] = (event.itemID, event.time.millis) }
        }
        #expect(engagements.count > 3_000)
        let window = CooccurrenceWindow(end: engagements.map(\.time).max()!, lengthMillis: configuration.windowMillis)
        let itemCF = ReferenceItemCF(engagements: engagements, window: window, configuration: configuration)
        let swing = ReferenceSwing(engagements: engagements, window: window, configuration: configuration)

        let recompute = try RecstreamProcess(["admin", "recompute", "--api", api, "--json"])
        #expect(try await recompute.waitForExit(within: .seconds(300)) == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(recompute.lines.joined().utf8)) as? [String: Any])
        #expect(report["swapped"] as? Bool == true)
        #expect(report["engagements_in_window"] as? Int == engagements.count)

        var compared = 0
        for (name, item) in itemIndex.sorted(by: { $0.key < $1.key }) {
            for (method, reference) in [("itemcf", itemCF.scores[item] ?? [:]), ("swing", swing.scores[item] ?? [:])] {
                let (code, body, text) = try await http(api + "/v1/items/\(name)/similar?method=\(method)&k=20")
                let expectedTop = ReferenceRanking.top(reference, 20)
                guard code == 200 else {
                    #expect(code == 404 && expectedTop.isEmpty, "\(name) \(method): \(text)")
                    continue
                }
                let got = ((body as? [String: Any])?["items"] as? [[String: Any]] ?? []).map {
                    (id: $0["item_id"] as? String ?? "", score: $0["score"] as? Double ?? -1)
                }
                #expect(got.count == expectedTop.count, "\(name) \(method)")
                for (rank, (id, score)) in got.enumerated() {
                    // Same scores rank by rank; each returned neighbour's score is its reference score.
                    #expect(abs(score - expectedTop[rank].score) <= 1e-9, "\(name) \(method) rank \(rank)")
                    let pairScore = itemIndex[id].flatMap { reference[$0] } ?? -1
                    #expect(abs(score - pairScore) <= 1e-9, "\(name) \(method) \(id)")
                }
                compared += 1
            }
        }
        #expect(compared > 200)

        // LastN: newest engaged item first.
        for (user, last) in lastEngaged.prefix(50) {
            let (code, body, _) = try await http(api + "/v1/users/\(user)/history")
            #expect(code == 200)
            let first = ((body as? [String: Any])?["items"] as? [[String: Any]])?.first
            #expect(first?["ts"] as? Int64 == last.time, "\(user)")
        }

        // Batch: neighbours of several items merged, the inputs left out.
        let some = Array(itemIndex.keys.sorted().prefix(3))
        let (code, body, _) = try await http(api + "/v1/items/similar", method: .POST, json: ["items": some, "method": "swing", "k": 10])
        #expect(code == 200)
        let merged = ((body as? [String: Any])?["items"] as? [[String: Any]] ?? []).compactMap { $0["item_id"] as? String }
        #expect(!merged.isEmpty)
        #expect(Set(merged).isDisjoint(with: some))
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
