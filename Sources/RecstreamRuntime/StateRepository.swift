import Foundation
import RecstreamCore
import RecstreamStorage

/// The durable side of the engine: one RocksDB store holding every shard's records and the
/// offsets they reflect. A commit is one write batch, so after a crash the store holds exactly
/// the state as of some commit, never a mix.
final class StateRepository: @unchecked Sendable {
    let store: StateStore
    let path: String

    /// The state directory is damaged; serving from it would serve wrong data.
    struct CorruptionError: Error, CustomStringConvertible {
        var path: String
        var reason: String
        var description: String {
            "state directory \(path) is damaged (\(reason)). recstream will not serve from it. Rebuild the state from Kafka "
                + "in one command: `recstream state reset --state-dir \(path)` (moves it aside), then start again; the topic "
                + "must still hold the events the state was built from."
        }
    }

    /// Why a state directory cannot be used for this run.
    struct MismatchError: Error, CustomStringConvertible {
        var description: String
    }

    /// Opens (or creates) the store and checks that it holds state of this format and topic.
    /// - Throws: `StorageError` (cannot open, locked by another process, corrupt), or
    ///   `MismatchError` when the directory holds another format or another topic's state.
    init(
        path: String, syncWrites: Bool, eventsTopic: String, blockCacheBytes: Int = StoreOptions().blockCacheBytes,
        writeBufferBytes: Int = StoreOptions().writeBufferBytes
    ) throws {
        var options = StoreOptions()
        options.syncWrites = syncWrites
        options.blockCacheBytes = blockCacheBytes
        options.writeBufferBytes = writeBufferBytes
        store = try StateStore(path: path, options: options)
        self.path = path
        let expected = Self.formatRecord(topic: eventsTopic)
        let existing = try store.get(ShardKeys.formatKey)
        if let existing, let version = Self.migratableVersions.first(where: { existing == Self.formatRecord(topic: eventsTopic, version: $0) }) {
            try migrate(from: version)
        } else if let existing {
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

    static let clusterKey: [UInt8] = Array("F/cluster".utf8)

    /// Ties the state directory to one Kafka cluster: the first run records the cluster's id;
    /// later runs against another cluster are refused, since the stored offsets would point into
    /// a different log.
    /// - Throws: `MismatchError` naming both clusters.
    func checkCluster(_ clusterID: String) throws {
        if let stored = try store.get(Self.clusterKey) {
            let storedID = String(decoding: stored, as: UTF8.self)
            guard storedID == clusterID else {
                throw MismatchError(
                    description: "state directory \(path) holds state built from Kafka cluster \(storedID); the brokers given belong "
                        + "to cluster \(clusterID). Its offsets mean nothing here: use another --state-dir, or move this one aside "
                        + "with `recstream state reset --state-dir \(path)` to rebuild the state from this cluster's topic.")
            }
        } else {
            var batch = WriteBatch()
            batch.put(Self.clusterKey, Array(clusterID.utf8))
            try store.write(batch)
        }
    }

    /// Formats an open migrates in place to ``ShardKeys/formatVersion``.
    static let migratableVersions: [UInt32] = [1, 2]

    /// Brings a directory of an older format to ``ShardKeys/formatVersion`` in place: from 1 the
    /// item statistics (``migrateItemStatistics()``), from 1 or 2 the exposure filters
    /// (``migrateExposureFilters()``); then the format record. Each step writes one shard per
    /// batch and skips shards already done, so an interrupted migration resumes when the
    /// directory is opened again (the format record still names the old version until the end).
    /// Split-mode changelogs written by older formats are not rewritten: a group upgraded from
    /// them starts with a new `kafka.group_id` (docs/architecture.md).
    private func migrate(from version: UInt32) throws {
        if version <= 1 { try migrateItemStatistics() }
        if version <= 2 { try migrateExposureFilters() }
        var batch = WriteBatch()
        batch.put(ShardKeys.formatKey, Self.formatRecord(topic: try topicOfFormatRecord() ?? ""))
        try store.write(batch)
    }

    /// Format 1 → 2: each shard's item-statistics records move from item-index keys to item-id
    /// keys and its item dictionary goes, one shard per write batch (a shard without dictionary
    /// records is done).
    private func migrateItemStatistics() throws {
        for stage in [ShardKeys.eventsStage, ShardKeys.itemsStage] {
            for partition in try partitions(stage: stage) {
                let prefix = ShardKeys.prefix(stage: stage, partition: partition)
                var dictionary: [[UInt8]: [UInt8]] = [:]
                try store.scan(prefix: prefix + [ShardKeys.itemDictionaryKind]) { key, value in
                    dictionary[Array(key)] = Array(value)
                    return true
                }
                guard !dictionary.isEmpty else { continue }
                let statistics = prefix + [ShardKeys.familyKind, ItemStatistics.tag]
                var moved: [(old: [UInt8], new: [UInt8], value: [UInt8])] = []
                var failure: (any Error)? = nil
                let path = self.path
                try store.scan(prefix: statistics) { key, value in
                    let index = Array(key)[statistics.count...]
                    guard let id = dictionary[prefix + [ShardKeys.itemDictionaryKind] + index] else {
                        failure = CorruptionError(path: path, reason: "item-statistics record without a dictionary entry")
                        return false
                    }
                    moved.append((Array(key), statistics + id, Array(value)))
                    return true
                }
                if let failure { throw failure }
                // Every delete before every put: a new key may equal an old one.
                var batch = WriteBatch()
                for record in moved { batch.delete(record.old) }
                for key in dictionary.keys { batch.delete(key) }
                for record in moved { batch.put(record.new, record.value) }
                try store.write(batch)
            }
        }
    }

    /// Format 2 → 3: each shard's exposure filters, one record per user, become one record per
    /// (user, slice) (``ExposureFilters/sliceRecords(replacingUserRecord:value:)``), one shard
    /// per write batch (a shard without user records is done). Cost: reads and rewrites every
    /// exposure record once; a shard's records are held in memory for its batch.
    /// - Throws: `CorruptionError` for a record that is neither a user record nor a slice record.
    private func migrateExposureFilters() throws {
        for stage in [ShardKeys.eventsStage, ShardKeys.itemsStage] {
            for partition in try partitions(stage: stage) {
                let family = ShardKeys.prefix(stage: stage, partition: partition) + [ShardKeys.familyKind, ExposureFilters.tag]
                var batch = WriteBatch()
                var rewritten = 0
                var failure: (any Error)? = nil
                let path = self.path
                try store.scan(prefix: family) { key, value in
                    do {
                        let userKey = Array(key.extracting(family.count..<key.count))
                        guard let slices = try ExposureFilters.sliceRecords(replacingUserRecord: userKey, value: Array(value)) else {
                            return true
                        }
                        // A user key (4 bytes) never equals a slice key (12): no put undoes a delete.
                        batch.delete(Array(key))
                        for slice in slices { batch.put(family + slice.key, slice.value) }
                        rewritten += 1
                        return true
                    } catch {
                        failure = CorruptionError(path: path, reason: "exposure-filter record: \(error)")
                        return false
                    }
                }
                if let failure { throw failure }
                if rewritten > 0 { try store.write(batch) }
            }
        }
    }

    private func topicOfFormatRecord() throws -> String? {
        guard let existing = try store.get(ShardKeys.formatKey) else { return nil }
        var reader = BinaryReader(existing)
        _ = try reader.readBigEndianUInt32()
        return String(decoding: try reader.readLengthPrefixed(), as: UTF8.self)
    }

    static func formatRecord(topic: String, version: UInt32 = ShardKeys.formatVersion) -> [UInt8] {
        var w = BinaryWriter()
        w.appendBigEndian(version)
        w.appendLengthPrefixed(Array(topic.utf8))
        return w.bytes
    }

    /// The shard for `partition` as last committed, or an empty shard if none was.
    /// - Parameter paged: load what must be in memory (metadata, dedup memory, dictionaries) and
    ///   leave the paged families (item statistics, exposure filters) in the store, read on
    ///   demand; false: load everything (dumps, tools).
    func loadShard(stage: UInt8 = ShardKeys.eventsStage, partition: Int32, configuration: ShardConfiguration, paged: Bool = false) throws -> Shard {
        var shard = Shard(stage: stage, partition: partition, configuration: configuration, paged: paged)
        let families = shard.keyPrefix + [ShardKeys.familyKind]
        // Paged: the families' key range (item statistics, exposure filters) is skipped, not
        // read, so loading costs the same whatever the number of items and users.
        let ranges: [(from: [UInt8], to: [UInt8])] =
            paged
            ? [(shard.keyPrefix, families), (ShardKeys.end(of: families), ShardKeys.end(of: shard.keyPrefix))]
            : [(shard.keyPrefix, ShardKeys.end(of: shard.keyPrefix))]
        for range in ranges {
            try restoring(from: range.from, to: range.to) { try shard.restore(key: $0, value: $1) }
        }
        return shard
    }

    /// The committed record at `key`, or nil.
    func committedValue(_ key: [UInt8]) throws(StorageError) -> [UInt8]? { try store.get(key) }

    /// Every committed record under `prefix`, in key order, with the prefix cut off the keys.
    func committedRecords(under prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] {
        var records: [(key: [UInt8], value: [UInt8])] = []
        try store.scan(prefix: prefix) { key, value in
            records.append((Array(key.extracting(prefix.count..<key.count)), Array(value)))
            return true
        }
        return records
    }

    /// The instance-level state as last committed (dictionaries, co-occurrence, seeds, metadata; the
    /// engagement log stays on disk for the exact recompute).
    func loadInstanceState(
        configuration: CooccurrenceConfiguration, lookalike: LookalikeConfiguration = .default, families: EngagementFamilies = .all
    ) throws -> InstanceState {
        var instance = InstanceState(configuration: configuration, lookalike: lookalike, families: families)
        for kind in [UInt8(ascii: "c"), UInt8(ascii: "i"), UInt8(ascii: "m"), UInt8(ascii: "s"), UInt8(ascii: "u")] {
            let prefix = [InstanceState.marker, kind]
            try restoring(from: prefix, to: ShardKeys.end(of: prefix)) { try instance.restore(key: $0, value: $1) }
        }
        return instance
    }

    /// Hands every committed record in `[from, to)` to `restore`, in key order; the first error
    /// it throws stops the scan and is rethrown.
    private func restoring(from: [UInt8], to: [UInt8], _ restore: ([UInt8], [UInt8]) throws -> Void) throws {
        var failure: (any Error)? = nil
        try store.scan(from: from, to: to) { key, value in
            do {
                try restore(Array(key), Array(value))
                return true
            } catch {
                failure = error
                return false
            }
        }
        if let failure { throw failure }
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

    /// Every data-loss event recorded in this state directory, oldest source position first.
    func dataLossEvents() throws -> [DataLossEvent] {
        var events: [DataLossEvent] = []
        try store.scan(prefix: DataLossEvent.keyPrefix) { _, value in
            events.append(try DataLossEvent.decode(Array(value)))
            return true
        }
        return events
    }

    /// Refused records the dead-letter topic did not take, in source order, at most `limit`
    /// (from the first), and how many there are in all.
    func undeliverable(limit: Int) throws -> (records: [UndeliverableRecord], total: Int) {
        var records: [UndeliverableRecord] = []
        var total = 0
        try store.scan(prefix: UndeliverableRecord.keyPrefix) { _, value in
            total += 1
            if records.count < limit { records.append(try UndeliverableRecord.decode(Array(value))) }
            return true
        }
        return (records, total)
    }

    static let commitKey: [UInt8] = Array("F/commit".utf8)
    /// The sidecar file naming the last commit written; see ``verifyNotRolledBack()``.
    var commitMarkerPath: String { (path as NSString).appendingPathComponent("RECSTREAM-COMMIT") }
    /// Commits written to this store (persisted in every batch).
    private(set) var commitCount: UInt64 = 0

    /// Reads the commit counter and checks it against the sidecar file written after every commit.
    /// RocksDB recovers from a truncated MANIFEST or log by silently opening an older state; the
    /// counter in the store would then be behind the one the sidecar recorded, which this refuses.
    /// - Throws: `CorruptionError` when the store is behind the sidecar.
    func verifyNotRolledBack() throws {
        if let stored = try store.get(Self.commitKey) {
            var r = BinaryReader(stored)
            commitCount = try r.readBigEndianUInt64()
        }
        if let text = try? String(contentsOfFile: commitMarkerPath, encoding: .utf8), let recorded = UInt64(text.trimmingCharacters(in: .whitespacesAndNewlines)),
            recorded > commitCount
        {
            throw CorruptionError(
                path: path,
                reason: "the store's last commit is #\(commitCount) but commit #\(recorded) was completed: the store was rolled back or truncated")
        }
    }

    /// Reads every record once so RocksDB verifies every block checksum; restores and the
    /// engagement log would otherwise find damage only when they reach it.
    /// - Throws: `CorruptionError` on any checksum or format failure.
    func verifyAll() throws -> Int {
        var records = 0
        var next: [UInt8]? = []
        while let from = next {
            let chunk = try verify(from: from, limit: 100_000)
            records += chunk.records
            next = chunk.next
        }
        return records
    }

    /// Reads up to `limit` records from `from` on, bypassing the block cache, so RocksDB verifies
    /// their blocks' checksums. The store's lock is held for one chunk only: commits and reads go
    /// on between chunks. `next` is where the following chunk starts (nil: the end was reached).
    /// - Throws: `CorruptionError` on any checksum or format failure; `StorageError` otherwise.
    func verify(from: [UInt8], limit: Int) throws -> (records: Int, next: [UInt8]?) {
        var records = 0
        var last: [UInt8]? = nil
        do {
            try store.scan(from: from, to: [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], fillCache: false) { key, _ in
                records += 1
                guard records < limit else {
                    last = Array(key)
                    return false
                }
                return true
            }
        } catch let error as StorageError where error.kind == .corruption {
            throw CorruptionError(path: path, reason: error.message)
        }
        // The smallest key after `last`.
        return (records, last.map { $0 + [0] })
    }

    /// Writes `changes` as one atomic batch, then records the commit in the sidecar file.
    func commit(_ changes: StateChanges) throws(StorageError) {
        var batch = WriteBatch()
        var counter = BinaryWriter()
        counter.appendBigEndian(commitCount + 1)
        batch.put(Self.commitKey, counter.bytes)
        for range in changes.rangeDeletes { batch.deleteRange(from: range.from, to: range.to) }
        for key in changes.deletes { batch.delete(key) }
        for put in changes.puts { batch.put(put.key, put.value) }
        try store.write(batch)
        commitCount += 1
        // Atomic replace; a crash before it only leaves the marker behind the store (harmless).
        try? String(commitCount).write(toFile: commitMarkerPath, atomically: true, encoding: .utf8)
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

    /// The partitions that have records of `stage` in this store.
    func partitions(stage: UInt8 = ShardKeys.eventsStage) throws -> [Int32] {
        var partitions: Set<Int32> = []
        var next: [UInt8] = [ShardKeys.shardMarker, stage]
        // Jump from one partition's key range to the next instead of reading every record.
        while true {
            var found: Int32? = nil
            try store.scan(from: next, to: ShardKeys.end(of: [ShardKeys.shardMarker, stage])) { key, _ in
                if key.count >= 6 {
                    var w: UInt32 = 0
                    for i in 2..<6 { w = (w << 8) | UInt32(key[i]) }
                    found = Int32(bitPattern: w ^ 0x8000_0000)
                }
                return false
            }
            guard let partition = found else { break }
            partitions.insert(partition)
            next = ShardKeys.end(of: ShardKeys.prefix(stage: stage, partition: partition))
        }
        return partitions.sorted()
    }

    /// Reopens the store after a failed write (see `StateStore.reopen`).
    func reopen() throws(StorageError) { try store.reopen() }

    /// Flushes the memtable (so the next start replays no log) and closes.
    func close() {
        try? store.flush()
        store.close()
    }
}



extension StateRepository: CommittedRecords {
    func value(_ key: [UInt8]) throws -> [UInt8]? { try committedValue(key) }
    func records(under prefix: [UInt8]) throws -> [(key: [UInt8], value: [UInt8])] { try committedRecords(under: prefix) }
}
