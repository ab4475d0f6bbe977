import Foundation
import RecstreamCore
import RecstreamStorage

/// The durable side of the engine: one RocksDB store holding every shard's records and the
/// offsets they reflect. A commit is one write batch, so after a crash the store holds exactly
/// the state as of some commit, never a mix.
final class StateRepository: @unchecked Sendable {
    let store: StateStore
    let path: String

    /// Why a state directory cannot be used for this run.
    struct MismatchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens (or creates) the store and checks that it holds state of this format and topic.
    /// - Throws: `StorageError` (cannot open, locked by another process, corrupt), or
    ///   `MismatchError` when the directory holds another format or another topic's state.
    init(path: String, syncWrites: Bool, eventsTopic: String) throws {
        var options = StoreOptions()
        options.syncWrites = syncWrites
        store = try StateStore(path: path, options: options)
        self.path = path
        let expected = Self.formatRecord(topic: eventsTopic)
        if let existing = try store.get(ShardKeys.formatKey) {
            guard existing == expected else {
                var reader = BinaryReader(existing)
                let version = (try? reader.readBigEndianUInt32()) ?? 0
                let topic = (try? reader.readLengthPrefixed()).map { String(decoding: $0, as: UTF8.self) } ?? "?"
                throw MismatchError(
                    description: "state directory \(path) holds format \(version) state of topic '\(topic)'; this run "
                        + "reads format \(ShardKeys.formatVersion) of topic '\(eventsTopic)'. Use another --state-dir, or "
                        + "remove this one to rebuild the state from Kafka.")
            }
        } else {
            var batch = WriteBatch()
            batch.put(ShardKeys.formatKey, expected)
            try store.write(batch)
        }
    }

    static func formatRecord(topic: String) -> [UInt8] {
        var w = BinaryWriter()
        w.appendBigEndian(ShardKeys.formatVersion)
        w.appendLengthPrefixed(Array(topic.utf8))
        return w.bytes
    }

    /// The shard for `partition` as last committed, or an empty shard if none was.
    func loadShard(partition: Int32, configuration: ShardConfiguration) throws -> Shard {
        var shard = Shard(partition: partition, configuration: configuration)
        var failure: (any Error)? = nil
        try store.scan(prefix: shard.keyPrefix) { key, value in
            do {
                try shard.restore(key: Array(key), value: Array(value))
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return shard
    }

    /// The instance-level state as last committed (dictionaries, co-occurrence, metadata; the
    /// engagement log stays on disk for the exact recompute).
    func loadInstanceState(configuration: CooccurrenceConfiguration) throws -> InstanceState {
        var instance = InstanceState(configuration: configuration)
        var failure: (any Error)? = nil
        for kind in [UInt8(ascii: "c"), UInt8(ascii: "i"), UInt8(ascii: "m"), UInt8(ascii: "u")] {
            try store.scan(prefix: [InstanceState.marker, kind]) { key, value in
                do {
                    try instance.restore(key: Array(key), value: Array(value))
                    return true
                } catch {
                    failure = error
                    return false
                }
            }
            if let failure { throw failure }
        }
        return instance
    }

    /// Every engagement in the log chunks written by commits up to `sequence`.
    func engagements(upTo sequence: UInt64) throws -> [Engagement] {
        var engagements: [Engagement] = []
        var failure: (any Error)? = nil
        try store.scan(prefix: [InstanceState.marker, InstanceState.logKind]) { key, value in
            let keyBytes = Array(key)
            guard let chunkSequence = InstanceState.logChunkSequence(keyBytes) else {
                failure = StateDecodingError("malformed engagement-log key")
                return false
            }
            guard chunkSequence <= sequence else { return true }
            do {
                engagements.append(contentsOf: try EngagementLogChunk.decode(Array(value)).engagements)
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
        return engagements
    }

    /// Writes `changes` as one atomic batch.
    func commit(_ changes: StateChanges) throws(StorageError) {
        var batch = WriteBatch()
        for range in changes.rangeDeletes { batch.deleteRange(from: range.from, to: range.to) }
        for key in changes.deletes { batch.delete(key) }
        for put in changes.puts { batch.put(put.key, put.value) }
        try store.write(batch)
    }

    /// A consistent copy of the store in a new directory under `directory` (see
    /// `StateStore.checkpoint`), with the offsets it reflects read back from the copy.
    func checkpoint(under directory: String, eventsTopic: String, configuration: ShardConfiguration) throws -> CheckpointReport {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate, .withTime, .withTimeZone]
        let name = formatter.string(from: Date()).replacingOccurrences(of: ":", with: "") + "-" + String(UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let target = (directory as NSString).appendingPathComponent(name)
        try store.checkpoint(to: target)
        let copy = try StateRepository(path: target, syncWrites: false, eventsTopic: eventsTopic)
        defer { copy.close() }
        var offsets: [Int32: Int64] = [:]
        for partition in try copy.partitions() {
            if let next = try copy.loadShard(partition: partition, configuration: configuration).nextOffset { offsets[partition] = next }
        }
        let bytes = (FileManager.default.subpaths(atPath: target) ?? []).reduce(Int64(0)) { total, file in
            let size = (try? FileManager.default.attributesOfItem(atPath: (target as NSString).appendingPathComponent(file))[.size] as? Int64) ?? 0
            return total + size
        }
        return CheckpointReport(path: target, offsets: offsets, bytes: bytes)
    }

    /// The partitions that have records in this store.
    func partitions() throws -> [Int32] {
        var partitions: Set<Int32> = []
        var next: [UInt8] = [ShardKeys.shardMarker, ShardKeys.eventsStage]
        // Jump from one partition's key range to the next instead of reading every record.
        while true {
            var found: Int32? = nil
            try store.scan(from: next, to: ShardKeys.end(of: [ShardKeys.shardMarker, ShardKeys.eventsStage])) { key, _ in
                if key.count >= 6 {
                    var w: UInt32 = 0
                    for i in 2..<6 { w = (w << 8) | UInt32(key[i]) }
                    found = Int32(bitPattern: w ^ 0x8000_0000)
                }
                return false
            }
            guard let partition = found else { break }
            partitions.insert(partition)
            next = ShardKeys.end(of: ShardKeys.prefix(stage: ShardKeys.eventsStage, partition: partition))
        }
        return partitions.sorted()
    }

    func close() { store.close() }
}

extension Array where Element == UInt8 {
    init(_ span: Span<UInt8>) {
        self.init()
        reserveCapacity(span.count)
        for i in span.indices { append(span[i]) }
    }
}
