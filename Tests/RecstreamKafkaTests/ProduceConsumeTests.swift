import Foundation
import RecstreamTesting
import Synchronization
import Testing
@testable import RecstreamKafka

@Suite(.timeLimit(.minutes(1)), .processSlot) struct ProduceConsumeTests {
    static let strategies = ["cooperative-sticky", "range,roundrobin"]

    @Test func producedRecordsArriveInOrderWithKeysHeadersAndOffsets() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("roundtrip")
        try broker.createTopic(topic, partitions: 3)
        let count = 300
        let reports = Mutex<[UInt64: DeliveryReport]>([:])
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers)) {
            report in reports.withLock { $0[report.token] = report }
        }
        for index in 0..<count {
            try producer.send(topic: topic, key: [UInt8]("k\(index % 10)"), value: [UInt8]("v\(index)"),
                              headers: [KafkaHeader(key: "seq", utf8: "\(index)"),
                                        KafkaHeader(key: "content-type", utf8: "application/json"),
                                        KafkaHeader(key: "nothing", value: nil)],
                              token: UInt64(index))
        }
        try producer.flush(timeout: .seconds(20))
        #expect(producer.deliveredCount == count)
        #expect(producer.failedCount == 0)
        #expect(producer.inFlightCount == 0)
        let delivered = reports.withLock { $0 }
        #expect(delivered.count == count)
        #expect(delivered.values.allSatisfy { $0.error == nil && $0.offset != nil })
        producer.close()

        let listener = RecordingListener()
        let (received, cached) = try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker), groupID: uniqueName("g"),
                                             rebalanceListener: listener)
            try consumer.subscribe([topic])
            let received = try consume(consumer) { records, _ in records.count >= count }.records
            let cached = (0..<3).map { consumer.cachedWatermarks(TopicPartition(topic: topic, partition: Int32($0))) }
            consumer.close()
            return (received, cached.map { $0.map { [$0.low, $0.high] } })
        }
        #expect(received.count == count)
        for record in received {
            let sequence = try #require(record.sequenceHeader.flatMap(Int.init))
            #expect(record.valueText == "v\(sequence)")
            #expect(record.key == [UInt8]("k\(sequence % 10)"))
            #expect(record.headers == [KafkaHeader(key: "seq", utf8: "\(sequence)"),
                                       KafkaHeader(key: "content-type", utf8: "application/json"),
                                       KafkaHeader(key: "nothing", value: nil)])
            #expect(record.timestampMillis != nil)
            let report = try #require(delivered[UInt64(sequence)])
            #expect(report.topicPartition == record.tp)
            #expect(report.offset == record.offset)
        }
        for partition in 0..<3 {
            let inPartition = received.filter { $0.tp.partition == partition }
            #expect(inPartition.map(\.offset) == Array(0..<Int64(inPartition.count)), "partition \(partition) offsets")
            let sequences = inPartition.compactMap { $0.sequenceHeader.flatMap(Int.init) }
            #expect(sequences == sequences.sorted(), "partition \(partition) keeps produce order")
            #expect(cached[partition]?.last == Int64(inPartition.count), "cached high watermark")
        }
    }

    @Test(arguments: strategies)
    func listenerStartOffsetsAreHonouredAndCloseRevokes(strategy: String) async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("starts")
        try broker.createTopic(topic, partitions: 2)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        for partition in Int32(0)...1 {
            for index in 0..<10 {
                try producer.send(topic: topic, partition: partition, key: nil, value: [UInt8]("p\(partition)-\(index)"))
            }
        }
        try producer.flush(timeout: .seconds(10))
        let p0 = TopicPartition(topic: topic, partition: 0)
        let p1 = TopicPartition(topic: topic, partition: 1)
        let listener = RecordingListener(starts: [p0: .offset(5)])
        let received = try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker, strategy: strategy),
                                             groupID: uniqueName("g"), rebalanceListener: listener)
            try consumer.subscribe([topic])
            let received = try consume(consumer) { records, _ in records.count >= 15 }.records
            #expect(try consumer.assignment() == [p0, p1])
            consumer.close()
            return received
        }
        #expect(received.count == 15)
        #expect(received.first { $0.tp == p0 }?.offset == 5)
        #expect(received.filter { $0.tp == p0 }.map(\.offset) == Array(5..<10))
        #expect(received.filter { $0.tp == p1 }.map(\.offset) == Array(0..<10))
        let log = listener.snapshot
        #expect(Set(log.assigned.flatMap { $0 }) == [p0, p1])
        #expect(Set(log.revoked.flatMap { $0 }) == [p0, p1], "close revokes everything")
        #expect(log.owned.isEmpty)
    }

    /// Documented behaviour: a listener's nil means `defaultStart`, never the group's committed offset.
    @Test func nilStartMeansDefaultStartNotTheCommittedOffset() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("commit")
        try broker.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        for index in 0..<10 { try producer.send(topic: topic, key: nil, value: [UInt8]("r\(index)")) }
        try producer.flush(timeout: .seconds(10))
        let group = uniqueName("g")
        let tp = TopicPartition(topic: topic, partition: 0)

        let committed = try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker), groupID: group,
                                             rebalanceListener: RecordingListener())
            try consumer.subscribe([topic])
            let first = try consume(consumer) { records, _ in records.count >= 10 }.records
            #expect(first.count == 10)
            try consumer.commit([tp: 10], asynchronously: false)
            let committed = try consumer.committedOffsets([tp], timeout: .seconds(10))
            consumer.close()
            return committed
        }
        #expect(committed == [tp: 10])

        let (second, seenCommitted) = try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker), groupID: group,
                                             rebalanceListener: RecordingListener())
            try consumer.subscribe([topic])
            let second = try consume(consumer) { records, _ in records.count >= 10 }.records
            let seen = try consumer.committedOffsets([tp], timeout: .seconds(10))
            consumer.close()
            return (second, seen)
        }
        #expect(seenCommitted == [tp: 10], "the group still has offset 10 committed")
        #expect(second.first?.offset == 0, "nil start means defaultStart (.beginning)")
        #expect(second.count == 10)
    }

    @Test func asynchronousCommitIsVisibleToTheGroup() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("async-commit")
        try broker.createTopic(topic, partitions: 1)
        let tp = TopicPartition(topic: topic, partition: 0)
        let (committed, errors) = try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker), groupID: uniqueName("g"),
                                             rebalanceListener: RecordingListener())
            try consumer.subscribe([topic])
            _ = try consume(consumer, within: .seconds(20)) { _, _ in (try? consumer.assignment())?.isEmpty == false }
            try consumer.commit([tp: 3], asynchronously: true)
            var committed: [TopicPartition: Int64] = [:]
            var events: [ConsumerEvent] = []
            let deadline = ContinuousClock.now + .seconds(10)
            while committed[tp] != 3 && ContinuousClock.now < deadline {
                _ = try consumer.poll(maxRecords: 10, timeout: .milliseconds(50), onEvent: { events.append($0) }) { _ in }
                committed = try consumer.committedOffsets([tp], timeout: .seconds(5))
            }
            consumer.close()
            return (committed, events.count)
        }
        #expect(committed == [tp: 3])
        #expect(errors == 0)
    }

    /// Records collected in a batch before a revoke are never handed out after it: the body
    /// only ever sees partitions the listener owns at that moment.
    @Test(arguments: strategies)
    func recordsAreOnlyHandedOutForOwnedPartitions(strategy: String) async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("revoke")
        try broker.createTopic(topic, partitions: 4)
        let group = uniqueName("g")
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        let stop = Atomic<Bool>(false)
        let producing = Task.detached {
            var index = 0
            while !stop.load(ordering: .relaxed) {
                for _ in 0..<200 {
                    try producer.send(topic: topic, partition: Int32(index % 4), key: nil, value: [UInt8]("x\(index)"))
                    index += 1
                }
                try await Task.sleep(for: .milliseconds(5))
            }
        }

        let configuration = consumerConfiguration(broker, strategy: strategy)
        let first = GroupMember(configuration: configuration, group: group, topic: topic)
        let second = GroupMember(configuration: configuration, group: group, topic: topic)
        let firstRun = Task { try await first.run() }
        try await eventually(within: .seconds(20), "first member consumes") { first.handed.load(ordering: .relaxed) > 1000 }
        let secondRun = Task { try await second.run() }
        try await eventually(within: .seconds(30), "both members own partitions") {
            !first.listener.snapshot.owned.isEmpty && !second.listener.snapshot.owned.isEmpty
        }
        try await eventually(within: .seconds(10), "second member consumes") { second.handed.load(ordering: .relaxed) > 100 }
        let owners = (first.listener.snapshot.owned, second.listener.snapshot.owned)
        let revokedBeforeClose = first.listener.snapshot.revoked
        first.stop.store(true, ordering: .relaxed)
        second.stop.store(true, ordering: .relaxed)
        try await firstRun.value
        try await secondRun.value
        stop.store(true, ordering: .relaxed)
        try await producing.value
        producer.close()

        #expect(owners.0.isDisjoint(with: owners.1))
        #expect(owners.0.union(owners.1).count == 4)
        #expect(!revokedBeforeClose.isEmpty, "the first member gave partitions away")
        if strategy == "cooperative-sticky" {
            #expect(revokedBeforeClose.allSatisfy { $0.count < 4 }, "incremental: only moved partitions are revoked")
        } else {
            #expect(revokedBeforeClose.contains { $0.count == 4 }, "eager: everything is revoked")
        }
        #expect(first.violations.load(ordering: .relaxed) == 0)
        #expect(second.violations.load(ordering: .relaxed) == 0)
    }

    @Test func closedClientsRefuseCalls() async throws {
        let broker = try EmbeddedBroker()
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        producer.close()
        producer.close()
        #expect(throws: KafkaError.self) { try producer.send(topic: "t", key: nil, value: [UInt8]("x")) }
        try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: consumerConfiguration(broker), groupID: uniqueName("g"),
                                             rebalanceListener: RecordingListener())
            consumer.close()
            consumer.close()
            #expect(throws: KafkaError.self) {
                _ = try consumer.poll(maxRecords: 10, timeout: .milliseconds(1), onEvent: { _ in }) { _ in }
            }
            #expect(consumer.cachedWatermarks(TopicPartition(topic: "t", partition: 0)) == nil)
        }
    }

    @Test func producerToAnUnreachableBrokerReportsFailuresWithinTheMessageTimeout() async throws {
        let failures = Mutex<[KafkaError]>([])
        let producer = try KafkaProducer(
            configuration: KafkaConfiguration(bootstrapServers: "127.0.0.1:1", ["message.timeout.ms": "1000"])
        ) { report in
            if let error = report.error { failures.withLock { $0.append(error) } }
        }
        for index in 0..<5 {
            try producer.send(topic: "nowhere", key: nil, value: [UInt8]("r\(index)"), token: UInt64(index))
        }
        try await eventually(within: .seconds(10), "five failed reports") { producer.failedCount == 5 }
        #expect(producer.deliveredCount == 0)
        #expect(producer.inFlightCount == 0)
        #expect(failures.withLock { $0 }.allSatisfy { $0.code == -192 && $0.isRetriable })
        try producer.flush(timeout: .seconds(1))
        producer.close()
    }

    @Test func producerRetriesThroughInjectedErrorsAndABrokerOutage() async throws {
        let broker = try EmbeddedBroker()
        let topic = uniqueName("faults")
        try broker.createTopic(topic, partitions: 1)
        let producer = try KafkaProducer(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
        try producer.send(topic: topic, key: nil, value: [UInt8]("warm-up"))
        try producer.flush(timeout: .seconds(10))
        // Produce (ApiKey 0) fails twice with retriable errors; idempotent retries deliver once.
        try broker.pushRequestErrors(apiKey: 0, errors: [6, 7])
        for index in 0..<10 { try producer.send(topic: topic, key: nil, value: [UInt8]("a\(index)")) }
        try producer.flush(timeout: .seconds(20))
        #expect(producer.deliveredCount == 11)

        try broker.setBrokerDown(1)
        for index in 0..<10 { try producer.send(topic: topic, key: nil, value: [UInt8]("b\(index)")) }
        #expect(producer.inFlightCount == 10)
        try broker.setBrokerUp(1)
        try producer.flush(timeout: .seconds(30))
        #expect(producer.deliveredCount == 21)
        #expect(producer.failedCount == 0)
        let marks = try await onDedicatedThread {
            let admin = try KafkaAdmin(configuration: KafkaConfiguration(bootstrapServers: broker.bootstrapServers))
            return try admin.watermarks(TopicPartition(topic: topic, partition: 0), timeout: .seconds(10))
        }
        #expect(marks.high == 21, "no duplicates from the retries")
        producer.close()
    }
}

/// One consumer of a group, polling on its own thread and counting records handed out for
/// partitions its listener does not own.
final class GroupMember: Sendable {
    let configuration: KafkaConfiguration
    let group: String
    let topic: String
    let listener = RecordingListener()
    let handed = Atomic<Int>(0)
    let violations = Atomic<Int>(0)
    let stop = Atomic<Bool>(false)

    init(configuration: KafkaConfiguration, group: String, topic: String) {
        self.configuration = configuration
        self.group = group
        self.topic = topic
    }

    func run() async throws {
        try await onDedicatedThread {
            let consumer = try KafkaConsumer(configuration: self.configuration, groupID: self.group,
                                             rebalanceListener: self.listener)
            try consumer.subscribe([self.topic])
            while !self.stop.load(ordering: .relaxed) {
                _ = try consumer.poll(maxRecords: 5000, timeout: .milliseconds(100), onEvent: { _ in }) { record in
                    if !self.listener.owns(record.topicPartition) { self.violations.add(1, ordering: .relaxed) }
                    self.handed.add(1, ordering: .relaxed)
                }
            }
            consumer.close()
        }
    }
}
