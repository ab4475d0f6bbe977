import RecstreamCore
import Testing

/// The compact family against the plain one (``PlainExposureFilters``) and an exact set, its
/// per-slice records, and its memory against its persisted bytes.
@Suite("CompactExposureFilters")
struct CompactExposureFiltersTests {
    let configuration = ExposureFilterConfiguration()

    /// Whether two summaries agree on everything but bytes (the plain filter counts fingerprint
    /// words, the compact one packed bytes).
    func sameExceptBytes(_ a: ExposureSummary?, _ b: ExposureSummary?) -> Bool {
        guard let a, let b else { return a == nil && b == nil }
        func strip(_ s: ExposureSummary) -> ExposureSummary {
            var s = s
            s.byteCount = 0
            for i in s.slices.indices { s.slices[i].byteCount = 0 }
            return s
        }
        return strip(a) == strip(b)
    }

    /// Random streams (late exposures, repeats, a far-future exposure repaired with
    /// `removeSlices(after:)`), drained at random points and restored at two random cuts, in key
    /// order or shuffled. Throughout, the compact family must hold exactly the plain family's
    /// filters and store image, answer every probe (members and non-members) as it does, and
    /// never miss an exposure the exact set says is within the retention.
    @Test(arguments: [0xC0_0001, 0xC0_0002, 0xC0_0003, 0xC0_0004] as [UInt64])
    func compactFamilyMatchesThePlainFamilyAndTheExactSet(seed: UInt64) throws {
        print("compactFamilyMatchesThePlainFamilyAndTheExactSet seed \(seed)")
        var rng = SplitMix64(seed: seed)
        let users = 150
        let items = 2_000
        let stream = ExposureStream(seed: seed, count: 24_000, users: users, items: items, days: 70)
        let count = stream.exposures.count
        var compact = ExposureFilters(configuration: configuration)
        var plain = PlainExposureFilters(configuration: configuration)
        var store = FamilyStore()
        var latest: [UInt64: Int64] = [:]
        let cuts = Set((0..<2).map { _ in 2_000 + Int(rng.next() % UInt64(count - 4_000)) })
        let poisonAt = 1_000 + Int(rng.next() % UInt64(count - 2_000))
        var nextDrain = Int(rng.next() % 700)
        var mismatches = 0
        var falseNegatives = 0
        var probes = 0

        func drain() {
            var changes = FamilyChanges()
            compact.drainChanges(into: &changes)
            store.apply(changes)
            if store.records != plain.storeImage { mismatches += 1 }
        }

        func check(watermark: EventTime) {
            var ids = ItemIDs()
            for user in 0..<Int32(users) {
                if compact.filter(of: user) != plain.filter(of: user) { mismatches += 1 }
                let compactSummary = compact.summary(user: user, watermark: watermark)
                let plainSummary = plain.filter(of: user)?.summary(watermark: watermark)
                if !sameExceptBytes(compactSummary, plainSummary?.slices.isEmpty == false ? plainSummary : nil) {
                    mismatches += 1
                }
                for item in stride(from: Int(user) % 11, to: items, by: 11) {
                    let hash = stream.itemHashes[item]
                    let answer = compact.contains(user: user, itemHash: hash, watermark: watermark)
                    probes += 1
                    if answer != plain.contains(user: user, itemHash: hash, watermark: watermark) { mismatches += 1 }
                    let key = UInt64(UInt32(user)) << 32 | UInt64(item)
                    if let t = latest[key], t > watermark.millis - configuration.retentionMillis, !answer {
                        falseNegatives += 1
                    }
                }
                for n in 0..<40 as Range<UInt64> {
                    let hash = ids.nonMember(UInt64(user) << 16 | n)
                    probes += 1
                    if compact.contains(user: user, itemHash: hash, watermark: watermark)
                        != plain.contains(user: user, itemHash: hash, watermark: watermark)
                    {
                        mismatches += 1
                    }
                }
            }
            if compact.entryCount != plain.entryCount { mismatches += 1 }
        }

        for (n, e) in stream.exposures.enumerated() {
            compact.recordExposure(user: e.user, itemHash: stream.itemHashes[e.item], at: e.time, watermark: e.watermark)
            plain.recordExposure(user: e.user, itemHash: stream.itemHashes[e.item], at: e.time, watermark: e.watermark)
            if e.time.millis > e.watermark.millis - configuration.retentionMillis {
                let key = UInt64(UInt32(e.user)) << 32 | UInt64(e.item)
                latest[key] = max(latest[key] ?? .min, e.time.millis)
            }
            if n == poisonAt {
                // A far-future exposure, then the clock repair that removes what it created.
                // Its watermark expires the user's slices and those of the users it sweeps: the
                // exact set forgets those users too.
                let before = (0..<Int32(users)).map { plain.filter(of: $0)?.slices.count ?? 0 }
                let future = e.watermark + .milliseconds(100 * ExposureTime.day)
                compact.recordExposure(user: e.user, itemHash: stream.itemHashes[0], at: future, watermark: future)
                plain.recordExposure(user: e.user, itemHash: stream.itemHashes[0], at: future, watermark: future)
                let removed = compact.removeSlices(after: e.watermark)
                if removed != plain.removeSlices(after: e.watermark) || removed == 0 { mismatches += 1 }
                let poisoned = Set((0..<Int32(users)).filter { (plain.filter(of: $0)?.slices.count ?? 0) < before[Int($0)] })
                latest = latest.filter { !poisoned.contains(Int32($0.key >> 32)) }
            }
            if n == nextDrain {
                drain()
                nextDrain += 1 + Int(rng.next() % 1_400)
            }
            if cuts.contains(n) {
                drain()
                var restored = ExposureFilters(configuration: configuration)
                var records = store.sortedRecords
                if rng.next() % 2 == 0 { records.shuffle(using: &rng) }
                for (key, value) in records { try restored.restore(key: key, value: value) }
                compact = restored
                plain = try PlainExposureFilters(configuration: configuration, image: store.records)
                check(watermark: e.watermark)
            }
            if n % 4_000 == 3_999 { check(watermark: e.watermark) }
        }
        drain()
        check(watermark: stream.exposures[count - 1].watermark)
        print("seed \(seed): \(probes) probes, \(store.records.count) slice records, \(store.deletes) deletes")
        #expect(mismatches == 0)
        #expect(falseNegatives == 0)
        #expect(store.deletes > 0)
    }

    /// A heavy user's filter spans several slices of Bloom filters; once committed, one more
    /// exposure in one slice rewrites that slice's record alone, whichever slice it is.
    @Test func aHeavyUsersNextCommitWritesOnlyTheSliceThatChanged() throws {
        var family = ExposureFilters(configuration: configuration)
        var ids = ItemIDs()
        let heavy: Int32 = 7
        let start = ExposureTime.day0
        let span = 24 * ExposureTime.day
        for n in 0..<20_000 as Range<Int64> {
            let t = EventTime(millis: start + span * n / 20_000)
            family.recordExposure(user: heavy, itemHash: ids.member(UInt64(n)), at: t, watermark: t)
            if n % 50 == 0 { family.recordExposure(user: Int32(n % 5), itemHash: ids.member(UInt64(n)), at: t, watermark: t) }
        }
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        let heavyRecords = changes.records.filter { $0.key.starts(with: userPrefix(heavy)) }
        let filter = try #require(family.filter(of: heavy))
        #expect(heavyRecords.count == filter.slices.count && filter.slices.count >= 5)
        #expect(filter.slices.allSatisfy { $0.filter.filters.contains { if case .bloom = $0 { true } else { false } } })
        let wholeFilterBytes = heavyRecords.reduce(0) { $0 + ($1.value?.count ?? 0) }

        let watermark = EventTime(millis: start + span)
        for (slice, item) in [(filter.slices.count - 1, 1_000_000), (1, 1_000_001)] as [(Int, UInt64)] {
            let index = filter.slices[slice].index
            let t = max(filter.start(ofSlice: index), EventTime(millis: start))
            family.recordExposure(user: heavy, itemHash: ids.member(item), at: t, watermark: watermark)
            changes = FamilyChanges()
            family.drainChanges(into: &changes)
            #expect(changes.records.count == 1)
            #expect(changes.records.first?.key == ExposureFilters.key(user: heavy, slice: index))
            let updated = try #require(family.filter(of: heavy))
            var expected = BinaryWriter()
            expected.append(ExposureFilters.recordVersion)
            expected.appendVarint(30)
            expected.appendVarint(6)
            updated.slices[slice].filter.encode(into: &expected)
            #expect(changes.records.first?.value == expected.bytes)
            // Bytes written: one slice's, not the filter's.
            let written = changes.records.reduce(0) { $0 + ($1.value?.count ?? 0) }
            print("heavy user: \(written) bytes written of \(wholeFilterBytes) in \(heavyRecords.count) slice records")
            #expect(written * 3 < wholeFilterBytes)
        }
    }

    /// The benchmark's population in small: Zipf(1.0)-active users, each exposure to a new item,
    /// 30 days of event time. Memory (every heap byte) stays within 1.5 times the bytes of the
    /// records a drain writes.
    @Test func memoryStaysWithinOneAndAHalfTimesThePersistedBytes() {
        let users = 20_000
        let exposures = 400_000
        let seed: UInt64 = 1
        print("memoryStaysWithinOneAndAHalfTimesThePersistedBytes seed \(seed)")
        var family = ExposureFilters(configuration: configuration)
        var rng = Xoshiro256StarStar(seed: seed)
        let zipf = ZipfSampler(ranks: users, exponent: 1.0)
        let start = ExposureTime.day0
        let span = 30 * ExposureTime.day
        for n in 0..<exposures {
            let user = Int32(zipf.next(using: &rng) - 1)
            let h = SplitMix64.mix(UInt64(n) &+ seed)
            let t = EventTime(millis: start + span * Int64(n) / Int64(exposures))
            family.recordExposure(user: user, itemHash: ExposureHash(Hash128(low: h, high: SplitMix64.mix(h))), at: t, watermark: t)
        }
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        let persisted = changes.records.reduce(0) { $0 + ($1.value?.count ?? 0) }
        let ratio = Double(family.approximateBytes) / Double(persisted)
        print(
            "\(family.entryCount) users, \(changes.records.count) slice records: \(family.approximateBytes) bytes in memory, "
                + "\(persisted) persisted, ratio \(twoDecimals(ratio))")
        #expect(ratio <= 1.5)
    }
}
