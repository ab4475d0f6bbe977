import RecstreamCore
import Testing

/// Exposure filters as a cache over the store: a paged family that evicts after every drain and
/// reads users back on demand answers every probe, holds every filter and writes every record
/// exactly as a family that kept everything in memory.
@Suite("Paged exposure filters")
struct PagedExposureFiltersTests {
    let configuration = ExposureFilterConfiguration(retentionDays: 7, sliceCount: 4)

    /// Applies `changes` as a storage batch does: range deletes first, then the records.
    func commit(_ changes: FamilyChanges, to store: inout FamilyStore) {
        for range in changes.deletedRanges {
            for key in store.records.keys
            where !key.lexicographicallyPrecedes(range.from) && key.lexicographicallyPrecedes(range.to) {
                store.records[key] = nil
            }
        }
        store.apply(changes)
    }

    /// `user`'s committed records, as a prefix scan returns them (keys without the user prefix).
    func records(of user: Int32, in store: FamilyStore) -> [(key: [UInt8], value: [UInt8])] {
        let prefix = ExposureFilters.userPrefix(user)
        return store.records.filter { $0.key.starts(with: prefix) }.sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map { (Array($0.key.dropFirst(prefix.count)), $0.value) }
    }

    /// Random streams with late exposures; after every drain the paged family evicts down to a
    /// budget far below its state (a third of the drains: to nothing), and is rebuilt from the
    /// store at a cut as a restart would (every user not resident). Before each exposure a user
    /// who is not resident is installed from the store, as the runtime does.
    @Test(arguments: [0xEA_0001, 0xEA_0002, 0xEA_0003] as [UInt64])
    func aPagedFamilyMatchesOneThatKeepsEverything(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        let users = 120
        let items = 1_500
        let stream = ExposureStream(seed: seed, count: 20_000, users: users, items: items, days: 30)
        var paged = ExposureFilters(configuration: configuration, paged: true)
        var complete = ExposureFilters(configuration: configuration)
        var pagedStore = FamilyStore()
        var completeStore = FamilyStore()
        let restartAt = 5_000 + Int(rng.next() % 10_000)
        var nextDrain = Int(rng.next() % 500)
        var mismatches = 0
        var evictions = 0

        func drain() {
            var changes = FamilyChanges()
            paged.drainChanges(into: &changes)
            commit(changes, to: &pagedStore)
            var reference = FamilyChanges()
            complete.drainChanges(into: &reference)
            commit(reference, to: &completeStore)
            let budget = rng.next() % 3 == 0 ? 0 : paged.cachedBytes / 4
            if paged.evict(toBytes: budget) > 0 { evictions += 1 }
            if budget == 0 { #expect(paged.entryCount == 0, "every user is clean after a drain, so all go") }
        }

        /// The paged family's view of `user`: itself when resident, else the user's filter read
        /// from the store without installing it (as a query does).
        func pagedView(_ user: Int32) throws -> ExposureFilters {
            if paged.isResident(user) { return paged }
            return try ExposureFilters.stored(user: user, records: records(of: user, in: pagedStore), configuration: configuration)
        }

        for (n, exposure) in stream.exposures.enumerated() {
            if n == restartAt {
                drain()
                // A restart: the dictionary knows every user, the store holds their slices.
                paged = ExposureFilters(configuration: configuration, paged: true)
                for user in 0..<Int32(users) { paged.markNotResident(user) }
            }
            if !paged.isResident(exposure.user) {
                try paged.install(user: exposure.user, records: records(of: exposure.user, in: pagedStore))
            }
            paged.recordExposure(
                user: exposure.user, itemHash: stream.itemHashes[exposure.item], at: exposure.time, watermark: exposure.watermark)
            complete.recordExposure(
                user: exposure.user, itemHash: stream.itemHashes[exposure.item], at: exposure.time, watermark: exposure.watermark)
            if n == nextDrain {
                drain()
                nextDrain += 1 + Int(rng.next() % 700)
            }
            if n % 2_500 == 2_499 {
                let watermark = exposure.watermark
                for user in 0..<Int32(users) {
                    let view = try pagedView(user)
                    for item in stride(from: Int(user) % 13, to: items, by: 13) {
                        let hash = stream.itemHashes[item]
                        if view.contains(user: user, itemHash: hash, watermark: watermark)
                            != complete.contains(user: user, itemHash: hash, watermark: watermark)
                        {
                            mismatches += 1
                        }
                    }
                }
            }
        }
        drain()
        #expect(mismatches == 0)
        #expect(evictions > 10)
        #expect(paged.evictions > 1_000)
        #expect(paged.loads > 1_000)
        // The store images agree on every live slice: read every user back and compare filters.
        let watermark = stream.exposures.last!.watermark
        for user in 0..<Int32(users) {
            if !paged.isResident(user) { try paged.install(user: user, records: records(of: user, in: pagedStore)) }
            #expect(paged.summary(user: user, watermark: watermark) == complete.summary(user: user, watermark: watermark))
        }
    }

    /// A user evicted and never seen again: once its newest slice has expired, the sweep deletes
    /// its records without reading them, and a later read finds nothing.
    @Test func anEvictedUserWhoseSlicesExpiredIsDeletedUnread() throws {
        var family = ExposureFilters(configuration: ExposureFilterConfiguration(retentionDays: 1, sliceCount: 2), paged: true)
        var store = FamilyStore()
        let day = ExposureTime.day
        let start = EventTime(millis: ExposureTime.day0)
        family.recordExposure(user: 0, itemHash: ExposureHash("old"), at: start, watermark: start)
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        commit(changes, to: &store)
        #expect(store.count(ofUser: 0) == 1)
        _ = family.evict(toBytes: 0)
        _ = family.evict(toBytes: 0)
        #expect(!family.isResident(0))

        // Other users' exposures move the watermark two days on; the sweep passes user 0.
        let later = EventTime(millis: ExposureTime.day0 + 2 * day)
        for user in 1...4 as ClosedRange<Int32> {
            family.recordExposure(user: user, itemHash: ExposureHash("new"), at: later, watermark: later)
        }
        #expect(family.isResident(0))
        var sweep = FamilyChanges()
        family.drainChanges(into: &sweep)
        #expect(sweep.deletedRanges.count == 1)
        commit(sweep, to: &store)
        #expect(store.count(ofUser: 0) == 0)
        #expect(store.count(ofUser: 1) == 1)
        #expect(!family.contains(user: 0, itemHash: ExposureHash("old"), watermark: later))
    }

    /// A user evicted while a slice is still live is not deleted by the sweep.
    @Test func anEvictedUserWithALiveSliceKeepsItsRecords() throws {
        var family = ExposureFilters(configuration: ExposureFilterConfiguration(retentionDays: 3, sliceCount: 3), paged: true)
        var store = FamilyStore()
        let start = EventTime(millis: ExposureTime.day0)
        family.recordExposure(user: 0, itemHash: ExposureHash("kept"), at: start, watermark: start)
        var changes = FamilyChanges()
        family.drainChanges(into: &changes)
        commit(changes, to: &store)
        _ = family.evict(toBytes: 0)
        _ = family.evict(toBytes: 0)
        let later = EventTime(millis: ExposureTime.day0 + ExposureTime.day)
        for user in 1...4 as ClosedRange<Int32> {
            family.recordExposure(user: user, itemHash: ExposureHash("new"), at: later, watermark: later)
        }
        var sweep = FamilyChanges()
        family.drainChanges(into: &sweep)
        #expect(sweep.deletedRanges.isEmpty)
        #expect(!family.isResident(0))
        try family.install(user: 0, records: records(of: 0, in: store))
        #expect(family.contains(user: 0, itemHash: ExposureHash("kept"), watermark: later))
    }
}
