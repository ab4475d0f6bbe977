import Foundation
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Testing

@Suite("Gap detection", .serialized, .processSlot)
struct DataLossTests {
    /// The broker deletes records the instance has not applied yet (here: the mock's stock
    /// 5 MiB retention): on restart the instance must report the gap as data loss in
    /// /v1/status, the metric and the log, and continue from the log start, not skip silently.
    @Test(.timeLimit(.minutes(5)))
    func recordsDeletedBeforeTheyWereAppliedAreReportedAsDataLoss() async throws {
        let broker = try EmbeddedBroker(retention: .stock)
        defer { broker.shutdown() }
        try broker.createTopic("recstream.events", partitions: 1)
        try broker.createTopic("recstream.events.dlq", partitions: 1)
        let stateDir = try TemporaryDirectory("gap")
        defer { stateDir.remove() }
        func start() throws -> RecstreamProcess {
            try RecstreamProcess([
                "run", "--brokers", broker.bootstrapServers, "--state-dir", stateDir.path, "--http-address", "127.0.0.1:0",
                "--log-level", "warning", "--set", "state.commit_interval_ms=100",
                "--set", "kafka.properties.session.timeout.ms=6000",
            ])
        }
        func event(_ n: Int, pad: Int = 0) -> [UInt8] {
            var bytes = Event(eventID: "e\(n)", type: .exposure, userID: "u1", itemID: "i1", time: EventTime(millis: 1_000_000 + Int64(n))).jsonBytes()
            if pad > 0 {
                bytes.removeLast()  // the closing brace
                bytes += Array(",\"pad\":\"\(String(repeating: "p", count: pad))\"}".utf8)
            }
            return bytes
        }

        let producer = try TestProducer(broker.bootstrapServers)
        for n in 0..<20 { try producer.sendRaw(event(n), key: Array("u1".utf8), partition: 0) }
        try producer.flush()
        let first = try start()
        try await awaitConsumed(try await first.value(after: "api:"), count: 20)
        first.signal(SIGTERM)
        #expect(try await first.waitForExit() == 0)

        // While the instance is down, 100 records of 60 KB, each its own message set: 6 MB, so
        // the mock frees the oldest sets, including offsets the state still needs.
        let oneByOne = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, ["linger.ms": "0", "batch.num.messages": "1"]))
        for n in 20..<120 {
            try oneByOne.send(topic: "recstream.events", partition: 0, key: Array("u1".utf8), value: event(n, pad: 60_000))
            try oneByOne.flush(timeout: .seconds(10))
        }
        let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        let (low, high) = try admin.watermarks(TopicPartition(topic: "recstream.events", partition: 0), timeout: .seconds(10))
        #expect(low > 20)
        #expect(high == 120)

        let second = try start()
        let api = try await second.value(after: "api:")
        try await eventually("the instance to report the gap and catch up", progress: {
            let s = try await status(api)
            let p = (s["partitions"] as? [[String: Any]])?.first
            let applied = p?["applied_offset"] as? Int ?? -1
            return !(s["data_loss"] as? [Any] ?? []).isEmpty && applied == 120 ? .done : .waiting([applied])
        })
        let s = try await status(api)
        let loss = try #require((s["data_loss"] as? [[String: Any]])?.first)
        #expect(loss["partition"] as? Int == 0)
        #expect(loss["from_offset"] as? Int == 20)
        #expect(loss["to_offset"] as? Int == Int(low))
        let metrics = try await http(api + "/metrics").text
        #expect(metrics.contains("recstream_data_loss_records_total \(low - 20)"))
        // Everything the log still held was applied: the 20 before the gap and those after it.
        let (_, body, _) = try await http(api + "/v1/items/i1/stats")
        let all = ((body as? [String: Any])?["windows"] as? [String: [String: Any]])?["all"]?["counts"] as? [String: Int]
        #expect(all?["exposure"] == 20 + Int(high - low))
        second.signal(SIGTERM)
        #expect(try await second.waitForExit() == 0)

        // The gap is a fact of this state directory: a restart still reports it (it used to be
        // kept in memory only).
        let third = try start()
        let thirdAPI = try await third.value(after: "api:")
        let after = try await status(thirdAPI)
        let kept = try #require((after["data_loss"] as? [[String: Any]])?.first)
        #expect(kept["from_offset"] as? Int == 20)
        #expect(kept["to_offset"] as? Int == Int(low))
        #expect((after["data_loss"] as? [Any])?.count == 1)
        third.signal(SIGTERM)
        #expect(try await third.waitForExit() == 0)
    }
}
