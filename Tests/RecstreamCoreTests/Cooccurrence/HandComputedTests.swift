import RecstreamCore
import RecstreamTesting
import Testing

/// Three users, four items, small enough to check by hand:
///
///     A (user 0): items {0, 1}          |I_A| = 2
///     B (user 1): items {0, 1, 2, 3}    |I_B| = 4
///     C (user 2): items {1, 2, 3}       |I_C| = 3
///
///     U_0 = {A, B}  U_1 = {A, B, C}  U_2 = {B, C}  U_3 = {B, C}
///     n_0 = 2       n_1 = 3          n_2 = 2       n_3 = 2
///
/// engaged in the order A0 A1 B0 B1 B2 B3 C1 C2 C3, one second apart.
@Suite("Hand-computed co-occurrence")
struct HandComputedTests {
    let stream: [Engagement] = [
        engagement(0, 0, at: 0), engagement(0, 1, at: 1),
        engagement(1, 0, at: 2), engagement(1, 1, at: 3), engagement(1, 2, at: 4), engagement(1, 3, at: 5),
        engagement(2, 1, at: 6), engagement(2, 2, at: 7), engagement(2, 3, at: 8),
    ]

    func exact(_ c: CooccurrenceConfiguration) -> ExactSimilarities {
        ExactSimilarities.compute(
            engagements: stream, window: windowEnding(stream, configuration: c), configuration: c, keepingAllPairs: true
        )
    }

    @Test func itemCF() throws {
        // c(0,1): A, B → 2      sim = 2 / sqrt(n_0 · n_1) = 2 / sqrt(2 · 3) = 2 / √6 = 0.8164965809277261
        // c(0,2): B → 1         sim = 1 / sqrt(2 · 2) = 0.5
        // c(0,3): B → 1         sim = 1 / sqrt(2 · 2) = 0.5
        // c(1,2): B, C → 2      sim = 2 / sqrt(3 · 2) = 0.8164965809277261
        // c(1,3): B, C → 2      sim = 0.8164965809277261
        // c(2,3): B, C → 2      sim = 2 / sqrt(2 · 2) = 1
        let expected: [(Int32, Int32, UInt32, Double)] = [
            (0, 1, 2, 0.8164965809277261), (0, 2, 1, 0.5), (0, 3, 1, 0.5),
            (1, 2, 2, 0.8164965809277261), (1, 3, 2, 0.8164965809277261), (2, 3, 2, 1),
        ]
        let c = CooccurrenceConfiguration()
        let result = exact(c)
        let pairs = try #require(result.allPairs)
        let reference = ReferenceItemCF(
            engagements: stream, window: windowEnding(stream, configuration: c), configuration: c)
        var state = CooccurrenceState(configuration: c)
        feed(&state, stream)
        for (i, j, count, sim) in expected {
            for (a, b) in [(i, j), (j, i)] {
                #expect(pairs.itemCFCounts[a]?[b] == count)
                #expect(close(pairs.itemCFScores[a]?[b] ?? -1, sim, 1e-15))
                #expect(reference.counts[a]?[b] == count)
                #expect(close(reference.scores[a]?[b] ?? -1, sim, 1e-15))
                // Incremental counts are exact: every user's items fit the history.
                #expect(state.cooccurrenceCount(a, b) == count)
                #expect(close(state.score(a, b, method: .itemCF), sim, 1e-15))
            }
        }
        #expect([0, 1, 2, 3].map { result.degree(of: $0) } == [2, 3, 2, 2])
        #expect([0, 1, 2, 3].map { state.degree(of: $0) } == [2, 3, 2, 2])
        // Item 1's list: 0, 2, 3 tie at 2/√6; ties go to the smaller index.
        #expect(state.similar(item: 1, method: .itemCF).map(\.item) == [0, 2, 3])
        #expect(result.similar(item: 2, method: .itemCF).map(\.item) == [3, 1, 0])
    }

    @Test func itemCFWithActivityPenalty() throws {
        // ω_u = 1 / ln(1 + |I_u|):  ω_A = 1/ln 3 = 0.9102392266268373
        //                            ω_B = 1/ln 5 = 0.6213349345596119
        //                            ω_C = 1/ln 4 = 0.7213475204444817
        // c'(0,1) = ω_A + ω_B = 1.531574161186449     sim = 1.531574161186449 / √6 = 0.6252625330229928
        // c'(0,2) = c'(0,3) = ω_B                      sim = 0.6213349345596119 / 2 = 0.31066746727980593
        // c'(1,2) = c'(1,3) = ω_B + ω_C = 1.3426824550040934
        //                                               sim = 1.3426824550040934 / √6 = 0.5481478168912439
        // c'(2,3) = ω_B + ω_C                          sim = 1.3426824550040934 / 2 = 0.6713412275020467
        // Degrees stay user counts.
        let expected: [(Int32, Int32, Double)] = [
            (0, 1, 0.6252625330229928), (0, 2, 0.31066746727980593), (0, 3, 0.31066746727980593),
            (1, 2, 0.5481478168912439), (1, 3, 0.5481478168912439), (2, 3, 0.6713412275020467),
        ]
        var c = CooccurrenceConfiguration()
        c.itemCFActivityPenalty = true
        let pairs = try #require(exact(c).allPairs)
        let reference = ReferenceItemCF(
            engagements: stream, window: windowEnding(stream, configuration: c), configuration: c)
        for (i, j, sim) in expected {
            for (a, b) in [(i, j), (j, i)] {
                #expect(close(pairs.itemCFScores[a]?[b] ?? -1, sim, 1e-14))
                #expect(close(reference.scores[a]?[b] ?? -1, sim, 1e-14))
            }
        }
        // The counts themselves are unchanged by the penalty.
        #expect(pairs.itemCFCounts[0]?[1] == 2)
        // Incrementally, ω uses |I_u| at update time: B pairs item 1 with 0 when |I_B| = 2, so
        // c'(0,1) = ω_A(2 items) + ω_B(2 items) = 2/ln 3 = 1.8204784532536746, sim = 0.7432072163671103.
        var state = CooccurrenceState(configuration: c)
        feed(&state, stream)
        #expect(close(state.score(0, 1, method: .itemCF), 1.8204784532536746 / 6.0.squareRoot(), 1e-14))
        #expect(state.cooccurrenceCount(0, 1) == 2)
    }

    @Test func swing() throws {
        // Defaults α = 1, α₁ = 5, β = 0.3: w_u = (|I_u| + 5)^-0.3
        //   w_A = 7^-0.3 = 0.5577898253032461   w_B = 9^-0.3 = 0.5172818579717866
        //   w_C = 8^-0.3 = 0.5358867312681466
        // User pairs and their shared items:
        //   (A, B): {0, 1}     → w_A·w_B / (1 + 2) = 0.09617818573020713 to s(0,1)
        //   (A, C): {1}        → one shared item: no item pair
        //   (B, C): {1, 2, 3}  → w_B·w_C / (1 + 3) = 0.0693011210032036 to s(1,2), s(1,3), s(2,3)
        // s(0,2) = s(0,3) = 0.
        let expected: [(Int32, Int32, Double)] = [
            (0, 1, 0.09617818573020713), (1, 2, 0.0693011210032036), (1, 3, 0.0693011210032036),
            (2, 3, 0.0693011210032036),
        ]
        let c = CooccurrenceConfiguration()
        let result = exact(c)
        let pairs = try #require(result.allPairs)
        let reference = ReferenceSwing(
            engagements: stream, window: windowEnding(stream, configuration: c), configuration: c)
        for (i, j, s) in expected {
            for (a, b) in [(i, j), (j, i)] {
                #expect(close(pairs.swing[a]?[b] ?? -1, s, 1e-14))
                #expect(close(reference.scores[a]?[b] ?? -1, s, 1e-14))
            }
        }
        #expect(pairs.swing[0]?[2] == nil && pairs.swing[0]?[3] == nil)
        #expect(result.similar(item: 1, method: .swing).map(\.item) == [0, 2, 3])
    }

    @Test func incrementalSwingUsesWeightsAndOverlapsAtUpdateTime() {
        // In stream order, each user pair is added when its last shared engagement arrives:
        //   B1: B = {0, 1} meets A = {0, 1} (A is a recent user of 1): shared {0, 1}, and then
        //       |I_A| = 2, |I_B| = 2: s(0,1) += 7^-0.3 · 7^-0.3 / (1 + 2) = 0.10370982973727526
        //       (exact: 0.09617818573020713, since B ends with 4 items)
        //   C2: C = {1, 2} meets B = {0, 1, 2, 3}: shared {1, 2}: s(1,2) += w(2)·w(4) / 3
        //       = 7^-0.3 · 9^-0.3 / 3 = 0.09617818573020713
        //   C3: C = {1, 2, 3} meets B: shared {1, 2, 3}: s(1,3) and s(2,3) += 8^-0.3 · 9^-0.3 / 4
        //       = 0.2772044840128144 / 4 = 0.0693011210032036 (exact, as C and B are complete);
        //       the pair's overlap grew from 2 to 3, so the overlap correction moves what it added
        //       among {1, 2} to the new denominator: s(1,2) += 0.2772044840128144 · (1/4 − 1/3)
        //       = −0.023100373667734528, giving 0.0730778120624726 (exact 0.0693011210032036;
        //       the rest is C's stale weight w(2) in the first term)
        var state = CooccurrenceState()
        feed(&state, stream)
        #expect(close(state.score(0, 1, method: .swing), 0.10370982973727526, 1e-14))
        #expect(close(state.score(1, 2, method: .swing), 0.0730778120624726, 1e-14))
        #expect(close(state.score(1, 3, method: .swing), 0.0693011210032036, 1e-14))
        #expect(close(state.score(3, 2, method: .swing), 0.0693011210032036, 1e-14))
        // Without the correction s(1,2) keeps its first denominator.
        var uncorrected = CooccurrenceConfiguration()
        uncorrected.swingOverlapCorrectionLimit = 0
        var plain = CooccurrenceState(configuration: uncorrected)
        feed(&plain, stream)
        #expect(close(plain.score(1, 2, method: .swing), 0.09617818573020713, 1e-14))
        #expect(state.score(0, 2, method: .swing) == 0)
        // The exact recompute replaces the stale values.
        let cut = state.beginExactRecompute()
        let result = ExactSimilarities.compute(
            engagements: stream, window: cut.window, configuration: state.configuration, cut: cut)
        let swapped = state.replaceWithExact(result)
        #expect(swapped)
        #expect(close(state.score(0, 1, method: .swing), 0.09617818573020713, 1e-14))
        #expect(close(state.score(1, 2, method: .swing), 0.0693011210032036, 1e-14))
    }
}
