import Foundation
import NIOHTTP1
import RecstreamCore
import RecstreamKafka
import RecstreamTesting
import Synchronization
import Testing

@Suite("Dead-letter topic", .serialized, .processSlot)
struct DeadLetterTests {
    static let protobuf = [KafkaHeader(key: "content-type", value: Array("application/x-protobuf".utf8))]

    /// One bad record per rejection class, each between good records; every bad one lands in the
    /// dead-letter topic exactly once (no kills here, so a second copy is a bug) with its reason and
    /// source, nothing else lands there, and no good one is lost or blocked.
    @Test(.timeLimit(.minutes(5)))
    func everyBadInputClassIsDeadLetteredAndGoodEventsFlowPastIt() async throws {
        let run = try RecstreamProcess(["run", "--http-address", "127.0.0.1:0", "--set", "state.commit_interval_ms=200", "--log-level", "warning"])
        defer { run.signal(SIGKILL) }
        let bootstrap = try await run.value(after: "bootstrap:")
        let api = try await run.value(after: "api:")

        let long = String(repeating: "x", count: 129)
        let bad: [(RejectReason, [UInt8], [KafkaHeader])] = [
            (.malformedJSON, Array(#"{"event_id": "b1", "type": "click""#.utf8), []),
            (.malformedJSON, Array("[1, 2, 3]".utf8), []),
            (.invalidUTF8, Array(#"{"event_id": "b2", "type": "click", "user_id": "u\#u{1}", "item_id": "i", "ts": 1}"#.utf8).map { $0 == 1 ? 0xff : $0 }, []),
            (.missingField, Array(#"{"event_id": "b3", "type": "click", "user_id": "u", "ts": 1}"#.utf8), []),
            (.unknownType, Array(#"{"event_id": "b4", "type": "purchase", "user_id": "u", "item_id": "i", "ts": 1}"#.utf8), []),
            (.invalidTimestamp, Array(#"{"event_id": "b5", "type": "click", "user_id": "u", "item_id": "i", "ts": 1.5}"#.utf8), []),
            (.invalidTimestamp, Array(#"{"event_id": "b6", "type": "click", "user_id": "u", "item_id": "i", "ts": -1}"#.utf8), []),
            (.invalidID, Array(#"{"event_id": "b7", "type": "click", "user_id": "", "item_id": "i", "ts": 1}"#.utf8), []),
            (.invalidID, Array("{\"event_id\": \"b8\", \"type\": \"click\", \"user_id\": \"u\", \"item_id\": \"\(long)\", \"ts\": 1}".utf8), []),
            (.wrongFieldType, Array(#"{"event_id": "b9", "type": "click", "user_id": 42, "item_id": "i", "ts": 1}"#.utf8), []),
            (.wrongFieldType, Array(#"{"event_id": "b10", "type": "click", "user_id": "u", "item_id": "i", "ts": "1"}"#.utf8), []),
            (.invalidField, Array(#"{"event_id": "b11", "type": "click", "user_id": "u", "item_id": "i", "ts": 1, "dwell_ms": -5}"#.utf8), []),
            (.duplicateField, Array(#"{"event_id": "b12", "type": "click", "user_id": "u", "item_id": "i", "ts": 1, "ts": 2}"#.utf8), []),
            (.malformedProtobuf, [0x0a, 0x40, 0x41], Self.protobuf),
            (.recordTooLarge, Array(("{\"event_id\": \"b14\", \"type\": \"click\", \"user_id\": \"u\", \"item_id\": \"i\", \"ts\": 1, \"pad\": \"" + String(repeating: "p", count: 70_000) + "\"}").utf8), []),
            (.unsupportedContentType, Array(#"{"event_id": "b15"}"#.utf8), [KafkaHeader(key: "content-type", value: Array("text/plain".utf8))]),
        ]
        let producer = try TestProducer(bootstrap)
        var good = 0
        func sendGood() throws {
            good += 1
            try producer.send(
                Event(eventID: "g\(good)", type: good % 2 == 0 ? .click : .exposure, userID: "u", itemID: "good", time: EventTime(millis: 1_000_000 + Int64(good))),
                partition: 0)
        }
        try sendGood()
        for (_, value, headers) in bad {
            try producer.sendRaw(value, key: Array("u".utf8), headers: headers, partition: 0)
            try sendGood()
        }
        // A good protobuf event too.
        let proto = Event(eventID: "g-proto", type: .like, userID: "u", itemID: "good", time: EventTime(millis: 1_000_500))
        try producer.sendRaw(proto.protobufBytes(), key: Array("u".utf8), headers: Self.protobuf, partition: 0)
        try producer.flush()

        try await awaitConsumed(api, count: good + 1 + bad.count)
        let (code, body, _) = try await http(api + "/v1/items/good/stats")
        #expect(code == 200)
        let all = ((body as? [String: Any])?["windows"] as? [String: [String: Any]])?["all"]?["counts"] as? [String: Int]
        #expect(all?["exposure"] == (good + 1) / 2)
        #expect(all?["click"] == good / 2)
        #expect(all?["like"] == 1)

        // The whole topic, every copy: the commit that covered the bad records came after their
        // delivery, so all of them are below the high watermark now.
        let dead = try await readWholeTopic(bootstrap: bootstrap)
        var copies: [SourceRecord: Int] = [:]
        for record in dead {
            let source = try #require(record.source, "a dead letter without its source headers: \(record.headers)")
            copies[source, default: 0] += 1
        }
        let repeated = copies.filter { $0.value > 1 }.map { "\($0.key) \($0.value) times" }.sorted()
        #expect(repeated.isEmpty, "dead letters delivered more than once: \(repeated)")
        // Bad record i sits at offset 2i + 1 of partition 0 (good records in between).
        let expectedSources = Set(bad.indices.map { SourceRecord(partition: 0, offset: Int64(2 * $0 + 1)) })
        let strays = Set(copies.keys).subtracting(expectedSources).sorted { $0.offset < $1.offset }
        #expect(strays.isEmpty, "dead letters for records that were not bad: \(strays)")
        #expect(dead.count == bad.count)
        for (index, (reason, value, _)) in bad.enumerated() {
            let record = try #require(dead.first { $0.source == SourceRecord(partition: 0, offset: Int64(2 * index + 1)) }, "no dead letter for \(reason)")
            #expect(record.headers["recstream.reason"] == reason.rawValue)
            #expect(record.headers["recstream.source.topic"] == "recstream.events")
            #expect(record.headers["recstream.source.partition"] == "0")
            #expect(record.headers["recstream.detail"]?.isEmpty == false)
            #expect(record.headers["recstream.original.size"] == String(value.count))
            if value.count > 65_536 {
                // Cut to dead_letter.max_value_bytes, marked, with the real size in a header.
                #expect(record.value == Array(value.prefix(65_536)))
                #expect(record.headers["recstream.truncated"] == "true")
            } else {
                #expect(record.value == value)
                #expect(record.headers["recstream.truncated"] == nil)
            }
            #expect(record.key == Array("u".utf8))
        }

        let metrics = try await http(api + "/metrics").text
        var expected: [RejectReason: Int] = [:]
        for (reason, _, _) in bad { expected[reason, default: 0] += 1 }
        for (reason, n) in expected {
            #expect(metrics.contains("recstream_dlq_records_total{reason=\"\(reason.rawValue)\"} \(n)"), "metric for \(reason)")
        }
        let partition0 = try #require((try await status(api)["partitions"] as? [[String: Any]])?.first { $0["partition"] as? Int == 0 })
        #expect((partition0["rejected"] as? [String: Int]) == Dictionary(uniqueKeysWithValues: expected.map { ($0.key.rawValue, $0.value) }))
    }
}
