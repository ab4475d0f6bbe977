import RecstreamCore
import RecstreamTesting
import Testing

@Suite("Exact recompute against the brute-force reference")
struct ExactVsReferenceTests {
    /// A stream with engagements before the window, exposures, a pathological user, and repeats.
    func stream(seed: UInt64, configuration: CooccurrenceConfiguration) -> (
        engagements: [Engagement], window: CooccurrenceWindow
    ) {
        var engagements = syntheticStream(seed: seed, users: 150, items: 300, history: 25)
        var rng = SplitMix64(seed: seed ^ 0xA5A5)
        // Exposures (never engagements) and engagements a day before the window starts.
        for n in 0..<300 {
            let base = engagements[n]
            engagements.append(
                Engagement(user: base.user, item: Int32(rng.next() % 300), type: .exposure, time: base.time))
            engagements.append(
                Engagement(
                    user: base.user, item: Int32(rng.next() % 300), type: .click,
                    time: EventTime(millis: base.time.millis - configuration.windowMillis - 86_400_000)))
        }
        // A pathological user: more distinct items than the cap.
        for i in 0...configuration.pathologicalUserItems {
            engagements.append(engagement(10_000, Int32(i % 300) + Int32(i / 300) * 300, at: Int64(i)))
        }
        let window = CooccurrenceWindow(end: engagements.map(\.time).max()!, lengthMillis: configuration.windowMillis)
        return (engagements, window)
    }

    static let configurations: [(String, CooccurrenceConfiguration)] = {
        var small = CooccurrenceConfiguration()
        small.pathologicalUserItems = 60
        var penalty = small
        penalty.itemCFActivityPenalty = true
        var flink = CooccurrenceConfiguration.flinkML
        flink.pathologicalUserItems = 60
        flink.swing.maxUserItems = 40
        var alink = CooccurrenceConfiguration.alink
        alink.pathologicalUserItems = 60
        return [("default", small), ("penalty", penalty), ("flinkML", flink), ("alink", alink)]
    }()

    @Test(arguments: [11, 12] as [UInt64], 0..<4)
    func exactEqualsReferenceForEveryPair(seed: UInt64, configurationIndex: Int) throws {
        let (name, c) = Self.configurations[configurationIndex]
        print("exact vs reference: seed \(seed), configuration \(name)")
        let (engagements, window) = stream(seed: seed, configuration: c)
        let result = ExactSimilarities.compute(
            engagements: engagements, window: window, configuration: c, keepingAllPairs: true)
        let pairs = try #require(result.allPairs)
        #expect(result.statistics.pathologicalUsers == 1)

        let itemCF = ReferenceItemCF(engagements: engagements, window: window, configuration: c)
        #expect(pairs.degrees.filter { $0.value > 0 }.count == itemCF.degrees.count)
        for (item, n) in itemCF.degrees { #expect(Int(pairs.degrees[item] ?? 0) == n, "n_\(item)") }
        var compared = 0
        for (i, row) in itemCF.scores {
            #expect(pairs.itemCFScores[i]?.count == row.count, "ItemCF neighbours of \(i)")
            for (j, s) in row {
                compared += 1
                #expect(pairs.itemCFCounts[i]?[j] == itemCF.counts[i]?[j], "c(\(i), \(j))")
                let got = pairs.itemCFScores[i]?[j] ?? .nan
                #expect(close(got, s, 1e-9), "ItemCF sim(\(i), \(j)) = \(got), reference \(s)")
            }
        }
        let swing = ReferenceSwing(engagements: engagements, window: window, configuration: c)
        var swingPairs = 0
        for (i, row) in swing.scores {
            #expect(pairs.swing[i]?.count == row.count, "Swing neighbours of \(i)")
            for (j, s) in row {
                swingPairs += 1
                let got = pairs.swing[i]?[j] ?? .nan
                #expect(close(got, s, 1e-9), "Swing s(\(i), \(j)) = \(got), reference \(s)")
            }
        }
        print("compared \(compared) ItemCF and \(swingPairs) Swing pairs")
        #expect(compared > 1_000 && swingPairs > 1_000)

        // The top lists agree with the reference's, up to ties at equal scores.
        for item in result.items.prefix(50) {
            let ours = result.similar(item: item, method: .swing, k: 20)
            let theirs = swing.top(item, 20)
            #expect(ours.count == theirs.count)
            for (o, t) in zip(ours, theirs) { #expect(close(o.score, t.score, 1e-9)) }
        }
    }

    @Test func rowPartitionsGiveTheSameResult() throws {
        let c = Self.configurations[1].1
        let (engagements, window) = stream(seed: 5, configuration: c)
        let whole = ExactSimilarities.compute(
            engagements: engagements, window: window, configuration: c, keepingAllPairs: true)
        let input = ExactSimilarityInput(engagements: engagements, window: window, configuration: c)
        let n = input.rowCount
        // Parts in any order, of uneven sizes.
        let parts = [
            input.computeRows(n / 3..<n / 2, keepingAllPairs: true),
            input.computeRows(0..<n / 3, keepingAllPairs: true),
            input.computeRows(n / 2..<n, keepingAllPairs: true),
        ]
        let merged = ExactSimilarities.merging(parts, input: input, cut: nil)
        let a = try #require(whole.allPairs)
        let b = try #require(merged.allPairs)
        // Bit for bit: every row accumulates in the same order whatever the split.
        #expect(a.swing == b.swing)
        #expect(a.itemCFScores == b.itemCFScores)
        #expect(a.itemCFCounts == b.itemCFCounts)
        #expect(whole.statistics == merged.statistics)
        for item in whole.items {
            #expect(
                whole.similar(item: item, method: .swing).map(\.item)
                    == merged.similar(item: item, method: .swing).map(\.item))
        }
    }

    @Test func emptyInputGivesAnEmptyResult() {
        let result = ExactSimilarities.compute(
            engagements: [Engagement](), window: CooccurrenceWindow(end: EventTime(millis: 0), lengthMillis: 1000),
            configuration: .default)
        #expect(result.items.isEmpty)
        #expect(result.similar(item: 0, method: .swing).isEmpty)
    }
}
