import Foundation
import RecstreamCore
import RecstreamStorage
import Testing

@testable import RecstreamRuntime

/// A state directory written by format 1 (item statistics keyed by an item-dictionary index) is
/// migrated in place to format 2 (keyed by the item's id bytes) when it is opened.
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
        // A format-1 directory of another topic is refused, not migrated.
        migrated.store.close()
        #expect(throws: StateRepository.MismatchError.self) {
            _ = try StateRepository(path: directory, syncWrites: false, eventsTopic: "other")
        }
    }
}
