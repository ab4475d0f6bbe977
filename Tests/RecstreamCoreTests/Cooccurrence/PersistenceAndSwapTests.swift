import RecstreamCore
import RecstreamTesting
import Testing

/// A family's persisted records, built by applying drained changes.
struct FamilyImage {
    var records: [[UInt8]: [UInt8]] = [:]

    mutating func commit(_ state: inout CooccurrenceState) {
        var changes = FamilyChanges()
        state.drainChanges(into: &changes)
        for record in changes.records { records[record.key] = record.value }
    }

    func restore(configuration: CooccurrenceConfiguration) throws -> CooccurrenceState {
        var state = CooccurrenceState(configuration: configuration)
        // Any order must do; use a scrambled one.
        for (key, value) in records.sorted(by: { $0.key.reversed().lexicographicallyPrecedes($1.key.reversed()) }) {
            try state.restore(key: key, value: value)
        }
        return state
    }
}

/// Everything a query can see, for comparing two states.
func observable(_ state: CooccurrenceState, items: Int32, users: Int32) -> [String] {
    var lines: [String] = []
    for i in 0..<items {
        lines.append("n \(i) \(state.degree(of: i))")
        for method in SimilarityMethod.allCases {
            lines.append(
                "\(method) \(i) "
                    + state.similar(item: i, method: method, k: 50).map { "\($0.item):\($0.score)" }.joined(
                        separator: ","))
        }
    }
    for u in 0..<users {
        lines.append(
            "h \(u) "
                + state.history(user: u).map { "\($0.item)/\($0.type.name)/\($0.time.millis)" }.joined(separator: ","))
    }
    return lines
}

@Suite("Co-occurrence persistence and exact swap")
struct PersistenceAndSwapTests {
    @Test(arguments: [51, 52] as [UInt64])
    func drainRestoreRoundTripAndReplay(seed: UInt64) throws {
        print("drain/restore seed \(seed)")
        var c = CooccurrenceConfiguration()
        c.candidatesPerItem = 40
        c.topK = 20
        c.itemCFActivityPenalty = seed % 2 == 0
        let engagements = syntheticStream(seed: seed, users: 120, items: 200, history: 30)
        var rng = SplitMix64(seed: seed)
        let cut = Int(rng.next() % UInt64(engagements.count))
        var live = CooccurrenceState(configuration: c)
        var image = FamilyImage()
        // Commit every 500 engagements, with an exact swap in the middle.
        for (n, e) in engagements.prefix(cut).enumerated() {
            live.apply(e, watermark: max(live.watermark ?? e.time, e.time))
            if n % 500 == 499 { image.commit(&live) }
            if n == cut / 2 {
                let window = live.beginExactRecompute().window
                let result = ExactSimilarities.compute(
                    engagements: engagements.prefix(n + 1), window: window, configuration: c, cut: live.outstandingCut)
                let swapped = live.replaceWithExact(result)
                #expect(swapped)
            }
        }
        image.commit(&live)
        var restored = try image.restore(configuration: c)
        #expect(observable(restored, items: 200, users: 120) == observable(live, items: 200, users: 120))
        #expect(restored.engagementSequence == live.engagementSequence)
        #expect(restored.exactWindowEnd == live.exactWindowEnd)
        // Replay: the rest of the stream gives the same state with or without the restart.
        feed(&live, engagements[cut...])
        feed(&restored, engagements[cut...])
        #expect(observable(restored, items: 200, users: 120) == observable(live, items: 200, users: 120))
        // And the records written afterwards agree too.
        var a = image
        var b = image
        a.commit(&live)
        b.commit(&restored)
        #expect(a.records == b.records)
    }

    @Test func malformedRecordsAreRejected() {
        var state = CooccurrenceState()
        #expect(throws: StateDecodingError.self) { try state.restore(key: [], value: []) }
        #expect(throws: StateDecodingError.self) { try state.restore(key: [0x09], value: []) }
        #expect(throws: StateDecodingError.self) { try state.restore(key: [0x01, 0, 0, 0], value: [0]) }
        #expect(throws: StateDecodingError.self) { try state.restore(key: [0x03, 7, 0, 0, 0, 1], value: [0]) }
        #expect(throws: StateDecodingError.self) { try state.restore(key: [0x00], value: [9]) }
        // Truncations of a valid history record.
        var live = CooccurrenceState()
        feed(&live, [engagement(3, 1, at: 0), engagement(3, 2, at: 1)])
        var changes = FamilyChanges()
        live.drainChanges(into: &changes)
        for record in changes.records {
            let value = record.value!
            for length in 0..<value.count {
                #expect(throws: StateDecodingError.self) {
                    try state.restore(key: record.key, value: Array(value.prefix(length)))
                }
            }
        }
    }

    @Test func recentUsersWithoutHistoriesAreSkipped() throws {
        // A recent-user list restored without its users' histories (their records were never
        // written): Swing updates and the minimum catch-up must skip those users.
        var c = CooccurrenceConfiguration()
        c.swing.minUserItems = 2
        var state = CooccurrenceState(configuration: c)
        var w = BinaryWriter()
        w.appendVarint(2)
        w.appendVarint(7)
        w.appendVarint(900)
        try state.restore(key: [CooccurrenceKeys.recentUsers, 0, 0, 0, 5], value: w.bytes)
        feed(
            &state,
            [engagement(1, 5, at: 0), engagement(1, 6, at: 1), engagement(2, 5, at: 2), engagement(2, 6, at: 3)])
        #expect(state.counters.swingCatchUps == 2)
        // Only user 1 and user 2 pair up: s(5,6) = (2 + 5)^-0.3 · (2 + 5)^-0.3 / (1 + 2).
        #expect(close(state.score(5, 6, method: .swing), 0.10370982973727526, 1e-14))
    }

    @Test(arguments: [61, 62] as [UInt64])
    func replaceWithExactKeepsPostCutUpdates(seed: UInt64) throws {
        print("swap seed \(seed)")
        var c = CooccurrenceConfiguration()
        c.candidatesPerItem = 2_000
        let engagements = syntheticStream(seed: seed, users: 150, items: 300, history: 30)
        let split = engagements.count / 2
        let before = Array(engagements[..<split])
        let after = Array(engagements[split...])

        // A: cut after the first half; the second half arrives while the exact job runs.
        var a = CooccurrenceState(configuration: c)
        feed(&a, before)
        let cut = a.beginExactRecompute()
        #expect(cut.engagementSequence == a.engagementSequence)
        feed(&a, after)
        let exact = ExactSimilarities.compute(
            engagements: before, window: cut.window, configuration: c, cut: cut, keepingAllPairs: true)
        // B: the same stream, no cut. B1: the first half only.
        var b = CooccurrenceState(configuration: c)
        feed(&b, engagements)
        var b1 = CooccurrenceState(configuration: c)
        feed(&b1, before)

        let swapped = a.replaceWithExact(exact)
        #expect(swapped)
        #expect(a.outstandingCut == nil)
        let pairs = try #require(exact.allPairs)
        for i in 0..<Int32(300) {
            // ItemCF: histories fit the cap, so the pre-cut increments were exact and A equals B.
            #expect(a.degree(of: i) == b.degree(of: i))
            for j in 0..<Int32(300) where j != i {
                #expect(a.cooccurrenceCount(i, j) == b.cooccurrenceCount(i, j), "c(\(i), \(j))")
                // Swing: exact part up to the cut plus the increments after it.
                let postCut = b.score(i, j, method: .swing) - b1.score(i, j, method: .swing)
                let expected = (pairs.swing[i]?[j] ?? 0) + postCut
                #expect(close(a.score(i, j, method: .swing), expected, 1e-9), "s(\(i), \(j))")
            }
        }
    }

    @Test func staleResultsAreRefusedAndAbandonFoldsBack() {
        let engagements = syntheticStream(seed: 71, users: 80, items: 150, history: 20)
        var c = CooccurrenceConfiguration()
        c.candidatesPerItem = 2_000
        var a = CooccurrenceState(configuration: c)
        feed(&a, engagements.prefix(1_000))
        let first = a.beginExactRecompute()
        feed(&a, engagements[1_000..<1_500])
        a.abandonExactRecompute()
        // A result for an abandoned cut is refused and changes nothing.
        let stale = ExactSimilarities.compute(
            engagements: engagements.prefix(1_000), window: first.window, configuration: c, cut: first)
        let snapshot = observable(a, items: 150, users: 80)
        let staleSwapped = a.replaceWithExact(stale)
        #expect(!staleSwapped)
        #expect(observable(a, items: 150, users: 80) == snapshot)
        // Abandoning folded the post-cut increments back: same as never cutting (Swing sums up to
        // rounding, as they were added in another order).
        var b = CooccurrenceState(configuration: c)
        feed(&b, engagements.prefix(1_500))
        for i in 0..<Int32(150) {
            #expect(a.degree(of: i) == b.degree(of: i))
            for j in 0..<Int32(150) {
                #expect(a.cooccurrenceCount(i, j) == b.cooccurrenceCount(i, j))
                #expect(close(a.score(i, j, method: .swing), b.score(i, j, method: .swing), 1e-12))
            }
        }
        // A new cut works; a result for another cut of the same id space is refused.
        let second = a.beginExactRecompute()
        #expect(second.id == first.id + 1)
        let wrongCut = a.replaceWithExact(
            ExactSimilarities.compute(
                engagements: engagements.prefix(1_000), window: first.window, configuration: c, cut: first))
        #expect(!wrongCut)
        let swapped = a.replaceWithExact(
            ExactSimilarities.compute(
                engagements: engagements.prefix(1_500), window: second.window, configuration: c, cut: second))
        #expect(swapped)
    }

    @Test func theExactSwapExpiresEngagementsOutsideTheWindow() {
        var c = CooccurrenceConfiguration()
        c.windowMillis = 3_600_000
        var state = CooccurrenceState(configuration: c)
        let old = [engagement(1, 1, at: 0), engagement(1, 2, at: 1), engagement(2, 1, at: 2), engagement(2, 2, at: 3)]
        let recent = [engagement(3, 1, at: 4_000), engagement(3, 3, at: 4_001)]
        feed(&state, old + recent)
        // Increments never expire on their own.
        #expect(state.cooccurrenceCount(1, 2) == 2)
        let cut = state.beginExactRecompute()
        let result = ExactSimilarities.compute(
            engagements: old + recent, window: cut.window, configuration: c, cut: cut)
        let swapped = state.replaceWithExact(result)
        #expect(swapped)
        // The window (4001 s - 1 h, 4001 s] excludes the first four.
        #expect(state.cooccurrenceCount(1, 2) == 0)
        #expect(state.cooccurrenceCount(1, 3) == 1)
        #expect(state.degree(of: 1) == 1)
        #expect(state.similar(item: 1, method: .swing).isEmpty)
    }
}
