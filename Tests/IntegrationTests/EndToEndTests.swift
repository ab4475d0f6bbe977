import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("End to end: the recstream binary on its embedded broker", .serialized, .processSlot)
struct EndToEndTests {
    /// Produce a generated stream (plus events beyond the allowed lateness) through a real Kafka
    /// client, let `recstream run` consume it, and compare every item's statistics over HTTP with
    /// the brute-force reference.
    @Test(.timeLimit(.minutes(6)))
    func producedEventsAreQueryableAndMatchTheReference() async throws {
        let run = try RecstreamProcess(["run", "--http-address", "127.0.0.1:0", "--set", "state.commit_interval_ms=200", "--log-level", "warning"])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        var config = GeneratorConfiguration(seed: 7, events: 30_000)
        config.users = 3_000
        config.items = 400
        config.itemsPerCommunity = 100
        var events = Array(EventGenerator(config))
        // Events far older than the watermark (the lateness is 10 minutes): dropped and counted.
        let last = events.last!
        for n in 0..<5 {
            events.append(Event(eventID: "late-\(n)", type: .click, userID: last.userID, itemID: "i1", time: EventTime(millis: last.time.millis - 3_600_000)))
        }

        let producer = try TestProducer(bootstrap)
        var reference = ReferenceItemStats(configuration: ShardConfiguration())
        for event in events {
            let partition = testPartition(of: event.userID, partitions: 8)
            reference.offer(event, partition: partition)
            try producer.send(event, partition: partition)
        }
        try producer.flush()
        try await awaitConsumed(api, count: events.count)

        let items = reference.itemIDs.sorted()
        #expect(items.count > 100)
        for (id, item) in try await fetchItemStats(api, items) {
            #expect(item["now"] as? Int64 == reference.now?.millis)
            try expectWindowCounts(item, of: id, match: reference)
            let windows = try #require(item["windows"] as? [String: [String: Any]])
            for type in EventType.allCases {
                let all = windows["all"]?["counts"] as? [String: Int]
                #expect(all?[type.name].map(UInt64.init) == reference.total(itemID: id, type: type), "\(id) \(type.name) all")
                let late = item["late_dropped"] as? [String: Int]
                #expect(late?[type.name].map(UInt64.init) == reference.lateDropped(itemID: id, type: type))
            }
        }
        let s = try await status(api)
        let lateTotal = (s["partitions"] as? [[String: Any]] ?? []).reduce(0) { $0 + ($1["late"] as? Int ?? 0) }
        #expect(lateTotal == reference.late.count)
        #expect(reference.late.count == 5)

        // The admin CLI renders the same state, and fails cleanly against a dead address.
        let admin = try RecstreamProcess(["admin", "item-stats", "i1", "--api", api, "--json"])
        #expect(try await admin.waitForExit() == 0)
        #expect(admin.lines.joined().contains("\"item_id\":\"i1\""))
        // The status for people reads the API's JSON back whole: offsets, not dashes.
        let human = try RecstreamProcess(["admin", "status", "--api", api])
        #expect(try await human.waitForExit() == 0, "\(human.errorLines)")
        let row = human.lines.first { $0.hasPrefix("recstream.events[0]") } ?? ""
        #expect(row.split(separator: " ").dropFirst().first.map { Int($0.replacingOccurrences(of: ",", with: "")) != nil } == true, "\(row)")
        let unreachable = try RecstreamProcess(["admin", "status", "--api", "http://127.0.0.1:1"])
        #expect(try await unreachable.waitForExit() == 1)
        #expect(unreachable.errorLines.count == 1)
        #expect(unreachable.errorLines.first?.contains("cannot reach") == true)

        // A checkpoint is a consistent, openable copy of the committed state.
        let checkpoint = try RecstreamProcess(["admin", "checkpoint", "--api", api, "--json"])
        #expect(try await checkpoint.waitForExit(within: .seconds(300)) == 0)
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(checkpoint.lines.joined().utf8)) as? [String: Any], "\(checkpoint.errorLines)")
        let copy = try #require(report["path"] as? String)
        defer { try? FileManager.default.removeItem(atPath: copy) }
        let dump = try RecstreamProcess(["state", "dump", "--state-dir", copy])
        #expect(try await dump.waitForExit(within: .seconds(300)) == 0)
        let dumpedItems = Set(dump.lines.filter { $0.hasPrefix("item ") }.compactMap { line in
            line.split(separator: " ").first { $0.hasPrefix("id=") }.map { String($0.dropFirst(3)) }
        })
        #expect(dumpedItems == reference.itemIDs)

        // SIGTERM: commits, leaves the group and exits 0.
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
