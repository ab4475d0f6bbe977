import RecstreamCore
import Testing

/// A store image: the family's drained records applied to a dictionary, as a commit would.
struct FamilyStore {
    var records: [[UInt8]: [UInt8]] = [:]
    var deletes = 0

    mutating func apply(_ changes: FamilyChanges) {
        for record in changes.records {
            if let value = record.value {
                records[record.key] = value
            } else {
                records[record.key] = nil
                deletes += 1
            }
        }
    }

    func restored(configuration: ExposureFilterConfiguration) throws -> ExposureFilters {
        var family = ExposureFilters(configuration: configuration)
        for (key, value) in records { try family.restore(key: key, value: value) }
        return family
    }
}

/// A random exposure stream: users, a skewed item pool, a clock advancing about `days` in total,
/// 5 % of events late by up to 3 days.
struct ExposureStream {
    struct Exposure {
        var user: Int32
        var item: Int
        var time: EventTime
        var watermark: EventTime
    }

    var exposures: [Exposure] = []
    var itemHashes: [ExposureHash] = []

    init(seed: UInt64, count: Int, users: Int, items: Int, days: Int) {
        var rng = SplitMix64(seed: seed)
        var ids = ItemIDs()
        itemHashes = (0..<items).map { ids.member(UInt64($0)) }
        let step = UInt64(Int64(days) * ExposureTime.day / Int64(count) * 2)
        var clock = ExposureTime.day0
        var watermark = clock
        for _ in 0..<count {
            clock += Int64(rng.next() % step)
            var time = clock
            if rng.next() % 100 < 5 { time -= Int64(rng.next() % UInt64(3 * ExposureTime.day)) }
            watermark = max(watermark, time)
            // Squaring a uniform draw skews toward low item indices.
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            let item = Int(u * u * Double(items))
            exposures.append(
                Exposure(
                    user: Int32(rng.next() % UInt64(users)), item: item, time: EventTime(millis: time),
                    watermark: EventTime(millis: watermark)))
        }
    }

    func record(_ e: Exposure, into family: inout ExposureFilters) {
        family.recordExposure(user: e.user, itemHash: itemHashes[e.item], at: e.time, watermark: e.watermark)
    }
}

@Suite("ExposureFilters")
struct ExposureFiltersTests {
    let configuration = ExposureFilterConfiguration()

    @Test func identityAndApplyIsANoOp() {
        #expect(ExposureFilters.tag == 0x02)
        #expect(ExposureFilters.name == "exposure_filter")
        var family = ExposureFilters()
        let t = ExposureTime.at(days: 1)
        family.apply(ShardEvent(type: .exposure, time: t, item: 3, dwellMillis: nil, watermark: t))
        family.recordLateDrop(ShardEvent(type: .exposure, time: t, item: 3, dwellMillis: nil, watermark: t))
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.isEmpty)
        #expect(family.entryCount == 0)
    }

    /// Every (user, item) exposure whose latest time t satisfies t > W − N must answer true, at
    /// checkpoints along the stream and after a drain and restore.
    @Test func noFalseNegativesInARandomizedRun() throws {
        let seed: UInt64 = 0xE3_0002
        print("noFalseNegativesInARandomizedRun seed \(seed)")
        let stream = ExposureStream(seed: seed, count: 150_000, users: 1_000, items: 20_000, days: 75)
        var family = ExposureFilters(configuration: configuration)
        var latest: [UInt64: Int64] = [:]
        var checked = 0
        var missing: [(user: Int32, item: Int, time: Int64)] = []

        func check(_ family: ExposureFilters, watermark: EventTime) {
            for (key, time) in latest where time > watermark.millis - configuration.retentionMillis {
                let user = Int32(key >> 32)
                let item = Int(key & 0xffff_ffff)
                checked += 1
                if !family.contains(user: user, itemHash: stream.itemHashes[item], watermark: watermark) {
                    missing.append((user, item, time))
                }
            }
        }

        for (n, e) in stream.exposures.enumerated() {
            stream.record(e, into: &family)
            let key = UInt64(UInt32(e.user)) << 32 | UInt64(e.item)
            if e.time.millis > e.watermark.millis - configuration.retentionMillis {
                latest[key] = max(latest[key] ?? .min, e.time.millis)
            }
            if n % 30_000 == 29_999 { check(family, watermark: e.watermark) }
        }
        let watermark = stream.exposures.last!.watermark
        var store = FamilyStore()
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        store.apply(changes)
        let restored = try store.restored(configuration: configuration)
        check(restored, watermark: watermark)
        print("checked \(checked) remembered exposures, \(family.entryCount) users, \(family.approximateBytes) bytes")
        #expect(missing.isEmpty, "false negatives: \(missing.prefix(10))")
        #expect(checked > 200_000)
        #expect(restored.entryCount == family.entryCount)
    }

    /// Drains at random points into a store; at a random cut the store is restored into a fresh
    /// family, and both the original and the restored family apply the rest of the stream. They
    /// must hold equal filters at the cut and give equal answers at the end.
    @Test func drainAndRestoreRoundTrip() throws {
        let seed: UInt64 = 0xE3_0003
        print("drainAndRestoreRoundTrip seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let stream = ExposureStream(seed: seed, count: 40_000, users: 300, items: 5_000, days: 50)
        let cut = 15_000 + Int(rng.next() % 10_000)
        var family = ExposureFilters(configuration: configuration)
        var store = FamilyStore()
        var nextDrain = Int(rng.next() % 2_000)
        for (n, e) in stream.exposures[..<cut].enumerated() {
            stream.record(e, into: &family)
            if n == nextDrain {
                var changes = FamilyChanges()
                family.drainChanges(into: &changes)
                store.apply(changes)
                nextDrain += 1 + Int(rng.next() % 2_000)
            }
        }
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        store.apply(changes)
        var restored = try store.restored(configuration: configuration)
        #expect(restored.entryCount == family.entryCount)
        #expect(store.records.count == family.entryCount)
        for user in 0..<300 as Range<Int32> { #expect(restored.filter(of: user) == family.filter(of: user)) }

        for e in stream.exposures[cut...] {
            stream.record(e, into: &family)
            stream.record(e, into: &restored)
        }
        let watermark = stream.exposures.last!.watermark
        var differences = 0
        for user in 0..<300 as Range<Int32> {
            if restored.summary(user: user, watermark: watermark) != family.summary(user: user, watermark: watermark) {
                differences += 1
            }
            for item in stride(from: 0, to: 5_000, by: 7) {
                let hash = stream.itemHashes[item]
                if restored.contains(user: user, itemHash: hash, watermark: watermark)
                    != family.contains(user: user, itemHash: hash, watermark: watermark)
                {
                    differences += 1
                }
            }
        }
        #expect(differences == 0)
    }

    @Test func aUserWhoseSlicesAllExpiredIsDeleted() {
        var family = ExposureFilters(configuration: configuration)
        var store = FamilyStore()
        func drain() {
            var changes = FamilyChanges()
            family.drainChanges(into: &changes)
            store.apply(changes)
        }
        let t0 = ExposureTime.at(days: 0)
        family.recordExposure(user: 5, itemHash: ExposureHash("i1"), at: t0, watermark: t0)
        drain()
        #expect(store.records[[0, 0, 0, 5]] != nil)
        #expect(family.entryCount == 1)
        // User 2 keeps watching for 40 days; each exposure sweeps two users, so user 5 is visited.
        for d in 0...40 {
            let t = ExposureTime.at(days: Double(d))
            family.recordExposure(user: 2, itemHash: ExposureHash("item \(d)"), at: t, watermark: t)
            if d % 7 == 0 { drain() }
        }
        drain()
        let watermark = ExposureTime.at(days: 40)
        #expect(store.records[[0, 0, 0, 5]] == nil)
        #expect(store.deletes == 1)
        #expect(family.entryCount == 1)
        #expect(family.filter(of: 5) == nil)
        #expect(family.summary(user: 5, watermark: watermark) == nil)
        #expect(!family.contains(user: 5, itemHash: ExposureHash("i1"), watermark: watermark))
        #expect(family.summary(user: 2, watermark: watermark)?.estimatedCount ?? 0 >= 30)
    }

    @Test func anExplicitSweepDeletesIdleUsers() {
        var family = ExposureFilters(configuration: ExposureFilterConfiguration(sweepUsersPerExposure: 0))
        let t0 = ExposureTime.at(days: 0)
        for user in 0..<10 as Range<Int32> {
            family.recordExposure(user: user, itemHash: ExposureHash("i1"), at: t0, watermark: t0)
        }
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.count == 10)
        let bytesBefore = family.approximateBytes
        let later = ExposureTime.at(days: 40)
        let emptiedFirst = family.expire(watermark: later, maxUsers: 4)
        #expect(emptiedFirst == 4)
        let emptiedRest = family.expire(watermark: later, maxUsers: 100)
        #expect(emptiedRest == 6)
        #expect(family.entryCount == 0)
        #expect(family.approximateBytes < bytesBefore)
        changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.count == 10)
        #expect(changes.records.allSatisfy { $0.value == nil })
    }

    @Test func aRepeatedExposureWritesNothing() {
        var family = ExposureFilters(configuration: configuration)
        let t = ExposureTime.at(days: 1)
        family.recordExposure(user: 0, itemHash: ExposureHash("i1"), at: t, watermark: t)
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.count == 1)
        family.recordExposure(user: 0, itemHash: ExposureHash("i1"), at: t + .seconds(30), watermark: t + .seconds(30))
        changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.isEmpty)
    }

    @Test func malformedRecordsAreRejected() {
        var filter = ExposureFilter()
        let t = ExposureTime.at(days: 1)
        filter.insert(ExposureHash("i1"), at: t, watermark: t, configuration: configuration)
        var writer = BinaryWriter()
        filter.encode(into: &writer)
        let good = writer.bytes
        var emptyWriter = BinaryWriter()
        ExposureFilter().encode(into: &emptyWriter)
        let cases: [([UInt8], [UInt8])] = [
            ([0, 0, 1], good),  // short key
            ([0x80, 0, 0, 0], good),  // negative index
            ([0, 0, 0, 1], emptyWriter.bytes),  // an empty filter is never written
            ([0, 0, 0, 1], good + [0]),  // trailing byte
        ]
        for (key, value) in cases {
            var family = ExposureFilters()
            #expect(throws: StateDecodingError.self) { try family.restore(key: key, value: value) }
        }
        var family = ExposureFilters()
        #expect(throws: Never.self) { try family.restore(key: [0, 0, 0, 1], value: good) }
        #expect(family.contains(user: 1, itemHash: ExposureHash("i1"), watermark: t))
    }
}
