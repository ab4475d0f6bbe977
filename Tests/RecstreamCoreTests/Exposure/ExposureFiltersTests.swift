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

    /// Records in key order, as a store scan delivers them.
    var sortedRecords: [(key: [UInt8], value: [UInt8])] {
        records.sorted { $0.key.lexicographicallyPrecedes($1.key) }.map { ($0.key, $0.value) }
    }

    /// The users with at least one record (keys start with the user index, big-endian).
    var users: Set<Int32> {
        Set(records.keys.map { Int32(bitPattern: UInt32($0[0]) << 24 | UInt32($0[1]) << 16 | UInt32($0[2]) << 8 | UInt32($0[3])) })
    }

    /// Records of `user`.
    func count(ofUser user: Int32) -> Int { records.keys.filter { $0.starts(with: userPrefix(user)) }.count }

    /// A family restored from the records in key order.
    func restored(configuration: ExposureFilterConfiguration) throws -> ExposureFilters {
        var family = ExposureFilters(configuration: configuration)
        for (key, value) in sortedRecords { try family.restore(key: key, value: value) }
        return family
    }
}

/// The first four bytes of every slice key of `user`.
func userPrefix(_ user: Int32) -> [UInt8] {
    let u = UInt32(bitPattern: user)
    return [UInt8(u >> 24), UInt8(truncatingIfNeeded: u >> 16), UInt8(truncatingIfNeeded: u >> 8), UInt8(truncatingIfNeeded: u)]
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
        #expect(store.users.count == family.entryCount)
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
        #expect(store.count(ofUser: 5) == 1)
        #expect(family.entryCount == 1)
        // User 2 keeps watching for 40 days; each exposure sweeps two users, so user 5 is visited.
        for d in 0...40 {
            let t = ExposureTime.at(days: Double(d))
            family.recordExposure(user: 2, itemHash: ExposureHash("item \(d)"), at: t, watermark: t)
            if d % 7 == 0 { drain() }
        }
        drain()
        let watermark = ExposureTime.at(days: 40)
        #expect(store.count(ofUser: 5) == 0)
        #expect(store.users == [2])
        // User 5's one slice, and user 2's slices older than the retention.
        #expect(store.deletes == 1 + 2)
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
        changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.count == 10)
        #expect(changes.records.allSatisfy { $0.value == nil })
        // Once the deletes are drained, nothing of the ten users is held.
        #expect(family.approximateBytes < bytesBefore)
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
        var family = ExposureFilters(configuration: configuration)
        let t = ExposureTime.at(days: 1)
        family.recordExposure(user: 1, itemHash: ExposureHash("i1"), at: t, watermark: t)
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        #expect(changes.records.count == 1)
        let key = changes.records[0].key
        let good = changes.records[0].value ?? []
        #expect(key.count == 12 && good.first == ExposureFilters.recordVersion)
        let slice = Int64(bitPattern: key[4...].reduce(0) { $0 << 8 | UInt64($1) } ^ (1 << 63))
        #expect(key == ExposureFilters.key(user: 1, slice: slice))
        var oldWriter = BinaryWriter()
        family.filter(of: 1)?.encode(into: &oldWriter)
        let cases: [(String, [UInt8], [UInt8])] = [
            ("short key", Array(key.dropLast()), good),
            ("a per-user key of the former layout", [0, 0, 0, 1], good),
            ("negative user index", [0x80] + key.dropFirst(), good),
            ("trailing byte", key, good + [0]),
            ("the former whole-filter record", key, oldWriter.bytes),
            ("no sub-filters", key, Array(good[0..<3]) + [0]),
            ("retention 0", key, [good[0], 0] + good[2...]),
            ("slice index beyond the year 10000", ExposureFilters.key(user: 1, slice: 1 << 38), good),
        ]
        for (name, key, value) in cases {
            var family = ExposureFilters()
            #expect(throws: StateDecodingError.self, "\(name)") { try family.restore(key: key, value: value) }
        }
        for length in 0..<good.count {
            var family = ExposureFilters()
            #expect(throws: StateDecodingError.self, "truncated at \(length)") {
                try family.restore(key: key, value: Array(good[0..<length]))
            }
        }
        var twice = ExposureFilters()
        try? twice.restore(key: key, value: good)
        #expect(throws: StateDecodingError.self) { try twice.restore(key: key, value: good) }
        var other = ExposureFilters()
        #expect(throws: Never.self) { try other.restore(key: key, value: good) }
        #expect(other.contains(user: 1, itemHash: ExposureHash("i1"), watermark: t))
        #expect(other.filter(of: 1) == family.filter(of: 1))
    }
}
