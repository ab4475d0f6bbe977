import RecstreamTesting
import Testing
@testable import RecstreamKafka

@Suite(.timeLimit(.minutes(1)), .processSlot) struct RetentionTests {
    static let recordBytes = 1 << 20
    static let recordCount = 7

    /// One message set per record: librdkafka's stock limit is 5 MiB per partition.
    static func produceLargeRecords(_ broker: EmbeddedBroker, topic: String) throws {
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers, [
            "message.max.bytes": "4000000", "batch.num.messages": "1", "linger.ms": "0",
        ]))
        let value = [UInt8](repeating: 0x61, count: recordBytes)
        for index in 0..<recordCount {
            try producer.send(topic: topic, partition: 0, key: [UInt8]("k\(index)"), value: value, token: UInt64(index))
        }
        try producer.flush(timeout: .seconds(30))
        #expect(producer.deliveredCount == recordCount)
        producer.close()
    }

    static func largeRecordConsumer(_ broker: EmbeddedBroker, listener: RecordingListener,
                                    strategy: String? = nil) throws -> KafkaConsumer {
        try KafkaConsumer(configuration: consumerConfiguration(broker, strategy: strategy, [
            "fetch.message.max.bytes": "4000000", "receive.message.max.bytes": "100000000",
        ]), groupID: uniqueName("g"), rebalanceListener: listener)
    }

    /// Both protocols: seek resumes a stopped partition incrementally (cooperative) or by
    /// re-issuing the whole assignment (eager).
    @Test(arguments: ProduceConsumeTests.strategies)
    func stockRetentionDropsOldSetsAndTheConsumerSeesOffsetOutOfRange(strategy: String) async throws {
        let broker = try EmbeddedBroker(retention: .stock)
        let topic = uniqueName("stock")
        try broker.createTopic(topic, partitions: 1)
        let tp = TopicPartition(topic: topic, partition: 0)
        try Self.produceLargeRecords(broker, topic: topic)
        #expect(try broker.retentionLimits(topic: topic, partition: 0) == (UInt(5 << 20), 100_000))

        let listener = RecordingListener(starts: [tp: .offset(0)])
        let (low, high, beforeSeek, afterSeek) = try await onDedicatedThread {
            let consumer = try Self.largeRecordConsumer(broker, listener: listener, strategy: strategy)
            try consumer.subscribe([topic])
            let marks = try consumer.queryWatermarks(tp, timeout: .seconds(10))
            let before = try consume(consumer) { _, events in !events.isEmpty }
            try consumer.seek(tp, to: marks.low, timeout: .seconds(10))
            let after = try consume(consumer) { records, _ in records.count >= Int(marks.high - marks.low) }
            consumer.close()
            return (marks.low, marks.high, before, after.records.map(\.offset))
        }
        #expect(low > 0, "the mock freed the oldest message sets")
        #expect(high == Int64(Self.recordCount))
        #expect(beforeSeek.records.isEmpty, "nothing is skipped silently")
        guard case .offsetOutOfRange(let where_, let requested, let message) = try #require(beforeSeek.events.first) else {
            Issue.record("expected offsetOutOfRange, got \(beforeSeek.events)")
            return
        }
        #expect(where_ == tp)
        #expect(requested == 0)
        #expect(!message.isEmpty)
        #expect(afterSeek == Array(low..<high), "seek resumes the stopped partition")
    }

    @Test func unboundedRetentionKeepsEveryRecord() async throws {
        let broker = try EmbeddedBroker(retention: .unbounded)
        let topic = uniqueName("unbounded")
        try broker.createTopic(topic, partitions: 1)
        #expect(try broker.retentionLimits(topic: topic, partition: 0) == (UInt.max, UInt.max))
        let tp = TopicPartition(topic: topic, partition: 0)
        try Self.produceLargeRecords(broker, topic: topic)

        let listener = RecordingListener(starts: [tp: .offset(0)])
        let (marks, received) = try await onDedicatedThread {
            let consumer = try Self.largeRecordConsumer(broker, listener: listener)
            try consumer.subscribe([topic])
            let marks = try consumer.queryWatermarks(tp, timeout: .seconds(10))
            let received = try consume(consumer) { records, events in records.count >= Self.recordCount || !events.isEmpty }
            consumer.close()
            return ([marks.low, marks.high], received)
        }
        #expect(marks == [0, Int64(Self.recordCount)])
        #expect(received.events.isEmpty)
        #expect(received.records.map(\.offset) == Array(0..<Int64(Self.recordCount)))
        #expect(received.records.allSatisfy { $0.value.count == Self.recordBytes })
        #expect(broker.retentionLiftFailure == nil)
    }

    @Test func topicsAutoCreatedByClientsAreLiftedByTheSweep() async throws {
        let broker = try EmbeddedBroker(retention: .unbounded)
        let topic = uniqueName("auto")
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        try producer.send(topic: topic, key: nil, value: [UInt8]("creates the topic"))
        try producer.flush(timeout: .seconds(10))
        producer.close()
        try await eventually(within: .seconds(5), "every auto-created partition lifted") {
            try (0..<4).allSatisfy { partition in
                try broker.retentionLimits(topic: topic, partition: Int32(partition)) == (UInt.max, UInt.max)
            }
        }
        #expect(broker.retentionLiftFailure == nil)
    }

    @Test(arguments: MockLayoutCorruption.allCases.filter { $0 != .none })
    func theGuardRefusesACorruptedLayoutAndWritesNothing(corruption: MockLayoutCorruption) throws {
        let broker = try EmbeddedBroker(brokers: 2, retention: .stock)
        let topic = uniqueName("guard")
        try broker.createTopic(topic, partitions: 3)
        let outcome = try broker.testingLiftCorruptedCopy(corruption)
        let reason = try #require(outcome.refusal, "\(corruption) must be refused")
        #expect(reason.contains(Self.expectedCheck[corruption] ?? "?"), "\(corruption): \(reason)")
        #expect(outcome.copyUnchanged, "a refused lift writes nothing")
        for partition in Int32(0)..<3 {
            #expect(try broker.retentionLimits(topic: topic, partition: partition) == (UInt(5 << 20), 100_000))
        }
    }

    @Test func theUncorruptedCopyIsLiftedWhileTheLiveClusterIsNot() throws {
        let broker = try EmbeddedBroker(brokers: 2, retention: .stock)
        let topic = uniqueName("guard")
        try broker.createTopic(topic, partitions: 3)
        let outcome = try broker.testingLiftCorruptedCopy(.none)
        #expect(outcome.refusal == nil)
        #expect(!outcome.copyUnchanged, "the copy was lifted")
        #expect(try broker.retentionLimits(topic: topic, partition: 0) == (UInt(5 << 20), 100_000))
    }

    static let expectedCheck: [MockLayoutCorruption: String] = [
        .version: "version", .brokerCount: "broker_cnt", .clusterHandle: "cluster.rk",
        .topicCount: "topic_cnt", .topicCluster: "].cluster", .topicName: "].name",
        .partitionCount: "partition_cnt", .partitionID: "].id", .partitionTopic: "].topic",
        .partitionLimits: "max_size",
    ]
}
