import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Exposure filters end to end", .serialized, .processSlot)
struct ExposureEndToEndTests {
    /// Exposures produced through Kafka: every exposed (user, item) is filtered out, unseen
    /// candidates pass (up to the false-positive target), and the admin CLI agrees.
    @Test(.timeLimit(.minutes(6)))
    func exposedItemsAreFilteredWithNoFalseNegatives() async throws {
        let run = try RecstreamProcess(["run", "--http-address", "127.0.0.1:0", "--log-level", "warning", "--set", "state.commit_interval_ms=200"])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        var config = GeneratorConfiguration(seed: 5, events: 40_000)
        config.users = 500
        config.items = 5_000
        config.itemsPerCommunity = 500
        let events = Array(EventGenerator(config))
        let producer = try TestProducer(bootstrap)
        for event in events { try producer.send(event) }
        try producer.flush()
        try await awaitConsumed(api, count: events.count)

        var exposedItems: [String: Set<String>] = [:]
        for event in events where event.type == .exposure { exposedItems[event.userID, default: []].insert(event.itemID) }
        var falseNegatives = 0
        var falsePositives = 0
        var probes = 0
        for (user, items) in exposedItems.sorted(by: { $0.key < $1.key }) {
            let seen = Array(items)
            let unseen = (0..<200).map { "never-\(user)-\($0)" }
            for chunk in stride(from: 0, to: seen.count, by: 2_000).map({ Array(seen[$0..<min($0 + 2_000, seen.count)]) }) {
                let (code, body, text) = try await http(api + "/v1/users/\(user)/exposures/filter", method: .POST, json: ["items": chunk])
                #expect(code == 200, "\(text)")
                falseNegatives += ((body as? [String: Any])?["items"] as? [String] ?? []).count
            }
            let (_, body, _) = try await http(api + "/v1/users/\(user)/exposures/filter", method: .POST, json: ["items": unseen])
            falsePositives += unseen.count - (((body as? [String: Any])?["items"] as? [String])?.count ?? 0)
            probes += unseen.count
        }
        #expect(falseNegatives == 0)
        let rate = Double(falsePositives) / Double(probes)
        print("exposure filter end to end: \(probes) unseen candidates, measured false-positive rate \(rate)")
        #expect(rate <= 0.012)

        let (user, items) = exposedItems.first { $0.value.count > 3 }!
        let cli = try RecstreamProcess(["admin", "exposed", user, items.first!, "never-shown", "--api", api, "--json"])
        #expect(try await cli.waitForExit() == 0)
        let answer = try #require(try JSONSerialization.jsonObject(with: Data(cli.lines.joined().utf8)) as? [String: Any])
        let exposed = answer["exposed"] as? [String: Bool]
        #expect(exposed?[items.first!] == true)
        let (code, summary, _) = try await http(api + "/v1/users/\(user)/exposures/summary")
        #expect(code == 200)
        #expect(((summary as? [String: Any])?["estimated_count"] as? Int ?? 0) >= items.count)
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
