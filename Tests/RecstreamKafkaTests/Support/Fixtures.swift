import Foundation
import Synchronization
@testable import RecstreamKafka

/// Runs `body` on a new OS thread and awaits its result: blocking librdkafka calls never run
/// on Swift's cooperative pool.
func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

/// A name no other test uses.
func uniqueName(_ prefix: String) -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
}

/// Consumer properties for tests: a short session so the mock's rebalance delay
/// (session.timeout.ms - 1 s) stays small.
func consumerConfiguration(_ broker: EmbeddedBroker, strategy: String? = nil,
                           _ extra: [String: String] = [:]) -> KafkaConfiguration {
    var properties = ["session.timeout.ms": "6000", "heartbeat.interval.ms": "500"]
    if let strategy { properties["partition.assignment.strategy"] = strategy }
    properties.merge(extra) { _, new in new }
    return KafkaConfiguration(bootstrapServers: broker.bootstrapServers, properties)
}

/// A rebalance listener that records every call and returns preset start offsets.
final class RecordingListener: RebalanceListener, Sendable {
    struct Log: Sendable {
        var assigned: [[TopicPartition]] = []
        var revoked: [[TopicPartition]] = []
        var owned: Set<TopicPartition> = []
    }

    let starts: [TopicPartition: StartOffset]
    let log = Mutex(Log())

    init(starts: [TopicPartition: StartOffset] = [:]) {
        self.starts = starts
    }

    func partitionsAssigned(_ partitions: [TopicPartition]) -> [TopicPartition: StartOffset] {
        log.withLock {
            $0.assigned.append(partitions)
            $0.owned.formUnion(partitions)
        }
        return starts.filter { partitions.contains($0.key) }
    }

    func partitionsRevoked(_ partitions: [TopicPartition]) {
        log.withLock {
            $0.revoked.append(partitions)
            $0.owned.subtract(partitions)
        }
    }

    var snapshot: Log { log.withLock { $0 } }
    func owns(_ tp: TopicPartition) -> Bool { log.withLock { $0.owned.contains(tp) } }
}

/// A record copied out of `poll`'s body.
struct Received: Sendable, Equatable {
    var tp: TopicPartition
    var offset: Int64
    var key: [UInt8]?
    var value: [UInt8]
    var headers: [KafkaHeader]
    var sequenceHeader: String?
    var timestampMillis: Int64?

    var valueText: String { String(decoding: value, as: UTF8.self) }
}

/// Polls until `done` holds or `limit` passes; returns what arrived. Runs on the caller's thread.
func consume(
    _ consumer: KafkaConsumer,
    within limit: Duration = .seconds(30),
    until done: ([Received], [ConsumerEvent]) -> Bool
) throws -> (records: [Received], events: [ConsumerEvent]) {
    var records: [Received] = []
    var events: [ConsumerEvent] = []
    let deadline = ContinuousClock.now + limit
    while !done(records, events) && ContinuousClock.now < deadline {
        _ = try consumer.poll(maxRecords: 1000, timeout: .milliseconds(100), onEvent: { events.append($0) }) { record in
            records.append(Received(
                tp: record.topicPartition, offset: record.offset, key: record.key.map { Array($0) },
                value: Array(record.value), headers: record.headers,
                sequenceHeader: record.header("seq").map { String(decoding: $0, as: UTF8.self) },
                timestampMillis: record.timestampMillis))
        }
    }
    return (records, events)
}

extension Array where Element == UInt8 {
    init(_ text: String) { self = Array(text.utf8) }
}
