import RecstreamCore
import RecstreamTesting
import Testing

/// The core's side of hostile input: late events reach the families whose retention still holds
/// them, full dictionaries refuse instead of trapping, abandoned commits can be carried forward,
/// and the durable facts round-trip.
@Suite("Hostile input: core")
struct HostileInputCoreTests {
    let config = ShardConfiguration(allowedLatenessMillis: 600_000, dedupWindowMillis: 600_000)
    let day: Int64 = 86_400_000
    let now: Int64 = 1_793_491_200_000

    func exposure(_ id: String, user: String = "u1", item: String, at millis: Int64) -> Event {
        Event(eventID: id, type: .exposure, userID: user, itemID: item, time: EventTime(millis: millis))
    }

    @Test func lateExposureWithinRetentionIsRememberedButNotCountedInStatistics() {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(exposure("e1", item: "fresh", at: now), offset: 0)
        // Two days late: far beyond the 10-minute lateness, well inside the 30-day retention.
        #expect(shard.apply(exposure("e2", item: "flight", at: now - 2 * day), offset: 1) == .late)
        #expect(shard.wasExposed(userID: "u1", itemHash: ExposureHash("flight")))
        #expect(shard.counters.late == 1)
        #expect(shard.counters.lateExposuresKept == 1)
        // Item statistics drop it (their exactness rests on the 10-minute dedup memory).
        #expect(shard.itemCounters("flight")?[.exposure].total ?? 0 == 0)
        #expect(shard.itemCounters("flight")?.lateDropped(.exposure) == 1)
        #expect(shard.watermark == EventTime(millis: now))
    }

    @Test func lateExposureBeyondRetentionIsDroppedWithoutInterningItsUser() {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(exposure("e1", item: "fresh", at: now), offset: 0)
        let usersBefore = shard.users.count
        #expect(shard.apply(exposure("e2", user: "stranger", item: "old", at: now - 40 * day), offset: 1) == .late)
        #expect(shard.apply(exposure("e3", user: "epoch", item: "zero", at: 0), offset: 2) == .late)
        #expect(shard.counters.late == 2)
        #expect(shard.counters.lateExposuresKept == 0)
        #expect(shard.users.count == usersBefore)
        #expect(!shard.wasExposed(userID: "stranger", itemHash: ExposureHash("old")))
    }

    @Test func lateExposuresSurviveACommitAndRestore() throws {
        var shard = Shard(partition: 3, configuration: config)
        shard.apply(exposure("e1", item: "fresh", at: now), offset: 0)
        shard.apply(exposure("e2", item: "flight", at: now - 3 * day), offset: 1)
        var image = StateImage()
        image.apply(shard.drainChanges())
        let restored = try image.restoreShard(partition: 3, configuration: config)
        #expect(restored.wasExposed(userID: "u1", itemHash: ExposureHash("flight")))
        #expect(restored.counters == shard.counters)
    }

    @Test func fullDictionaryRefusesNewIdsAndAdmitsKnownOnes() throws {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(exposure("e1", user: "u1", item: "i1", at: now), offset: 0)
        shard.apply(exposure("e2", user: "u2", item: "i2", at: now), offset: 1)
        // Two ids per dictionary, both used.
        func decoded(_ event: Event) throws -> (DecodedEvent, [UInt8]) {
            var decoder = EventDecoder()
            let bytes = event.jsonBytes()
            let e = try decoder.decode(bytes.span, format: .json).get()
            return (e, decoder.idBytes)
        }
        let known = try decoded(exposure("e3", user: "u2", item: "i1", at: now))
        #expect(shard.admits(known.0, idBytes: known.1, maxIDs: 2))
        // Items have no dictionary in the shard: item statistics are keyed by the
        // item's id bytes and paged, so a new item costs disk, not an id.
        let newItem = try decoded(exposure("e4", user: "u1", item: "i3", at: now))
        #expect(shard.admits(newItem.0, idBytes: newItem.1, maxIDs: 2))
        let newItemNewUser = try decoded(exposure("e7", user: "u4", item: "i3", at: now))
        #expect(!shard.admits(newItemNewUser.0, idBytes: newItemNewUser.1, maxIDs: 2))
        let newUser = try decoded(exposure("e5", user: "u3", item: "i1", at: now))
        #expect(!shard.admits(newUser.0, idBytes: newUser.1, maxIDs: 2))
        // A click names no user in this shard's dictionary (exposures only).
        let click = try decoded(Event(eventID: "e6", type: .click, userID: "u9", itemID: "i2", time: EventTime(millis: now)))
        #expect(shard.admits(click.0, idBytes: click.1, maxIDs: 2))
        #expect(shard.admits(newUser.0, idBytes: newUser.1, maxIDs: 3))
    }

    @Test func internerRoomCountsIdsAgainstTheCap() {
        var interner = IdInterner()
        #expect(interner.hasRoom(maxCount: 1))
        interner.intern("a")
        #expect(!interner.hasRoom(maxCount: 1))
        let a = Array("a".utf8)
        let b = Array("b".utf8)
        let admitsKnown = interner.admits(a.span, maxCount: 1)
        let admitsNew = interner.admits(b.span, maxCount: 1)
        #expect(admitsKnown)
        #expect(!admitsNew)
    }

    /// put k1, put k2 (first commit, abandoned); delete k1, range-delete [k2, k3), put k4 (second):
    /// writing the merge must equal writing both in order.
    @Test func mergedChangesEqualWritingBothInOrder() {
        var first = StateChanges()
        first.put([1], [10])
        first.put([2], [20])
        first.put([5], [50])
        first.delete([6])
        var second = StateChanges()
        second.delete([1])
        second.deleteRange(from: [2], to: [3])
        second.put([4], [40])
        second.put([6], [60])
        var inOrder = StateImage()
        inOrder.apply(first)
        inOrder.apply(second)
        var merged = first
        merged.merge(later: second)
        var once = StateImage()
        once.apply(merged)
        #expect(once.records == inOrder.records)
        #expect(once.records == [[4]: [40], [5]: [50], [6]: [60]])
    }

    @Test func durableFactsRoundTrip() throws {
        let record = UndeliverableRecord(
            topic: "recstream.events", partition: 3, offset: 1_234_567, reason: .recordTooLarge, detail: "the record is 2000000 bytes",
            originalBytes: 2_000_000, error: "KafkaError(TOPIC_AUTHORIZATION_FAILED 29)", recordedAtMillis: now)
        #expect(try UndeliverableRecord.decode(record.encoded()) == record)
        #expect(record.storeKey.starts(with: UndeliverableRecord.keyPrefix))
        let loss = DataLossEvent(topic: "recstream.events", partition: 1, fromOffset: 20, toOffset: 57, detectedAtMillis: now, message: "gone")
        #expect(try DataLossEvent.decode(loss.encoded()) == loss)
        // Keys order by source position.
        var later = record
        later.offset += 1
        #expect(record.storeKey.lexicographicallyPrecedes(later.storeKey))
    }

    /// A state poisoned by an earlier version (one event ten years ahead moved the watermark
    /// there): repairClock moves it back and removes the future event everywhere, after which
    /// on-time events count again, before and after a restore.
    @Test func aPoisonedWatermarkIsRepairedAndOnTimeEventsCountAgain() throws {
        var shard = Shard(partition: 0, configuration: config)
        shard.apply(exposure("e1", item: "i1", at: now), offset: 0)
        let future = now + 3_650 * day
        shard.apply(exposure("poison", item: "i1", at: future), offset: 1)
        // What an earlier version did: on-time events are late now.
        #expect(shard.apply(exposure("e2", item: "i1", at: now + 1_000), offset: 2) == .late)

        let limit = EventTime(millis: now + 60_000)
        let repaired = shard.repairClock(notAfter: limit)
        let repair = try #require(repaired)
        #expect(repair.watermarkMillis == future)
        #expect(repair.statisticsEventsRemoved == 1)
        #expect(repair.dedupIDsForgotten == 1)
        #expect(repair.exposureSlicesRemoved == 1)
        #expect(shard.watermark == limit)
        let again = shard.repairClock(notAfter: limit)
        #expect(again == nil)

        #expect(shard.apply(exposure("e3", item: "i1", at: now + 2_000), offset: 3) == .applied)
        let counters = try #require(shard.itemCounters("i1"))
        // e1 and e3 in the all-time total; the poison is gone from it. e1's buckets were pruned
        // when the poison arrived (every window then ended ten years ahead): only a replay brings
        // that back, as the repair command says.
        #expect(counters[.exposure].total == 2)
        #expect(counters[.exposure].count(in: .thirtyDays, now: limit) == 1)
        var image = StateImage()
        image.apply(shard.drainChanges())
        var restored = try image.restoreShard(partition: 0, configuration: config)
        #expect(restored.watermark == limit)
        // The dedup memory remembers e3 and no longer the poison: a retry of e3 is a duplicate.
        #expect(restored.apply(exposure("e3", item: "i1", at: now + 2_000), offset: 4) == .duplicate)
        #expect(restored.apply(exposure("e4", item: "i1", at: now + 3_000), offset: 5) == .applied)
        #expect(restored.itemCounters("i1")?[.exposure].total == 3)
    }

    @Test func removingEventsAfterATimeFixesBucketsAndTotal() {
        var counter = WindowedCounter()
        counter.record(EventTime(millis: now), watermark: EventTime(millis: now))
        counter.record(EventTime(millis: now + 30_000), watermark: EventTime(millis: now + 30_000))
        // Two minutes later: a different minute bucket, the same hour and day.
        counter.record(EventTime(millis: now + 120_000), watermark: EventTime(millis: now + 120_000))
        #expect(counter.removeEvents(after: EventTime(millis: now + 60_000)) == 1)
        #expect(counter.total == 2)
        #expect(counter.count(in: .oneHour, now: EventTime(millis: now + 60_000)) == 2)
        #expect(counter.removeEvents(after: EventTime(millis: now + 60_000)) == 0)
    }
}

/// A switched-off family costs nothing per event: no id interned, no entry kept.
@Suite("Family switches")
struct FamilySwitchTests {
    let now: Int64 = 1_793_491_200_000

    @Test func aShardWithoutItemStatisticsInternsNoItem() {
        var shard = Shard(partition: 0, configuration: ShardConfiguration(itemStatisticsEnabled: false))
        shard.apply(Event(eventID: "e1", type: .exposure, userID: "u1", itemID: "i1", time: EventTime(millis: now)), offset: 0)
        shard.apply(Event(eventID: "e2", type: .click, userID: "u1", itemID: "i2", time: EventTime(millis: now)), offset: 1)
        #expect(shard.itemStatistics.entryCount == 0)
        #expect(shard.itemCounters("i1") == nil)
        #expect(shard.wasExposed(userID: "u1", itemHash: ExposureHash("i1")))
        #expect(shard.counters.appliedTotal == 2)
    }

    @Test func aShardWithoutExposureFiltersInternsNoUser() {
        var shard = Shard(partition: 0, configuration: ShardConfiguration(exposureFiltersEnabled: false))
        shard.apply(Event(eventID: "e1", type: .exposure, userID: "u1", itemID: "i1", time: EventTime(millis: now)), offset: 0)
        #expect(shard.users.count == 0)
        #expect(!shard.wasExposed(userID: "u1", itemHash: ExposureHash("i1")))
        #expect(shard.itemCounters("i1")?[.exposure].total == 1)
    }

    @Test func engagementStateKeepsOnlyTheFamiliesSwitchedOn() {
        var none = InstanceState(configuration: .default, families: EngagementFamilies(cooccurrence: false, seeds: false, log: false))
        #expect(!none.isEngagement(.click))
        var seedsOnly = InstanceState(configuration: .default, families: EngagementFamilies(cooccurrence: false, seeds: true, log: false))
        for n in 0..<5 {
            none.apply(type: .click, time: EventTime(millis: now + Int64(n)), userID: "u\(n)", itemID: "i1")
            seedsOnly.apply(type: .click, time: EventTime(millis: now + Int64(n)), userID: "u\(n)", itemID: "i1")
        }
        #expect(seedsOnly.seeds(itemID: "i1")?.count == 5)
        #expect(seedsOnly.similar(itemID: "i1", method: .itemCF, k: 10)?.isEmpty ?? true)
        #expect(seedsOnly.history(userID: "u1")?.isEmpty ?? true)
        #expect(seedsOnly.drainChanges().puts.allSatisfy { $0.key[1] != InstanceState.logKind })
    }
}
