import Foundation
import Logging
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

/// A store that moves with a partition: one shard (user-keyed stage, item-keyed stage) or the
/// engagement stage's instance state. Each has a key range in the local RocksDB store and one
/// partition of a compacted changelog topic `<group id>.<stage>.changelog` in Kafka.
struct MovableStore: Hashable, Sendable, CustomStringConvertible {
    enum Kind: UInt8, Sendable {
        case user = 0x65  // ShardKeys.eventsStage
        case item = 0x69  // ShardKeys.itemsStage
        case engagement = 0x67  // "g"

        var stageName: String {
            switch self {
            case .user: "user"
            case .item: "item"
            case .engagement: "engagement"
            }
        }
    }

    var kind: Kind
    var partition: Int32
    /// The changelog topic of the store's stage.
    var changelogTopic: String

    init(kind: Kind, partition: Int32, configuration: RecstreamConfiguration) {
        self.kind = kind
        self.partition = partition
        changelogTopic = configuration.changelogTopic(stage: kind.stageName)
    }

    var changelog: TopicPartition { TopicPartition(topic: changelogTopic, partition: partition) }

    /// The store's keys in the local store.
    var keyPrefix: [UInt8] {
        switch kind {
        case .user, .item: ShardKeys.prefix(stage: kind.rawValue, partition: partition)
        case .engagement: [InstanceState.marker]
        }
    }

    /// The local key holding the changelog offset the local copy reflects (not itself in the changelog).
    var positionKey: [UInt8] {
        var w = BinaryWriter()
        w.append(contentsOf: Array("C/".utf8))
        w.append(kind.rawValue)
        w.appendBigEndian(partition)
        return w.bytes
    }

    var description: String { "\(kind.stageName)/\(partition)" }
}

/// Writes each commit's changes of every owned store to its changelog partition, and restores a
/// store from its changelog when the local copy is not the latest.
///
/// A commit's records for one store form a batch: every record carries the header `rs-batch`
/// (a random id) and the last one also `rs-end`. The changelog batch is delivered before the
/// local RocksDB write, and the local write records the changelog offset it matches, so the local
/// copy is never ahead of the changelog: a crash between the two leaves the local copy behind,
/// which the next assignment detects (its position differs from the changelog's end) and
/// repairs by restoring. A restore applies only complete batches; a batch cut short by a crash
/// is dropped, exactly like the uncommitted local batch it mirrors.
final class Changelog: @unchecked Sendable {
    static let batchHeader = "rs-batch"
    static let endHeader = "rs-end"

    /// Nil for a restore-only changelog (dumps).
    private let producer: KafkaProducer?
    private let kafka: KafkaConfiguration
    private let offsets: DeliveredOffsets
    private let logger: Logger
    private var nextToken: UInt64 = 1
    private var random = SystemRandomNumberGenerator()

    /// Delivery offsets of batch-end records by token (filled by the producer's delivery callback).
    final class DeliveredOffsets: Sendable {
        let offsets = Mutex<[UInt64: Int64]>([:])
        func record(_ report: DeliveryReport) {
            guard report.token != 0, report.error == nil, let offset = report.offset else { return }
            offsets.withLock { $0[report.token] = offset }
        }
        func take(_ token: UInt64) -> Int64? { offsets.withLock { $0.removeValue(forKey: token) } }
    }

    init(producer: KafkaProducer?, offsets: DeliveredOffsets, kafka: KafkaConfiguration, logger: Logger) {
        self.producer = producer
        self.offsets = offsets
        self.kafka = kafka
        self.logger = logger
    }

    /// Sends `changes` of `store` as one batch; returns the token of its end record (nil if empty).
    /// Range deletes become one tombstone per key the local store holds in the range.
    func send(_ changes: StateChanges, of store: MovableStore, repository: StateRepository) throws -> UInt64? {
        guard !changes.isEmpty, let producer else { return nil }
        var records: [(key: [UInt8], value: [UInt8]?)] = []
        records.reserveCapacity(changes.recordCount)
        for range in changes.rangeDeletes {
            try repository.store.scan(from: range.from, to: range.to) { key, _ in
                records.append((Array(key), nil))
                return true
            }
        }
        for key in changes.deletes { records.append((key, nil)) }
        for put in changes.puts { records.append((put.key, put.value)) }
        guard !records.isEmpty else { return nil }
        var id = BinaryWriter()
        id.appendBigEndian(UInt64.random(in: 1...UInt64.max, using: &random))
        let batch = KafkaHeader(key: Self.batchHeader, value: id.bytes)
        let tp = store.changelog
        let token = nextToken
        nextToken += 1
        for (index, record) in records.enumerated() {
            let last = index == records.count - 1
            let headers = last ? [batch, KafkaHeader(key: Self.endHeader, value: [1])] : [batch]
            if let value = record.value {
                try producer.send(topic: tp.topic, partition: tp.partition, key: record.key, value: value, headers: headers, token: last ? token : 0)
            } else {
                try producer.sendTombstone(topic: tp.topic, partition: tp.partition, key: record.key, headers: headers, token: last ? token : 0)
            }
        }
        return token
    }

    /// The changelog offset after the batch whose end record had `token` (after a flush).
    func position(after token: UInt64) -> Int64? { offsets.take(token).map { $0 + 1 } }

    struct RestoreReport: Sendable {
        var records = 0
        var bytes = 0
        var batches = 0
        var seconds = 0.0
        /// False when the local copy was already the latest.
        var restored = false
    }

    /// Makes the local copy of `store` match its changelog: kept when its recorded position is
    /// the changelog's end, otherwise wiped and rebuilt from the changelog's complete batches.
    func restore(_ store: MovableStore, repository: StateRepository) throws -> RestoreReport {
        let started = ContinuousClock.now
        let reader = try PartitionReader(configuration: kafka, partition: store.changelog)
        defer { reader.close() }
        let (low, high) = try reader.watermarks(timeout: .seconds(30))
        let local = try repository.store.get(store.positionKey).flatMap { bytes -> Int64? in
            var r = BinaryReader(bytes)
            return (try? r.readBigEndianUInt64()).map { Int64(bitPattern: $0) }
        }
        var report = RestoreReport()
        if local == high { return report }
        if local == nil, high == 0, try !hasKeys(store, repository) { return report }
        report.restored = true
        var wipe = WriteBatch()
        wipe.deleteRange(from: store.keyPrefix, to: ShardKeys.end(of: store.keyPrefix))
        try repository.store.write(wipe)
        var ready: [(key: [UInt8], value: [UInt8]?)] = []
        var readyBytes = 0
        func write(_ records: [(key: [UInt8], value: [UInt8]?)], position: Int64?) throws {
            var batch = WriteBatch()
            for (k, v) in records {
                if let v { batch.put(k, v) } else { batch.delete(k) }
            }
            if let position {
                var w = BinaryWriter()
                w.appendBigEndian(UInt64(bitPattern: position))
                batch.put(store.positionKey, w.bytes)
            }
            try repository.store.write(batch)
        }
        var pending: [(key: [UInt8], value: [UInt8]?)] = []
        var pendingID: [UInt8]? = nil
        try reader.read(from: low, to: high, idleTimeout: .seconds(30)) { record in
            let id = record.header(Self.batchHeader).map { Array($0) }
            if id != pendingID {
                pending.removeAll(keepingCapacity: true)
                pendingID = id
            }
            let key = record.key.map { Array($0) } ?? []
            pending.append((key, record.isNullValue ? nil : Array(record.value)))
            report.records += 1
            report.bytes += key.count + record.value.count
            readyBytes += key.count + record.value.count
            guard record.header(Self.endHeader) != nil else { return }
            ready.append(contentsOf: pending)
            pending.removeAll(keepingCapacity: true)
            pendingID = nil
            report.batches += 1
            if readyBytes > 32 << 20 {
                try write(ready, position: nil)
                ready.removeAll(keepingCapacity: true)
                readyBytes = 0
            }
        }
        try write(ready, position: high)
        report.seconds = (ContinuousClock.now - started).seconds
        logger.info(
            "store restored from its changelog",
            metadata: [
                "store": "\(store)", "records": "\(report.records)", "bytes": "\(report.bytes)", "batches": "\(report.batches)",
                "seconds": "\(String(format: "%.3f", report.seconds))", "dropped_partial_records": "\(pending.count)",
            ])
        return report
    }

    private func hasKeys(_ store: MovableStore, _ repository: StateRepository) throws -> Bool {
        var found = false
        try repository.store.scan(from: store.keyPrefix, to: ShardKeys.end(of: store.keyPrefix)) { _, _ in
            found = true
            return false
        }
        return found
    }
}
