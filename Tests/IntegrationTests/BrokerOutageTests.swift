import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Broker outages", .serialized, .processSlot)
struct BrokerOutageTests {
    static func stream(seed: UInt64, events: Int) -> [Event] {
        var config = GeneratorConfiguration(seed: seed, events: events)
        config.users = 3_000
        config.items = 500
        config.itemsPerCommunity = 100
        return Array(EventGenerator(config))
    }

    /// Checks, after an outage, that every produced event was applied exactly once: consumed
    /// counts match and every item's all-time totals equal the reference.
    static func verifyExactlyOnce(api: String, events: [Event]) async throws {
        try await awaitConsumed(api, count: events.count)
        var reference = ReferenceItemStats(configuration: ShardConfiguration())
        for event in events { reference.offer(event, partition: testPartition(of: event.userID, partitions: 8)) }
        let items = reference.itemIDs.sorted()
        for chunk in stride(from: 0, to: items.count, by: 500).map({ Array(items[$0..<min($0 + 500, items.count)]) }) {
            let (_, body, _) = try await http(api + "/v1/items/stats", method: .POST, json: ["ids": chunk])
            let results = (body as? [String: Any])?["items"] as? [[String: Any]] ?? []
            #expect(results.count == chunk.count)
            for (id, result) in zip(chunk, results) {
                let all = (result["windows"] as? [String: [String: Any]])?["all"]?["counts"] as? [String: Int]
                for type in EventType.allCases {
                    #expect(all?[type.name].map(UInt64.init) == reference.total(itemID: id, type: type), "\(id) \(type.name)")
                }
            }
        }
    }

    /// The `recstream broker` process is frozen (SIGSTOP) for 30 s mid-stream and resumed: ingest
    /// pauses and resumes, the API keeps answering from the last state and reports the staleness,
    /// and nothing is lost or applied twice.
    @Test(.timeLimit(.minutes(8)))
    func frozenBrokerProcessLosesNothing() async throws {
        let broker = try RecstreamProcess(["broker"])
        defer {
            broker.signal(SIGCONT)
            broker.signal(SIGKILL)
        }
        let bootstrap = try await broker.value(after: "bootstrap:")
        let stateDir = try TemporaryDirectory("frozen")
        defer { stateDir.remove() }
        let run = try RecstreamProcess([
            "run", "--brokers", bootstrap, "--http-address", "127.0.0.1:0", "--log-level", "error", "--state-dir", stateDir.path,
            "--set", "state.commit_interval_ms=200",
        ])
        defer { run.signal(SIGKILL) }
        let api = try await run.value(after: "api:")
        let events = Self.stream(seed: 21, events: 40_000)
        let producer = try TestProducer(bootstrap)
        for event in events[..<20_000] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await awaitConsumed(api, count: 20_000)

        broker.signal(SIGSTOP)
        let outageStart = ContinuousClock.now
        var staleness: [Double] = []
        while ContinuousClock.now - outageStart < .seconds(30) {
            let s = try await status(api)
            #expect(consumedRecords(s) == 20_000, "nothing is consumed while the broker is frozen")
            staleness.append(s["seconds_since_last_record"] as? Double ?? -1)
            let (code, _, _) = try await http(api + "/v1/items/i1/stats")
            #expect(code == 200, "the API keeps answering from the last state")
            try await Task.sleep(for: .seconds(2))
        }
        #expect(staleness.last ?? 0 >= 25, "status reports the staleness: \(staleness)")
        broker.signal(SIGCONT)

        for event in events[20_000...] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await Self.verifyExactlyOnce(api: api, events: events)
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }

    /// The network to the broker is blackholed (the mock cluster delays every response by 20 s)
    /// and restored: the same guarantees.
    @Test(.timeLimit(.minutes(8)))
    func blackholedNetworkLosesNothing() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        try broker.createTopic("recstream.events", partitions: 8)
        try broker.createTopic("recstream.events.dlq", partitions: 1)
        let stateDir = try TemporaryDirectory("blackhole")
        defer { stateDir.remove() }
        let run = try RecstreamProcess([
            "run", "--brokers", broker.bootstrapServers, "--http-address", "127.0.0.1:0", "--log-level", "error", "--state-dir", stateDir.path,
            "--set", "state.commit_interval_ms=200",
        ])
        defer { run.signal(SIGKILL) }
        let api = try await run.value(after: "api:")
        let events = Self.stream(seed: 22, events: 30_000)
        let producer = try TestProducer(broker.bootstrapServers)
        for event in events[..<15_000] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await awaitConsumed(api, count: 15_000)

        try broker.setRoundTripTime(1, .seconds(20))
        let blackholeStart = ContinuousClock.now
        // Records produced during the blackhole wait in the producer and arrive afterwards.
        let late = try TestProducer(broker.bootstrapServers)
        while ContinuousClock.now - blackholeStart < .seconds(20) {
            let (code, _, _) = try await http(api + "/v1/status")
            #expect(code == 200)
            try await Task.sleep(for: .seconds(2))
        }
        try broker.setRoundTripTime(1, .zero)
        for event in events[15_000...] { try late.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try late.flush()
        try await Self.verifyExactlyOnce(api: api, events: events)
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
