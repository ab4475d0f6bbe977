import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime
import RecstreamTesting
import Testing

/// Refused records never block ingest: one larger than a dead-letter write may be is cut to
/// fit, and when the dead-letter topic refuses writes the refusals are recorded durably instead.
@Suite("Dead-letter limits", .serialized, .processSlot)
struct DeadLetterLimitsTests {
    static let item = "dlq-limits-item"

    static func good(_ n: Int) -> Event {
        Event(
            eventID: "g\(n)", type: n % 2 == 0 ? .exposure : .click, userID: "u\(n % 5)", itemID: item,
            time: EventTime(millis: 1_000_000 + Int64(n)))
    }

    /// A syntactically valid event padded to `size` bytes (over `ingest.max_record_bytes`).
    static func oversized(_ name: String, size: Int) -> [UInt8] {
        let head = "{\"event_id\": \"\(name)\", \"type\": \"click\", \"user_id\": \"u\", \"item_id\": \"i\", \"ts\": 1, \"pad\": \""
        return Array((head + String(repeating: "p", count: size - head.utf8.count - 2) + "\"}").utf8)
    }

    /// Catches: a record over librdkafka's default `message.max.bytes` (1,000,000) sent whole to
    /// the dead-letter topic (the write fails MSG_SIZE_TOO_LARGE, and a dead-letter writer that
    /// waits for it blocks ingest: good events after it are never applied or committed); the
    /// value not cut to `dead_letter.max_value_bytes` or cut without its truncation headers; the
    /// record lost, or blocking the restart.
    @Test(.timeLimit(.minutes(2)))
    func recordOverTheBrokerMessageLimitIsTruncatedIntoTheDeadLetterTopicAndIngestGoesOn() async throws {
        let broker = try singlePartitionBroker()
        defer { broker.shutdown() }
        let stateDir = try TemporaryDirectory("dlq-large")
        defer { stateDir.remove() }
        let producer = try TestProducer(broker.bootstrapServers)
        // The stock producer refuses values over 1,000,000 bytes itself.
        let large = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, ["message.max.bytes": "10000000"]))
        let huge = [Self.oversized("huge-1", size: 2_000_000), Self.oversized("huge-2", size: 2_500_000)]

        // Offsets 0..<10 good, 10 the first huge record, 11..<21 good.
        var sent = 0
        func sendGood(_ count: Int) throws {
            for _ in 0..<count {
                try producer.send(Self.good(sent), partition: 0)
                sent += 1
            }
            try producer.flush()
        }
        func sendHuge(_ value: [UInt8]) throws {
            try large.send(topic: "recstream.events", partition: 0, key: Array("u".utf8), value: value)
            try large.flush(timeout: .seconds(30))
            #expect(large.failedCount == 0)
        }
        try sendGood(10)
        try sendHuge(huge[0])
        try sendGood(10)

        var run = try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path)
        defer { run.signal(SIGKILL) }
        var api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: 21)
        var p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == 20)
        #expect(p["rejected"] as? [String: Int] == [RejectReason.recordTooLarge.rawValue: 1])

        /// The dead-letter record of `huge[index]`, read from source offset `offset`.
        func expectTruncatedDeadLetter(_ dead: [DeadLetter], index: Int, offset: Int) throws {
            let record = try #require(
                dead.first { $0.headers["recstream.source.offset"] == String(offset) }, "no dead letter for offset \(offset)")
            #expect(record.headers["recstream.reason"] == RejectReason.recordTooLarge.rawValue)
            #expect(record.headers["recstream.source.topic"] == "recstream.events")
            #expect(record.headers["recstream.source.partition"] == "0")
            #expect(record.headers["recstream.truncated"] == "true")
            #expect(record.headers["recstream.original.size"] == String(huge[index].count))
            #expect(record.value.count == 65_536)
            let isPrefix = record.value == Array(huge[index].prefix(65_536))
            #expect(isPrefix, "the dead-letter value is not the first 65,536 bytes of the record")
            #expect(record.key == Array("u".utf8))
        }
        var dead = try await readWholeTopic(bootstrap: broker.bootstrapServers)
        #expect(dead.count == 1)
        try expectTruncatedDeadLetter(dead, index: 0, offset: 10)

        try await expectCleanExit(run)
        // Offsets 21..<26 good, 26 the second huge record, 27..<32 good.
        try sendGood(5)
        try sendHuge(huge[1])
        try sendGood(5)
        run = try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path)
        api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: 32)
        p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == 30)
        #expect(p["rejected"] as? [String: Int] == [RejectReason.recordTooLarge.rawValue: 2])
        let counts = try #require(try await itemCounts(api, Self.item))
        #expect(counts["all"]?["exposure"] == 15)
        #expect(counts["all"]?["click"] == 15)
        dead = try await readWholeTopic(bootstrap: broker.bootstrapServers)
        #expect(dead.count == 2)
        try expectTruncatedDeadLetter(dead, index: 0, offset: 10)
        try expectTruncatedDeadLetter(dead, index: 1, offset: 26)
        try await expectCleanExit(run)
    }

    /// Catches: ingest stalled behind dead-letter writes that cannot succeed (good events after
    /// the first bad one never committed); a refused record neither in the dead-letter topic nor
    /// in the undeliverable list (count, CLI listing or metric short); the list kept in memory
    /// only (gone after the restart).
    @Test(.timeLimit(.minutes(2)))
    func deadLetterTopicRefusingWritesRecordsUndeliverableRecordsDurablyAndIngestGoesOn() async throws {
        let broker = try EmbeddedBroker()
        defer { broker.shutdown() }
        try broker.createTopic("recstream.events", partitions: 1)
        try broker.createTopic("recstream.events.dlq", partitions: 1)
        // The group's directory topic too, so no Produce of the run needs to create a topic.
        try broker.createTopic(RecstreamConfiguration().directoryTopic, partitions: 1)
        let stateDir = try TemporaryDirectory("dlq-refused")
        defer { stateDir.remove() }

        let bad: [(RejectReason, [UInt8])] = [
            (.malformedJSON, Array(#"{"event_id": "b1", "type": "click""#.utf8)),
            (.unknownType, Array(#"{"event_id": "b2", "type": "purchase", "user_id": "u", "item_id": "i", "ts": 1}"#.utf8)),
            (.malformedJSON, Array("[1, 2, 3]".utf8)),
            (.invalidTimestamp, Array(#"{"event_id": "b4", "type": "click", "user_id": "u", "item_id": "i", "ts": -1}"#.utf8)),
        ]
        // Good, bad, good, ..., good: bad record i at offset 5i + 5, 5 good events around each.
        let producer = try TestProducer(broker.bootstrapServers)
        var good = 0
        var badOffsets: [Int] = []
        var offset = 0
        func sendGood(_ count: Int) throws {
            for _ in 0..<count {
                try producer.send(Self.good(good), partition: 0)
                good += 1
                offset += 1
            }
        }
        try sendGood(5)
        for (_, value) in bad {
            try producer.sendRaw(value, key: Array("u".utf8), partition: 0)
            badOffsets.append(offset)
            offset += 1
            try sendGood(4)
        }
        try producer.flush()
        // From now on every Produce request fails: every dead-letter write is refused for good.
        try broker.pushRequestErrors(apiKey: 0, errors: Array(repeating: 29, count: 200))  // TOPIC_AUTHORIZATION_FAILED

        func start() throws -> RecstreamProcess {
            try startInstance(brokers: broker.bootstrapServers, stateDir: stateDir.path, ["--set", "dead_letter.timeout_ms=2000"])
        }
        var run = try start()
        defer { run.signal(SIGKILL) }
        var api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: good + bad.count)
        let p = try await partitionStatus(api)
        #expect(p["applied"] as? Int == good)
        let counts = try #require(try await itemCounts(api, Self.item))
        #expect(counts["all"]?["exposure"] == (good + 1) / 2)
        #expect(counts["all"]?["click"] == good / 2)
        #expect(try await status(api)["undeliverable_records"] as? Int == bad.count)

        /// `recstream admin undeliverable --json` lists every bad record's source position.
        func expectListed() async throws {
            let cli = try RecstreamProcess(["admin", "undeliverable", "--api", api, "--json"])
            #expect(try await cli.waitForExit() == 0, "\(cli.errorLines.suffix(3))")
            let list = try #require(try JSONSerialization.jsonObject(with: Data(cli.lines.joined().utf8)) as? [String: Any])
            #expect(list["total"] as? Int == bad.count)
            let records = list["records"] as? [[String: Any]] ?? []
            let listed = records.map { "\($0["topic"] as? String ?? "?")[\($0["partition"] as? Int ?? -1)]@\($0["offset"] as? Int ?? -1)" }
            #expect(listed == badOffsets.map { "recstream.events[0]@\($0)" })
            #expect(records.map { $0["reason"] as? String ?? "?" } == bad.map(\.0.rawValue))
        }
        try await expectListed()
        let metrics = try await http(api + "/metrics").text
        var expected: [RejectReason: Int] = [:]
        for (reason, _) in bad { expected[reason, default: 0] += 1 }
        for (reason, n) in expected {
            let line = "recstream_dlq_undeliverable_total{reason=\"\(reason.rawValue)\"} \(n)"
            #expect(metrics.contains(line), "undeliverable metric for \(reason)")
        }

        try await expectCleanExit(run)
        run = try start()
        api = try await run.value(after: "api:")
        try await awaitConsumed(api, count: good + bad.count)
        #expect(try await status(api)["undeliverable_records"] as? Int == bad.count)
        try await expectListed()
        try await expectCleanExit(run)
    }
}
