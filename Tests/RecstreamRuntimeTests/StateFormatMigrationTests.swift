import Foundation
import RecstreamCore
import RecstreamStorage
import Testing

@testable import RecstreamRuntime

/// A state directory written by format 1 (item statistics keyed by an item-dictionary index) or
/// format 2 (exposure filters one record per user) is migrated in place to the current format
/// (statistics keyed by the item's id bytes, exposure filters one record per (user, slice)) when
/// it is opened.
@Suite("State format migration")
struct StateFormatMigrationTests {
    @Test func aFormatOneDirectoryOpensWithEveryItemsStatisticsKept() throws {
        let directory = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = ShardConfiguration()
        var shard = Shard(partition: 2, configuration: configuration)
        let items = (0..<300).map { "item-\($0)" }
        for n in 0..<5_000 {
            let event = Event(
                eventID: "e\(n)", type: EventType.allCases[n % EventType.count], userID: "u\(n % 70)",
                itemID: items[(n * 7) % items.count], time: EventTime(millis: 1_793_491_200_000 + Int64(n) * 1_000))
            var decoder = EventDecoder()
            let decoded = try decoder.decode(event.jsonBytes().span, format: .json).get()
            _ = shard.apply(decoded, idBytes: decoder.idBytes, offset: Int64(n))
        }
        do {
            let repository = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
            try repository.commit(shard.drainChanges())
            // Rewrite the statistics the way format 1 stored them: under a dense index, with the
            // index -> id dictionary beside them, and the format-1 record.
            let prefix = ShardKeys.prefix(stage: ShardKeys.eventsStage, partition: 2)
            let statistics = prefix + [ShardKeys.familyKind, ItemStatistics.tag]
            var records: [([UInt8], [UInt8])] = []
            try repository.store.scan(prefix: statistics) { key, value in
                records.append((Array(key), Array(value)))
                return true
            }
            #expect(records.count == items.count)
            var batch = WriteBatch()
            for (index, (key, value)) in records.enumerated() {
                let indexBytes = withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
                batch.delete(key)
                batch.put(statistics + indexBytes, value)
                batch.put(prefix + [ShardKeys.itemDictionaryKind] + indexBytes, Array(key[statistics.count...]))
            }
            batch.put(ShardKeys.formatKey, StateRepository.formatRecord(topic: "t", version: 1))
            try repository.store.write(batch)
            #expect(try Self.rewriteExposureFiltersAsUserRecords(repository, shard: shard) > 0)
            repository.store.close()
        }

        let migrated = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
        #expect(try migrated.store.get(ShardKeys.formatKey) == StateRepository.formatRecord(topic: "t"))
        var dictionaryRecords = 0
        try migrated.store.scan(prefix: ShardKeys.prefix(stage: ShardKeys.eventsStage, partition: 2) + [ShardKeys.itemDictionaryKind]) { _, _ in
            dictionaryRecords += 1
            return true
        }
        #expect(dictionaryRecords == 0)
        let restored = try migrated.loadShard(partition: 2, configuration: configuration)
        #expect(restored.nextOffset == 5_000)
        for item in items {
            #expect(restored.itemCounters(item) == shard.itemCounters(item), "\(item)")
            #expect(restored.itemCounters(item) != nil)
        }
        #expect(try Self.userRecordCount(migrated, partition: 2) == 0)
        Self.expectSameExposureFilters(restored, shard, users: (0..<70).map { "u\($0)" }, items: items)
        // A format-1 directory of another topic is refused, not migrated.
        migrated.store.close()
        #expect(throws: StateRepository.MismatchError.self) {
            _ = try StateRepository(path: directory, syncWrites: false, eventsTopic: "other")
        }
    }

    /// A format-2 directory of two shards whose exposure filters are one record per user (and a
    /// heavy user with many slices of Bloom filters), one of them already rewritten as if a
    /// migration had stopped after its batch: opening it migrates the rest, and every filter,
    /// summary and answer is the one before.
    @Test func aFormatTwoDirectoryOpensWithEveryExposureFilterAnsweringAsBefore() throws {
        let directory = ModelFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configuration = ShardConfiguration()
        let users = (0..<200).map { "u\($0)" }
        let items = (0..<3_000).map { "item-\($0)" }
        var shards: [Shard] = []
        for partition in [Int32(2), 3] {
            var shard = Shard(partition: partition, configuration: configuration)
            for n in 0..<12_000 {
                // User 0 is heavy: every fourth exposure, over 40 days of event time.
                let user = n % 4 == 0 ? users[0] : users[(n * 7 + Int(partition)) % users.count]
                let event = Event(
                    eventID: "e\(partition)-\(n)", type: n % 10 == 9 ? .click : .exposure, userID: user,
                    itemID: items[(n * 13 + Int(partition)) % items.count],
                    time: EventTime(millis: 1_793_491_200_000 + Int64(n) * 288_000))
                var decoder = EventDecoder()
                let decoded = try decoder.decode(event.jsonBytes().span, format: .json).get()
                _ = shard.apply(decoded, idBytes: decoder.idBytes, offset: Int64(n))
            }
            shards.append(shard)
        }
        do {
            let repository = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
            for i in shards.indices { try repository.commit(shards[i].drainChanges()) }
            // Partition 2 as format 2 wrote it; partition 3 as an interrupted migration left it.
            let rewritten = try Self.rewriteExposureFiltersAsUserRecords(repository, shard: shards[0])
            #expect(rewritten > 100)
            var batch = WriteBatch()
            batch.put(ShardKeys.formatKey, StateRepository.formatRecord(topic: "t", version: 2))
            try repository.store.write(batch)
            repository.store.close()
        }
        let heavy = try #require(shards[0].exposureSummary(userID: users[0]))
        #expect(heavy.slices.count >= 5)

        let migrated = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
        #expect(try migrated.store.get(ShardKeys.formatKey) == StateRepository.formatRecord(topic: "t"))
        for (partition, shard) in zip([Int32(2), 3], shards) {
            #expect(try Self.userRecordCount(migrated, partition: partition) == 0)
            let restored = try migrated.loadShard(partition: partition, configuration: configuration)
            #expect(restored.nextOffset == 12_000)
            Self.expectSameExposureFilters(restored, shard, users: users, items: items)
        }
        // Opening again finds nothing to migrate and changes nothing.
        migrated.store.close()
        let again = try StateRepository(path: directory, syncWrites: false, eventsTopic: "t")
        let restored = try again.loadShard(partition: 2, configuration: configuration)
        #expect(restored.exposureSummary(userID: users[0]) == heavy)
    }

    /// Replaces the shard's exposure slice records with one record per user, the whole filter as
    /// formats 1 and 2 stored it. Returns how many users were rewritten.
    static func rewriteExposureFiltersAsUserRecords(_ repository: StateRepository, shard: Shard) throws -> Int {
        let family = shard.keyPrefix + [ShardKeys.familyKind, ExposureFilters.tag]
        var batch = WriteBatch()
        var users: Set<Int32> = []
        try repository.store.scan(prefix: family) { key, _ in
            let key = Array(key)
            batch.delete(key)
            users.insert(Int32(bitPattern: key[family.count..<(family.count + 4)].reduce(0) { $0 << 8 | UInt32($1) }))
            return true
        }
        for user in users {
            let filter = try #require(shard.exposureFilters.filter(of: user))
            var value = BinaryWriter()
            filter.encode(into: &value)
            var key = BinaryWriter()
            key.appendBigEndian(UInt32(bitPattern: user))
            batch.put(family + key.bytes, value.bytes)
        }
        try repository.store.write(batch)
        return users.count
    }

    /// Exposure records of the shard whose key is a user index alone (formats 1 and 2).
    static func userRecordCount(_ repository: StateRepository, partition: Int32) throws -> Int {
        let family = ShardKeys.prefix(stage: ShardKeys.eventsStage, partition: partition) + [ShardKeys.familyKind, ExposureFilters.tag]
        var count = 0
        try repository.store.scan(prefix: family) { key, _ in
            if key.count == family.count + 4 { count += 1 }
            return true
        }
        return count
    }

    /// Every user's filter, summary and answer for every item are the same in both shards.
    static func expectSameExposureFilters(_ restored: Shard, _ original: Shard, users: [String], items: [String]) {
        #expect(restored.exposureFilters.entryCount == original.exposureFilters.entryCount)
        #expect(original.exposureFilters.entryCount > 0)
        var differing = 0
        var exposed = 0
        for user in users {
            if restored.exposureSummary(userID: user) != original.exposureSummary(userID: user) { differing += 1 }
            for item in items {
                let answer = original.wasExposed(userID: user, itemHash: ExposureHash(item))
                if answer { exposed += 1 }
                if restored.wasExposed(userID: user, itemHash: ExposureHash(item)) != answer { differing += 1 }
            }
        }
        for user in 0..<Int32(users.count + 10) {
            if restored.exposureFilters.filter(of: user) != original.exposureFilters.filter(of: user) { differing += 1 }
        }
        #expect(differing == 0)
        #expect(exposed > 0)
    }
}
