import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamTesting
import Testing

/// Item statistics and exposure filters at home in the store behind a cache far smaller than the state: answers stay
/// exact while entries are evicted, read back, killed and restarted.
@Suite("Paged state: a cache smaller than the state", .serialized, .processSlot)
struct PagedStateTests {
    @Test(.timeLimit(.minutes(8)))
    func statisticsStayExactWhenMostEntriesLiveOnlyInTheStore() async throws {
        let broker = try RecstreamProcess(["broker"])
        defer { broker.signal(SIGKILL) }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let stateDir = try TemporaryDirectory("paged")
        defer { stateDir.remove() }

        var config = GeneratorConfiguration(seed: 15, events: 60_000)
        config.users = 20_000
        config.items = 20_000
        config.itemsPerCommunity = 500
        let events = Array(EventGenerator(config))
        let producer = try TestProducer(bootstrap)
        var reference = ReferenceItemStats(configuration: ShardConfiguration())
        func produce(_ slice: ArraySlice<Event>) throws {
            for event in slice {
                let partition = testPartition(of: event.userID, partitions: 8)
                _ = reference.offer(event, partition: partition)
                try producer.send(event, partition: partition)
            }
            try producer.flush()
        }
        func start() throws -> RecstreamProcess {
            try RecstreamProcess([
                "run", "--brokers", bootstrap, "--state-dir", stateDir.path, "--http-address", "127.0.0.1:0",
                "--set", "state.cache_bytes=1048576", "--set", "state.commit_interval_ms=200", "--log-level", "warning",
            ])
        }
        let half = events.count / 2
        try produce(events[..<half])

        // Killed while it works through the first half: the store holds what was committed.
        let first = try start()
        let firstAPI = try await first.value(after: "api:")
        try await eventually(stall: .seconds(60), "a third of the first half committed", progress: {
            let committed = committedRecords(try await status(firstAPI))
            return committed >= half / 3 ? .done : .waiting([committed])
        })
        first.signal(SIGKILL)
        _ = try await first.waitForExit()

        try produce(events[half...])
        let second = try start()
        let api = try await second.value(after: "api:")
        try await awaitConsumed(api, count: events.count)

        // Most entries were evicted: the cache holds a small part of the state.
        let s = try await status(api)
        let cache = try #require(s["cache"] as? [String: Any])
        #expect(cache["budget_bytes"] as? Int == 1_048_576)
        let resident = try #require(cache["resident_bytes"] as? Int)
        #expect(resident <= 1_048_576)
        #expect((cache["evicted_bytes"] as? Int ?? 0) > 4 * 1_048_576)
        #expect((cache["loads"] as? Int ?? 0) > 10_000)

        let items = reference.itemIDs.sorted()
        #expect(items.count > 8_000)
        for (id, item) in try await fetchItemStats(api, items, chunk: 500) {
            try expectWindowCounts(item, of: id, match: reference)
        }

        // The ranking covers the store, not only the resident entries.
        for (type, window) in [(EventType.click, StatsWindow.oneHour), (.exposure, .thirtyDays)] {
            let (code, body, _) = try await http(api + "/v1/items/top?type=\(type.name)&window=\(window.rawValue)&limit=50")
            #expect(code == 200)
            let ranked = ((body as? [String: Any])?["items"] as? [[String: Any]] ?? []).map {
                ($0["item_id"] as? String ?? "", $0["count"] as? Int ?? -1)
            }
            let expected = items.map { ($0, Int(reference.count(itemID: $0, type: type, window: window))) }
                .filter { $0.1 > 0 }
                .sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
                .prefix(50)
            #expect(ranked.map(\.0) == expected.map(\.0), "\(type.name) \(window.rawValue)")
            #expect(ranked.map(\.1) == expected.map(\.1), "\(type.name) \(window.rawValue)")
        }
        // Exposure filters are paged too: every user's exposures, most read back from the store
        // (evicted, or not loaded since the restart), are all found.
        var exposedItems: [String: Set<String>] = [:]
        for event in events where event.type == .exposure { exposedItems[event.userID, default: []].insert(event.itemID) }
        #expect(exposedItems.count > 1_500)
        var falseNegatives = 0
        var checked = 0
        for (user, items) in exposedItems.sorted(by: { $0.key < $1.key }) {
            let seen = Array(items)
            for chunk in stride(from: 0, to: seen.count, by: 2_000).map({ Array(seen[$0..<min($0 + 2_000, seen.count)]) }) {
                let (code, body, text) = try await http(api + "/v1/users/\(user)/exposures/filter", method: .POST, json: ["items": chunk])
                #expect(code == 200, "\(text)")
                falseNegatives += ((body as? [String: Any])?["items"] as? [String] ?? []).count
                checked += chunk.count
            }
        }
        #expect(falseNegatives == 0, "\(falseNegatives) of \(checked) exposures not found")
        let families = try #require(s["state"] as? [[String: Any]])
        let exposureBytes = families.filter { $0["family"] as? String == "exposure_filter" }.reduce(0) { $0 + ($1["bytes"] as? Int ?? 0) }
        #expect(exposureBytes <= 1_048_576, "exposure filters hold \(exposureBytes) bytes in memory")

        // A restart answers for every partition at once: after a kill -9, every answer from the
        // first on finds an exposure of each partition (a shard still loading must not answer
        // "not exposed" beside one already loaded).
        var probes: [[String: String]] = []
        var probed = Set<Int32>()
        for event in events where event.type == .exposure && probed.insert(testPartition(of: event.userID, partitions: 8)).inserted {
            probes.append(["user_id": event.userID, "item_id": event.itemID])
        }
        #expect(probes.count == 8)
        second.signal(SIGKILL)
        _ = try await second.waitForExit()
        let third = try start()
        let thirdAPI = try await third.value(after: "api:")
        var answers = 0
        var incomplete = 0
        var refused = 0
        while answers < 200 && refused < 60_000 {
            guard
                let (code, body, _) = try? await http(thirdAPI + "/v1/exposures/check", method: .POST, json: ["pairs": probes], budget: .seconds(10)),
                code == 200
            else {
                refused += 1
                continue
            }
            answers += 1
            if ((body as? [String: Any])?["exposed"] as? [Bool]) != Array(repeating: true, count: probes.count) { incomplete += 1 }
        }
        #expect(answers == 200)
        #expect(incomplete == 0, "\(incomplete) of \(answers) answers after the restart missed a partition's exposure")
        third.signal(SIGTERM)
        #expect(try await third.waitForExit() == 0)
    }
}
