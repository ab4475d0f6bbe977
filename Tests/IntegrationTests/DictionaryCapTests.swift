import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

/// `state.max_dictionary_ids` bounds the id dictionaries: new ids beyond the cap are refused
/// (`dictionary_full`) while known ids keep working, before and after a restart.
@Suite("Bounded id dictionaries", .serialized, .processSlot)
struct DictionaryCapTests {
    static let cap = 1_000

    /// Exposure `n` of a fresh stream: user `du-n` shown item `di-n`, both new.
    static func fresh(_ n: Int) -> Event {
        Event(eventID: "f\(n)", type: .exposure, userID: "du-\(n)", itemID: "di-\(n)", time: EventTime(millis: 1_000_000 + Int64(n)))
    }

    /// Catches: a dictionary that traps at its cap (the process dies, awaitConsumed fails); one
    /// that ignores the cap (applied above 1,000, nothing refused); a refusal that blocks known
    /// ids (the clicks of early users on early items not applied); refused events missing from
    /// the dead-letter topic; a restart that cannot load a full dictionary or forgets the cap.
    @Test(.timeLimit(.minutes(2)))
    func onlyNewIdsBeyondTheCapAreRefusedAndKnownIdsKeepWorking() async throws {
        let broker = try singlePartitionBroker()
        defer { broker.shutdown() }
        let stateDir = try TemporaryDirectory("dictionary-cap")
        defer { stateDir.remove() }
        let producer = try TestProducer(broker.bootstrapServers)
        func start() throws -> RecstreamProcess {
            try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path, ["--set", "state.max_dictionary_ids=\(Self.cap)"])
        }

        // Each exposure names a new user and a new item: the user and item dictionaries of the
        // partition are full after the first 1,000, so offsets 1000..<3000 are refused.
        for n in 0..<3_000 { try producer.send(Self.fresh(n), partition: 0) }
        try producer.flush()
        var run = try start()
        defer { run.signal(SIGKILL) }
        var api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: 3_000)
        var p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == Self.cap)
        #expect(p["rejected"] as? [String: Int] == [RejectReason.dictionaryFull.rawValue: 3_000 - Self.cap])

        // Known ids after the cap is hit: early users click early items they were shown.
        var time: Int64 = 1_000_000 + 3_000
        for k in 0..<10 {
            let event = Event(eventID: "k\(k)", type: .click, userID: "du-\(k)", itemID: "di-\(k)", time: EventTime(millis: time))
            try producer.send(event, partition: 0)
            time += 1
        }
        try producer.flush()
        try await awaitConsumed(api, count: 3_010)
        p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == Self.cap + 10)
        let counts = try #require(try await itemCounts(api, "di-0"))
        #expect(counts["all"]?["exposure"] == 1)
        #expect(counts["all"]?["click"] == 1)
        #expect(try await unexposed(api, user: "du-0", candidates: ["di-0"]).isEmpty)
        #expect(run.process.isRunning)

        let dead = try await readWholeTopic(bootstrap: broker.bootstrapServers)
        #expect(dead.count == 3_000 - Self.cap)
        #expect(dead.allSatisfy { $0.headers["recstream.reason"] == RejectReason.dictionaryFull.rawValue })
        #expect(Set(dead.compactMap { $0.headers["recstream.source.offset"].flatMap(Int.init) }) == Set(Self.cap..<3_000))
        let metrics = try await http(api + "/metrics").text
        #expect(metrics.contains("recstream_dlq_records_total{reason=\"dictionary_full\"} \(3_000 - Self.cap)"))

        try await expectCleanExit(run)
        run = try start()
        api = try await run.value(after: "api:")
        // 100 more new ids (refused) and 10 known pairs shown again (applied).
        for n in 3_000..<3_100 { try producer.send(Self.fresh(n), partition: 0) }
        for k in 10..<20 {
            let event = Event(eventID: "r\(k)", type: .exposure, userID: "du-\(k)", itemID: "di-\(k)", time: EventTime(millis: time))
            try producer.send(event, partition: 0)
            time += 1
        }
        try producer.flush()
        // applied + rejected + late + duplicates = produced, after the restart as before it.
        try await awaitConsumed(api, count: 3_120)
        p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == Self.cap + 20)
        #expect(p["rejected"] as? [String: Int] == [RejectReason.dictionaryFull.rawValue: 3_100 - Self.cap])
        #expect(try await itemCounts(api, "di-10")?["all"]?["exposure"] == 2)
        // Still serving, and still the same process (no crash and restart in between).
        #expect(try await status(api)["consuming"] as? Bool == true)
        #expect(run.process.isRunning)
        try await expectCleanExit(run)
    }
}
