import RecstreamCore
import Testing

@Suite("Seed lists")
struct SeedListsTests {
    @Test func seedsAreNewestFirstAndCappedAtS() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 3))
        for (user, second) in [(10, 1), (11, 2), (12, 3), (13, 4)] { seeds.apply(seedEngagement(Int32(user), 7, at: Int64(second))) }
        // S = 3: user 10, the oldest, was evicted.
        #expect(seeds.seedUsers(of: 7) == [13, 12, 11])
        #expect(seeds.seeds(of: 7).map(\.time.millis) == [4, 3, 2].map { lookalikeDay0 + $0 * 1000 })
        #expect(seeds.seedCount(of: 7) == 3)
        #expect(seeds.counters.evicted == 1)
        #expect(seeds.seeds(of: 7, limit: 2).map(\.user) == [13, 12])
        #expect(seeds.seedUsers(of: 8).isEmpty)
    }

    @Test func aReturningUserMovesToTheNewestPlaceOnce() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 3))
        for (user, second) in [(10, 1), (11, 2), (12, 3), (10, 4)] { seeds.apply(seedEngagement(Int32(user), 7, at: Int64(second))) }
        #expect(seeds.seedUsers(of: 7) == [10, 12, 11])
        #expect(seeds.seeds(of: 7)[0].time.millis == lookalikeDay0 + 4000)
        // A fourth distinct user now evicts 11, the oldest.
        seeds.apply(seedEngagement(13, 7, at: 5))
        #expect(seeds.seedUsers(of: 7) == [13, 10, 12])
        // An engagement older than the user's latest changes nothing.
        seeds.apply(seedEngagement(10, 7, at: 3))
        #expect(seeds.seedUsers(of: 7) == [13, 10, 12])
        #expect(seeds.counters.unchanged == 1)
    }

    @Test func aLateEngagementIsPlacedByTime() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 5))
        for (user, second) in [(1, 10), (2, 20), (3, 30)] { seeds.apply(seedEngagement(Int32(user), 0, at: Int64(second))) }
        seeds.apply(seedEngagement(4, 0, at: 15))
        #expect(seeds.seedUsers(of: 0) == [3, 2, 4, 1])
        // The late user is still found (and moved) by its next engagement.
        seeds.apply(seedEngagement(4, 0, at: 40))
        #expect(seeds.seedUsers(of: 0) == [4, 3, 2, 1])
    }

    @Test func seedsExpireByEventTime() {
        // Expiry 1 hour: at watermark t, seeds at or before t − 3600 s are gone.
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 5, minimum: 2, expirySeconds: 3_600))
        seeds.apply(seedEngagement(1, 0, at: 0))
        seeds.apply(seedEngagement(2, 0, at: 100))
        seeds.apply(seedEngagement(3, 1, at: 200))
        #expect(seeds.passesGate(0))
        // Another item's engagement moves the watermark to 3600 s: user 1 (at 0 s) has expired.
        seeds.apply(seedEngagement(9, 5, at: 3_600))
        #expect(seeds.seedUsers(of: 0) == [2])
        #expect(!seeds.passesGate(0))
        // The list itself still holds it until the sweep, which marks item 0 as changed.
        let batch = seeds.summaryBatch()
        seeds.completeSummaryBatch(batch)
        #expect(seeds.pendingSummaryCount == 0)
        #expect(seeds.expireSeeds() == 1)
        #expect(seeds.summaryBatch().tasks.map(\.item) == [0])
        // Too old on arrival: ignored.
        seeds.apply(seedEngagement(8, 0, at: 0))
        #expect(seeds.counters.tooOld == 1)
        #expect(seeds.seedUsers(of: 0) == [2])
        // Everything expires.
        seeds.apply(seedEngagement(9, 5, at: 10_000))
        seeds.expireSeeds()
        #expect(seeds.seedCount(of: 0) == 0 && seeds.seedCount(of: 1) == 0)
        #expect(seeds.totalSeeds == 1)
    }

    @Test func exposuresAreNotSeeds() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration())
        seeds.apply(Engagement(user: 1, item: 0, type: .exposure, time: EventTime(millis: lookalikeDay0)))
        #expect(seeds.seedCount(of: 0) == 0)
        #expect(seeds.counters.notEngagements == 1)
    }

    @Test func summaryMarksSurviveOnlyTheChangesMadeDuringARun() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 5, minimum: 2))
        seeds.apply(seedEngagement(1, 0, at: 1))
        seeds.apply(seedEngagement(2, 0, at: 2))
        seeds.apply(seedEngagement(1, 1, at: 3))
        let batch = seeds.summaryBatch()
        #expect(batch.tasks.map(\.item) == [0, 1])
        // Item 0 passes the gate (2 seeds): its users are copied; item 1 does not.
        #expect(batch.tasks[0].users == [2, 1] && batch.tasks[1].users.isEmpty)
        #expect(batch.tasks[1].seedCount == 1)
        // Item 1 changes while the job runs: it stays marked.
        seeds.apply(seedEngagement(3, 1, at: 4))
        seeds.completeSummaryBatch(batch)
        #expect(seeds.summaryBatch().tasks.map(\.item) == [1])
        seeds.markAllForSummary()
        #expect(seeds.pendingSummaryCount == 2)
        #expect(seeds.summaryBatch(limit: 1).tasks.count == 1)
    }

    /// The reference: per item, every user's latest engagement (time, arrival), the newest S after
    /// the cutoff. Equal to the lists when times never decrease.
    struct Reference {
        var latest: [Int32: [Int32: (time: Int64, sequence: Int)]] = [:]
        var sequence = 0
        var watermark = Int64.min

        mutating func apply(_ e: Engagement) {
            sequence += 1
            watermark = max(watermark, e.time.millis)
            if let old = latest[e.item]?[e.user], old.time >= e.time.millis { return }
            latest[e.item, default: [:]][e.user] = (e.time.millis, sequence)
        }

        func seeds(of item: Int32, cap: Int, expiry: Int64) -> [Seed] {
            let cutoff = watermark - expiry
            let all = (latest[item] ?? [:]).sorted { a, b in
                a.value.time != b.value.time ? a.value.time > b.value.time : a.value.sequence > b.value.sequence
            }
            return all.prefix(cap).filter { $0.value.time > cutoff }.map { Seed(user: $0.key, time: EventTime(millis: $0.value.time)) }
        }
    }

    @Test(arguments: [UInt64(1), 2, 3])
    func matchesTheReferenceAndSurvivesDrainAndRestore(seed: UInt64) throws {
        print("seed lists reference test: seed \(seed)")
        var random = TestRandom(seed: seed)
        let c = smallLookalikeConfiguration(seeds: 8, minimum: 3, expirySeconds: 120)
        var seeds = SeedLists(configuration: c)
        var reference = Reference()
        var store: [[UInt8]: [UInt8]] = [:]
        var second: Int64 = 0
        for step in 0..<6_000 {
            if random.below(3) == 0 { second += Int64(random.below(4)) }
            let e = seedEngagement(Int32(random.below(40)), Int32(random.below(12)), at: second)
            seeds.apply(e)
            reference.apply(e)
            if step % 500 == 0 {
                var changes = FamilyChanges()
                seeds.drainChanges(into: &changes)
                applyChanges(changes, to: &store)
            }
        }
        for item in Int32(0)..<12 {
            #expect(seeds.seeds(of: item) == reference.seeds(of: item, cap: c.seedsPerItem, expiry: c.seedExpiryMillis))
        }
        var changes = FamilyChanges()
        seeds.drainChanges(into: &changes)
        applyChanges(changes, to: &store)
        var restored = SeedLists(configuration: c)
        for key in orderedKeys(store) { try restored.restore(key: key, value: store[key] ?? []) }
        #expect(restored.watermark == seeds.watermark)
        #expect(restored.pendingSummaryCount == seeds.pendingSummaryCount)
        for item in Int32(0)..<12 { #expect(restored.seeds(of: item) == seeds.seeds(of: item)) }
        // Both continue identically.
        for _ in 0..<2_000 {
            second += Int64(random.below(2))
            let e = seedEngagement(Int32(random.below(40)), Int32(random.below(12)), at: second)
            seeds.apply(e)
            restored.apply(e)
        }
        for item in Int32(0)..<12 { #expect(restored.seeds(of: item) == seeds.seeds(of: item)) }
    }

    @Test func restoreRejectsMalformedRecords() {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration())
        #expect(throws: StateDecodingError.self) { try seeds.restore(key: [], value: []) }
        #expect(throws: StateDecodingError.self) { try seeds.restore(key: [LookalikeKeys.seeds, 0, 0], value: [0]) }
        // Two entries claimed, one present.
        #expect(throws: StateDecodingError.self) {
            try seeds.restore(key: LookalikeKeys.key(LookalikeKeys.seeds, 1), value: [2, 5, 1])
        }
        #expect(throws: StateDecodingError.self) { try seeds.restore(key: [0x7f], value: []) }
    }

    @Test func aRestoredListKeepsTheNewestSWhenSShrinks() throws {
        var seeds = SeedLists(configuration: smallLookalikeConfiguration(seeds: 5))
        for user in Int32(0)..<5 { seeds.apply(seedEngagement(user, 3, at: Int64(user))) }
        var changes = FamilyChanges()
        seeds.drainChanges(into: &changes)
        var store: [[UInt8]: [UInt8]] = [:]
        applyChanges(changes, to: &store)
        var smaller = SeedLists(configuration: smallLookalikeConfiguration(seeds: 3, minimum: 2))
        for key in orderedKeys(store) { try smaller.restore(key: key, value: store[key] ?? []) }
        #expect(smaller.seedUsers(of: 3) == [4, 3, 2])
    }
}
