import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import Testing

@testable import RecstreamRuntime

/// What the status, readiness and dead-letter records say must be true when it matters most:
/// an unknown lag is unknown, a stall is visible, a dead letter always fits.
@Suite("Status and dead letters")
struct StatusTruthTests {
    func partition(_ p: Int32, applied: Int64?, end: Int64?) -> PartitionStatus {
        PartitionStatus(
            topic: "recstream.events", partition: p, appliedOffset: applied, committedOffset: applied, endOffset: end,
            watermarkMillis: nil, applied: 0, duplicates: 0, late: 0, rejected: [:])
    }

    func status(_ partitions: [PartitionStatus], stalled: Bool = false) -> InstanceStatus {
        InstanceStatus(
            version: "t", bootstrapServers: "b", groupID: "g", eventsTopic: "recstream.events", deadLetterTopic: "dlq",
            startedAtMillis: 0, consuming: true, partitions: partitions, secondsSinceLastCommit: stalled ? 90 : 1, stalled: stalled)
    }

    /// Six of eight partitions not read yet: the total is unknown (not 0) and the instance is not
    /// ready, however small the known lags are.
    @Test func unknownLagIsNeverSummedAsZero() throws {
        let partitions = (0..<8).map { p in partition(Int32(p), applied: p < 2 ? 10 : nil, end: p < 2 ? 10 : nil) }
        let s = status(partitions)
        #expect(s.totalLag == nil)
        #expect(s.notReadyReasons(maxLag: 100).contains { $0.contains("lag unknown for 6 of 8 partitions") })
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let json = try #require(try JSONSerialization.jsonObject(with: encoder.encode(s)) as? [String: Any])
        #expect(json["total_lag"] is NSNull)
        let first = try #require((json["partitions"] as? [[String: Any]])?[2])
        #expect(first["lag"] is NSNull)
        #expect(first["end_offset"] is NSNull)
    }

    @Test func lagIsNeverNegativeAndKnownLagsSum() {
        // The end is read a moment before the applied offset moved past it.
        let s = status([partition(0, applied: 120, end: 100), partition(1, applied: 5, end: 12)])
        #expect(s.partitions[0].lag == 0)
        #expect(s.totalLag == 7)
        #expect(s.notReadyReasons(maxLag: 100).isEmpty)
        #expect(s.notReadyReasons(maxLag: 6).contains { $0.contains("consumer lag 7") })
    }

    @Test func aStalledInstanceIsNotReady() {
        let s = status([partition(0, applied: 1, end: 1)], stalled: true)
        #expect(s.notReadyReasons(maxLag: 100).contains { $0.contains("commits stalled") })
    }

    /// A 2 MB record with a 2 KiB key and 40 KiB of its own headers becomes a dead letter that fits
    /// any broker's limits: value and key cut, headers dropped, every cut marked.
    @Test func aDeadLetterAlwaysFits() {
        let limits = DeadLetterQueue.Limits()
        let value = [UInt8](repeating: 0x61, count: 2_000_000)
        let key = [UInt8](repeating: 0x6b, count: 2_048)
        let headers = (0..<40).map { KafkaHeader(key: "h\($0)", value: [UInt8](repeating: 1, count: 1_024)) }
        let record = DeadLetterQueue.fitted(
            key: key, value: value, originalHeaders: headers, rejection: Rejection(.recordTooLarge, "too large"),
            source: TopicPartition(topic: "recstream.events", partition: 2), offset: 99, limits: limits, now: .now)
        func header(_ name: String) -> String? {
            record.headers.first { $0.key == name }.flatMap { $0.value }.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(record.value.count == limits.maxValueBytes)
        #expect(record.value == Array(value.prefix(limits.maxValueBytes)))
        #expect(record.key?.count == limits.maxKeyBytes)
        #expect(header("recstream.truncated") == "true")
        #expect(header("recstream.original.size") == "2000000")
        #expect(header("recstream.key.truncated") == "2048")
        #expect(header("recstream.headers.dropped") == "40")
        #expect(header("recstream.reason") == "record_too_large")
        #expect(header("recstream.source.offset") == "99")
        let total = record.value.count + (record.key?.count ?? 0) + record.headers.reduce(0) { $0 + $1.key.utf8.count + ($1.value?.count ?? 0) }
        #expect(total < 100_000)
        // A small record is carried whole, with its headers.
        let small = DeadLetterQueue.fitted(
            key: [1], value: [1, 2, 3], originalHeaders: [KafkaHeader(key: "trace", utf8: "x")], rejection: Rejection(.malformedJSON, "bad"),
            source: TopicPartition(topic: "recstream.events", partition: 0), offset: 1, limits: limits, now: .now)
        #expect(small.value == [1, 2, 3])
        #expect(small.headers.contains { $0.key == "trace" })
        #expect(!small.headers.contains { $0.key == "recstream.truncated" })
    }

    @Test func permanentDeliveryErrorsAreNotRetried() {
        #expect(DeadLetterQueue.isPermanent(KafkaError(code: 29)))  // TOPIC_AUTHORIZATION_FAILED
        #expect(DeadLetterQueue.isPermanent(KafkaError(code: 10)))  // MSG_SIZE_TOO_LARGE
        #expect(!DeadLetterQueue.isPermanent(KafkaError(code: 7)))  // REQUEST_TIMED_OUT
        #expect(!DeadLetterQueue.isPermanent(KafkaError(code: 6)))  // NOT_LEADER_FOR_PARTITION
    }

    @Test func faultsFireAtTheirCallsOnly() throws {
        let faults = try #require(FaultInjection(environment: "storage-write:2*3,forward-send:1"))
        var failed: [Int] = []
        for call in 1...6 where (try? faults.fail(.storageWrite)) == nil { failed.append(call) }
        #expect(failed == [2, 3, 4])
        #expect(throws: FaultInjection.Injected.self) { try faults.fail(.forwardSend) }
        #expect(throws: Never.self) { try faults.fail(.forwardSend) }
        #expect(FaultInjection(environment: "nonsense") == nil)
    }

    /// The stall alarm on a driven clock: not stalled within `ingest.stall_after_ms` of the last
    /// completed commit, stalled past it, and clear again after the next commit.
    @Test func theStallAlarmFollowsTheClock() throws {
        let manual = ManualClock(wallMillis: 1_800_000_000_000)
        var configuration = RecstreamConfiguration()
        configuration.stallAfterMillis = 60_000
        let engine = StateEngine(
            configuration: configuration, version: "t", bootstrapServers: "b", instance: InstanceState(configuration: .default),
            clock: .manual(manual))
        engine.lock.withLock { engine.state.consuming = true }
        manual.advance(by: .seconds(59))
        #expect(!engine.status().stalled)
        manual.advance(by: .seconds(2))
        let stalled = engine.status()
        #expect(stalled.stalled)
        #expect(stalled.secondsSinceLastCommit == 61)
        engine.lock.withLock { engine.state.lastCompletedCommitAtMillis = manual.wallMillis }
        #expect(!engine.status().stalled)
    }

    /// A dead letter the broker never acknowledges is given up once `dead_letter.timeout_ms` has
    /// passed on the clock, so the commit that waits for it is bounded. The broker here does not
    /// exist; the clock is advanced instead of waiting.
    @Test(.timeLimit(.minutes(1)))
    func aDeadLetterIsGivenUpAfterItsTimeout() throws {
        let manual = ManualClock(wallMillis: 1_800_000_000_000)
        var limits = DeadLetterQueue.Limits()
        limits.timeout = .seconds(2)
        let queue = try DeadLetterQueue(
            configuration: KafkaConfiguration(bootstrapServers: "127.0.0.1:1"), topic: "dlq", limits: limits,
            logger: Logger(label: "test"), clock: .manual(manual))
        defer { queue.close() }
        queue.send(
            key: nil, value: [1, 2, 3], originalHeaders: [], rejection: Rejection(.malformedJSON, "bad"),
            source: TopicPartition(topic: "recstream.events", partition: 4), offset: 77)
        #expect(queue.pendingCount == 1)
        manual.advance(by: .seconds(8))
        let given = queue.awaitDelivered(shouldStop: { false })
        #expect(given.count == 1)
        #expect(given.first?.offset == 77 && given.first?.partition == 4)
        #expect(given.first?.recordedAtMillis == manual.wallMillis)
        #expect(queue.pendingCount == 0)
    }
}
