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

    /// The `recstream broker` process is frozen (SIGSTOP) for 30 s mid-stream and resumed, while
    /// records keep being produced: they wait in the producer, in flight, for the whole outage.
    /// Ingest pauses and resumes, the API keeps answering from the last state and reports the
    /// staleness, and every event, those in flight included, is counted exactly once.
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
        let deliveredBefore = producer.producer.deliveredCount
        // 10,000 records produced during the outage, a slice every round: none can be delivered
        // before the broker thaws.
        var sent = 20_000
        var staleness: [Double] = []
        while ContinuousClock.now - outageStart < .seconds(30) {
            let slice = min(sent + 1_000, 30_000)
            for event in events[sent..<slice] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
            sent = slice
            let s = try await status(api)
            #expect(consumedRecords(s) == 20_000, "nothing is consumed while the broker is frozen")
            staleness.append(s["seconds_since_last_record"] as? Double ?? -1)
            let (code, _, _) = try await http(api + "/v1/items/i1/stats")
            #expect(code == 200, "the API keeps answering from the last state")
            // The outage's length is the point here: a pause, not a wait for anything.
            try await Task.sleep(for: .seconds(2))
        }
        let inFlight = producer.producer.inFlightCount
        print("frozen broker: \(sent - 20_000) records produced during the outage, \(inFlight) in flight at its end")
        #expect(sent == 30_000, "every record of the outage's share was produced while the broker was frozen")
        #expect(producer.producer.deliveredCount == deliveredBefore, "nothing is delivered to a frozen broker")
        #expect(inFlight == sent - 20_000, "the records produced during the outage are in flight when it ends")
        #expect(staleness.last ?? 0 >= 25, "status reports the staleness: \(staleness)")
        broker.signal(SIGCONT)

        for event in events[30_000...] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await Self.verifyExactlyOnce(api: api, events: events)
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }

    /// The network to the broker is blackholed (the mock cluster delays every response by 20 s)
    /// and restored, while records keep being produced: the same guarantees.
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
        // 7,500 records produced during the blackhole, a slice every round: each waits at least 20 s
        // for its acknowledgement, so they are still in flight when it ends.
        var sent = 15_000
        while ContinuousClock.now - blackholeStart < .seconds(20) {
            let slice = min(sent + 1_500, 22_500)
            for event in events[sent..<slice] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
            sent = slice
            let (code, _, _) = try await http(api + "/v1/status")
            #expect(code == 200)
            // The blackhole's length is the point here: a pause, not a wait for anything.
            try await Task.sleep(for: .seconds(2))
        }
        let inFlight = producer.producer.inFlightCount
        print("blackholed network: \(sent - 15_000) records produced during the blackhole, \(inFlight) in flight at its end")
        #expect(sent == 22_500, "every record of the blackhole's share was produced during it")
        #expect(inFlight > 0, "records produced during the blackhole are in flight when it ends")
        try broker.setRoundTripTime(1, .zero)
        for event in events[22_500...] { try producer.send(event, partition: testPartition(of: event.userID, partitions: 8)) }
        try producer.flush()
        try await Self.verifyExactlyOnce(api: api, events: events)
        run.signal(SIGTERM)
        #expect(try await run.waitForExit() == 0)
    }
}
