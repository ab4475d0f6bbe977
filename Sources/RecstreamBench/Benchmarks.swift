import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamRuntime

/// The measurements behind `recstream bench` (docs/benchmarks.md). Each runs in its own process
/// so that it can be pinned to a core and starts from a fresh consumer group.
public enum Benchmarks {
    /// How long consuming `records` took, from the first record to the last.
    public struct Measurement: Codable, Sendable {
        public var records: Int
        public var seconds: Double
        /// The pipeline only: bytes of paged state resident at the end (status `cache`), and
        /// entries read from the store on a miss.
        public var pagedBytes: Int?
        public var cacheLoads: Int?
        public var recordsPerSecond: Double { seconds > 0 ? Double(records) / seconds : 0 }

        public init(records: Int, seconds: Double, pagedBytes: Int? = nil, cacheLoads: Int? = nil) {
            self.records = records
            self.seconds = seconds
            self.pagedBytes = pagedBytes
            self.cacheLoads = cacheLoads
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private final class StartAtBeginning: RebalanceListener {
        func partitionsAssigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] { [:] }
        func partitionsRevoked(_ partitions: [TopicPartition]) {}
    }

    /// The ceiling: librdkafka's consume rate for the same records with no processing at all,
    /// through the same consumer settings the pipeline uses.
    public static func consumeRaw(
        bootstrap: String, topic: String, expected: Int, properties: [String: String] = [:], timeout: Duration = .seconds(300)
    ) throws -> Measurement {
        let consumer = try KafkaConsumer(
            configuration: KafkaConfiguration(bootstrapServers: bootstrap, properties), groupID: "bench-raw-\(UUID().uuidString)",
            rebalanceListener: StartAtBeginning())
        defer { consumer.close() }
        try consumer.subscribe([topic])
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var count = 0
        var first: ContinuousClock.Instant? = nil
        while count < expected {
            guard clock.now < deadline else { throw Failure(description: "consumed \(count) of \(expected) before the timeout") }
            _ = try consumer.poll(maxRecords: 1000, timeout: .milliseconds(100), onEvent: { _ in }) { _ in
                count += 1
            }
            if first == nil && count > 0 { first = clock.now }
        }
        let elapsed = clock.now - first!
        return Measurement(records: count, seconds: elapsed.seconds)
    }

    /// The pipeline: decode, dedup, every enabled family and commits every second into a fresh
    /// state directory, exactly as `recstream run` does (`settings`: configuration keys, as
    /// `--set` takes them), timed from the first record applied to the last (polled every 2 ms).
    public static func ingest(
        bootstrap: String, topic: String, expected: Int, stateDirectory: String, properties: [String: String] = [:],
        settings: [String: String] = [:], timeout: Duration = .seconds(300)
    ) async throws -> Measurement {
        var configuration = RecstreamConfiguration()
        for (key, value) in settings.sorted(by: { $0.key < $1.key }) { try ConfigurationKeys.apply(key, value, to: &configuration) }
        configuration.kafkaProperties = properties
        configuration.brokers = bootstrap
        configuration.eventsTopic = topic
        configuration.deadLetterTopic = topic + ".dlq"
        configuration.groupID = "bench-ingest-\(UUID().uuidString)"
        var logger = Logger(label: "recstream.bench")
        logger.logLevel = .warning
        let runtime = try Runtime(
            configuration: configuration, bootstrapServers: bootstrap, stateDirectory: stateDirectory, version: "bench",
            metricsFactory: NOOPMetricsHandler.instance, logger: logger)
        defer { runtime.close() }
        let ingest = Task { try await runtime.ingest.run() }
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var first: ContinuousClock.Instant? = nil
        var consumed = 0
        while consumed < expected {
            guard clock.now < deadline else {
                runtime.ingest.requestStop()
                throw Failure(description: "applied \(consumed) of \(expected) before the timeout")
            }
            consumed = runtime.engine.consumedRecords()
            if first == nil && consumed > 0 { first = clock.now }
            try await Task.sleep(for: .milliseconds(2))
        }
        let elapsed = clock.now - first!
        runtime.ingest.requestStop()
        try await ingest.value
        let cache = runtime.engine.status().cache
        return Measurement(records: consumed, seconds: elapsed.seconds, pagedBytes: cache?.residentBytes, cacheLoads: cache?.loads)
    }
}

extension StateEngine {
    /// Records consumed so far over every owned partition: applied, duplicate, late or refused.
    func consumedRecords() -> Int {
        lock.withLock {
            state.ownedShards.reduce(0) { total, shard in
                total + Int(shard.counters.appliedTotal + shard.counters.duplicates + shard.counters.late + shard.counters.rejectedTotal)
            }
        }
    }
}

extension Benchmarks {
    /// The per-event cost of the core without Kafka: decode only, and decode + shard apply
    /// (dedup, lateness, dictionary, item statistics), over generated JSON records held in
    /// memory, spread over 8 shards like the events topic. Nanoseconds per event.
    public static func core(events count: Int, seed: UInt64 = 42) -> (decodeNanos: Double, applyNanos: Double) {
        var config = GeneratorConfiguration(seed: seed, events: count)
        config.eventsPerSecond = 20_000
        var records: [(partition: Int, bytes: [UInt8])] = []
        records.reserveCapacity(count)
        for event in EventGenerator(config) {
            records.append((Int(MurmurHash3.hash128(event.userID).low % 8), event.jsonBytes()))
        }
        var decoder = EventDecoder()
        let clock = ContinuousClock()
        var accepted = 0
        let decodeStart = clock.now
        for record in records {
            if case .success = decoder.decode(record.bytes.span, format: .json) { accepted += 1 }
        }
        let decodeTime = clock.now - decodeStart
        precondition(accepted == records.count, "generated records must decode")
        var shards = (0..<8).map { Shard(partition: Int32($0), configuration: ShardConfiguration()) }
        var offsets = [Int64](repeating: 0, count: 8)
        let applyStart = clock.now
        for record in records {
            guard case .success(let event) = decoder.decode(record.bytes.span, format: .json) else { continue }
            _ = shards[record.partition].apply(event, idBytes: decoder.idBytes, offset: offsets[record.partition])
            offsets[record.partition] += 1
        }
        let applyTime = clock.now - applyStart
        return (decodeTime.seconds * 1e9 / Double(count), applyTime.seconds * 1e9 / Double(count))
    }
}
