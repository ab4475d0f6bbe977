import RecstreamCore
import RecstreamTesting
import Testing

/// A random multi-partition stream with in-order drift, late events, far-late events, retries
/// (duplicate ids) and a skewed item distribution.
func randomStream(seed: UInt64, count: Int, partitions: Int32) -> [(partition: Int32, event: Event)] {
    var rng = SplitMix64(seed: seed)
    var out: [(Int32, Event)] = []
    var clock: Int64 = 1_793_491_200_000
    for n in 0..<count {
        clock += Int64(rng.next() % 3_000)
        let partition = Int32(rng.next() % UInt64(partitions))
        let roll = rng.next() % 1000
        var time = clock
        if roll < 20 { time -= Int64(rng.next() % 900_000) }  // up to 15 min late: some beyond lateness
        if roll >= 20 && roll < 30, let previous = out.last(where: { $0.0 == partition }) {
            out.append(previous)  // a producer retry of the partition's previous event
            continue
        }
        let typeRoll = rng.next() % 100
        let type: EventType =
            typeRoll < 80 ? .exposure : typeRoll < 92 ? .click : EventType(rawValue: UInt8(2 + rng.next() % 4))!
        let item = "i\(Int(Double(rng.next() % 10_000) / 10_000 * Double(rng.next() % 200)))"
        out.append((partition, Event(eventID: "e\(n)", type: type, userID: "u\(rng.next() % 500)", itemID: item, time: EventTime(millis: time))))
    }
    return out
}

@Suite("Shard")
struct ShardTests {
    let config = ShardConfiguration(allowedLatenessMillis: 600_000, dedupWindowMillis: 600_000)

    func event(_ id: String, _ type: EventType, item: String = "i1", at millis: Int64) -> Event {
        Event(eventID: id, type: type, userID: "u1", itemID: item, time: EventTime(millis: millis))
    }

    @Test func duplicateIdIsAppliedOnce() {
        var shard = Shard(partition: 0, configuration: config)
        #expect(shard.apply(event("e1", .click, at: 1_000_000), offset: 0) == .applied)
        #expect(shard.apply(event("e1", .click, at: 1_000_000), offset: 1) == .duplicate)
        #expect(shard.itemCounters("i1")?[.click].total == 1)
        #expect(shard.counters.duplicates == 1)
        #expect(shard.nextOffset == 2)
    }

    @Test func eventWithinLatenessIsAppliedAndBeyondIsCountedLate() {
        var shard = Shard(partition: 0, configuration: config)
        let w: Int64 = 10_000_000
        shard.apply(event("e1", .exposure, at: w), offset: 0)
        // Exactly at the lateness bound (w - 600000) is still in time.
        #expect(shard.apply(event("e2", .exposure, at: w - 600_000), offset: 1) == .applied)
        // One millisecond older is late.
        #expect(shard.apply(event("e3", .exposure, at: w - 600_001), offset: 2) == .late)
        let c = shard.itemCounters("i1")!
        #expect(c[.exposure].total == 2)
        #expect(c.lateDropped(.exposure) == 1)
        #expect(shard.counters.late == 1)
        #expect(shard.watermark == EventTime(millis: w))
    }

    @Test func redeliveredOffsetsAreIgnored() {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(event("e1", .exposure, at: 1_000), offset: 10)
        #expect(shard.apply(event("e2", .exposure, at: 2_000), offset: 10) == .alreadyApplied)
        #expect(shard.apply(event("e2", .exposure, at: 2_000), offset: 9) == .alreadyApplied)
        #expect(shard.apply(event("e2", .exposure, at: 2_000), offset: 11) == .applied)
        #expect(shard.reject(offset: 11, reason: .malformedJSON) == .alreadyApplied)
        #expect(shard.reject(offset: 12, reason: .malformedJSON) == .applied)
        #expect(shard.counters.rejected[.malformedJSON] == 1)
        #expect(shard.nextOffset == 13)
    }

    @Test func matchesTheBruteForceReference() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("Shard reference seed \(seed)")
        let stream = randomStream(seed: seed, count: 20_000, partitions: 4)
        var reference = ReferenceItemStats(configuration: config)
        var shards = (0..<4).map { Shard(partition: Int32($0), configuration: config) }
        var offsets = [Int64](repeating: 0, count: 4)
        for (partition, event) in stream {
            let expected = reference.offer(event, partition: partition)
            let got = shards[Int(partition)].apply(event, offset: offsets[Int(partition)])
            offsets[Int(partition)] += 1
            #expect(got == expected, "seed \(seed) event \(event.eventID)")
        }
        let statsConfig = StatsConfiguration()
        #expect(ItemStatsQuery.watermark(of: shards) == reference.now)
        for item in reference.itemIDs.sorted() {
            let report = try #require(ItemStatsQuery.report(itemID: item, shards: shards, configuration: statsConfig))
            for type in EventType.allCases {
                for window in StatsWindow.allCases {
                    #expect(
                        report.counts[window]?[type] == reference.count(itemID: item, type: type, window: window),
                        "seed \(seed) item \(item) \(type) \(window)")
                }
                #expect(report.totals[type] == reference.total(itemID: item, type: type))
                #expect(report.lateDropped[type] == reference.lateDropped(itemID: item, type: type))
            }
        }
        #expect(ItemStatsQuery.report(itemID: "never-seen", shards: shards, configuration: statsConfig) == nil)
    }

    @Test func restoreAtRandomCutsReplaysToTheSameState() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        print("Shard restore seed \(seed)")
        var rng = SplitMix64(seed: seed &+ 1)
        let events = randomStream(seed: seed, count: 6_000, partitions: 1).map(\.event)

        var uninterrupted = Shard(partition: 3, configuration: config)
        for (offset, e) in events.enumerated() { uninterrupted.apply(e, offset: Int64(offset)) }

        // Commit at random points, "crash" at random points (losing uncommitted work), restore
        // from the committed image and resume from the committed offset.
        var image = StateImage()
        var shard = Shard(partition: 3, configuration: config)
        var position = 0
        var crashes = 0
        while position < events.count {
            shard.apply(events[position], offset: Int64(position))
            position += 1
            let roll = rng.next() % 100
            if roll < 5 { image.apply(shard.drainChanges()) }
            if roll == 99 {
                shard = try image.restoreShard(partition: 3, configuration: config)
                position = Int(shard.nextOffset ?? 0)
                crashes += 1
            }
        }
        image.apply(shard.drainChanges())
        let restored = try image.restoreShard(partition: 3, configuration: config)
        #expect(crashes > 0)
        #expect(shard.dumpLines() == uninterrupted.dumpLines())
        #expect(restored.dumpLines() == uninterrupted.dumpLines())
    }

    @Test func drainAfterDrainIsEmptyButMetaTracksOffsets() {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(event("e1", .click, at: 5_000), offset: 0)
        let first = shard.drainChanges()
        #expect(first.puts.count == 3)  // dedup chunk, item stats (keyed by the item's id bytes), meta
        #expect(shard.drainChanges().isEmpty)
        _ = shard.reject(offset: 1, reason: .invalidID)
        let third = shard.drainChanges()
        #expect(third.puts.count == 1)  // only the meta moved
    }

    @Test func corruptRecordIsRefusedOnRestore() {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(event("e1", .click, at: 5_000), offset: 0)
        var image = StateImage()
        image.apply(shard.drainChanges())
        for (key, value) in image.records where value.count > 2 {
            var broken = image
            var changes = StateChanges()
            changes.put(key, Array(value.dropLast(2)))
            broken.apply(changes)
            #expect(throws: StateDecodingError.self) {
                _ = try broken.restoreShard(partition: 0, configuration: config)
            }
        }
    }
}
