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

    /// Writes `changes` as one atomic batch.
    func commit(_ changes: StateChanges) throws(StorageError) {
        var batch = WriteBatch()
        for range in changes.rangeDeletes { batch.deleteRange(from: range.from, to: range.to) }
        for key in changes.deletes { batch.delete(key) }
        for put in changes.puts { batch.put(put.key, put.value) }
        try store.write(batch)
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
