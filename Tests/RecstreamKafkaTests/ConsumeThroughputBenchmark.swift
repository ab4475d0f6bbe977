import Foundation
import Testing
@testable import RecstreamKafka

/// Opt-in measurement (RECSTREAM_KAFKA_BENCH=1) behind the consumer's queued.* defaults:
/// consume rate through `KafkaConsumer.poll` for librdkafka's defaults, this module's
/// defaults and PERF-NOTES' example, each in the same run against the same produced data.
@Suite struct ConsumeThroughputBenchmark {
    static let enabled = ProcessInfo.processInfo.environment["RECSTREAM_KAFKA_BENCH"] == "1"
    static let records = Int(ProcessInfo.processInfo.environment["RECSTREAM_KAFKA_BENCH_RECORDS"] ?? "") ?? 2_000_000

    @Test(.enabled(if: enabled), .timeLimit(.minutes(10)))
    func consumeRateForQueuedSettings() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("bench")
        try broker.createTopic(topic, partitions: 8)
        let value = [UInt8](#"{"event_id":"e-000123","type":"exposure","user_id":"u42","item_id":"i977","ts":1732460000123}"#.utf8)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers,
                                                                           ["linger.ms": "100"]))
        for index in 0..<Self.records {
            try producer.send(topic: topic, key: [UInt8]("u\(index % 10_000)"), value: value)
        }
        try producer.flush(timeout: .seconds(120))
        producer.close()

        let settings: [(String, [String: String])] = [
            ("librdkafka defaults 100000 / 65536 KiB", ["queued.min.messages": "100000", "queued.max.messages.kbytes": "65536"]),
            ("module defaults 1000000 / 262144 KiB", [:]),
            ("PERF-NOTES 10000000 / 2097151 KiB", ["queued.min.messages": "10000000", "queued.max.messages.kbytes": "2097151"]),
        ]
        let total = Self.records
        for (name, extra) in settings {
            let (seconds, count) = try await onDedicatedThread {
                let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker, extra), groupID: uniqueName("g"),
                                                 rebalanceListener: RecordingListener())
                try consumer.subscribe([topic])
                var count = 0
                var quotes = 0
                var started: ContinuousClock.Instant?
                let deadline = ContinuousClock.now + .seconds(120)
                while count < total && ContinuousClock.now < deadline {
                    count += try consumer.poll(maxRecords: 1000, timeout: .milliseconds(100), onEvent: { _ in }) { record in
                        // A stand-in for decoding: touch every byte once.
                        for byte in record.value where byte == 0x22 { quotes += 1 }
                    }
                    if started == nil && count > 0 { started = .now }
                }
                let elapsed = started.map { ContinuousClock.now - $0 } ?? .zero
                consumer.close()
                #expect(quotes > 0)
                let parts = elapsed.components
                return (Double(parts.seconds) + Double(parts.attoseconds) / 1e18, count)
            }
            print("BENCH \(name): \(count) records in \(String(format: "%.2f", seconds)) s = \(Int(Double(count) / seconds)) records/s")
            #expect(count == total)
        }
    }
}
