import Foundation
import RecstreamCore
import Testing

@Suite("Look-alike scorer, gate, expansion and summaries")
struct ScorerAndExpansionTests {
    /// The score computed the straightforward way, in Double: the local vector built explicitly.
    static func referenceScore(user: [Float], summary: SeedSummary, beta: Double, temperature: Double) -> Double {
        let d = summary.dimension
        let u = unitVector(user).map(Double.init)
        let centres = summary.centres.map(Double.init)
        let g = summary.global.map(Double.init)
        var similarities: [Double] = []
        for c in 0..<summary.clusterCount {
            similarities.append((0..<d).reduce(0) { $0 + u[$1] * centres[c * d + $1] })
        }
        let largest = similarities.max() ?? 0
        var w = (0..<summary.clusterCount).map {
            Double(summary.sizes[$0]) * Foundation.exp((similarities[$0] - largest) / temperature)
        }
        let total = w.reduce(0, +)
        w = w.map { $0 / total }
        var local = [Double](repeating: 0, count: d)
        for c in 0..<summary.clusterCount { for j in 0..<d { local[j] += w[c] * centres[c * d + j] } }
        let ln = local.reduce(0) { $0 + $1 * $1 }.squareRoot()
        let v = (0..<d).map { beta * g[$0] + (1 - beta) * local[$0] / ln }
        let vn = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return (0..<d).reduce(0) { $0 + u[$1] * v[$1] } / vn
    }

    /// `users` users with vectors around `communities` random directions (noise 0.5).
    static func vectors(seed: UInt64, users: Int, dimension: Int, communities: Int) -> DenseUserVectors {
        var random = TestRandom(seed: seed)
        let centres = (0..<communities).map { _ in unitVector(random.vector(dimension)) }
        var v = DenseUserVectors(dimension: dimension, version: 3, userCount: users)
        for u in 0..<users {
            let noise = random.vector(dimension)
            v.set(user: Int32(u), (0..<dimension).map { centres[u % communities][$0] + 0.5 * noise[$0] })
        }
        return v
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func scorerMatchesTheReference(seed: UInt64) throws {
        print("scorer reference test: seed \(seed)")
        var c = LookalikeConfiguration()
        c.clusters = 5
        c.beta = 0.4
        c.localTemperature = 0.2
        let vectors = Self.vectors(seed: seed, users: 600, dimension: 16, communities: 4)
        let builder = SeedSummaryBuilder(configuration: c)
        var random = TestRandom(seed: seed)
        var scorer = LookalikeScorer(configuration: c)
        for item in Int32(0)..<10 {
            let users = (0..<150).map { _ in Int32(random.below(600)) }
            let summary = try #require(
                builder.build(
                    item: item, users: users, seedCount: users.count, vectors: vectors, builtAt: EventTime(millis: 0),
                    minimumVectors: 1))
            #expect(summary.modelVersion == 3)
            #expect(summary.sizes.reduce(0, +) == 150)
            for _ in 0..<20 {
                let user = try #require(vectors.vector(user: Int32(random.below(600))))
                let got = Double(scorer.score(unitUser: unitVector(user), summary: summary))
                let want = Self.referenceScore(user: user, summary: summary, beta: c.beta, temperature: c.localTemperature)
                #expect(near(got, want, 1e-5), "item \(item): \(got) vs \(want)")
            }
        }
    }

    @Test func theColdStartGateFlagsItemsAndScoresNone() throws {
        var c = smallLookalikeConfiguration(seeds: 10, minimum: 3)
        c.clusters = 2
        let vectors = Self.vectors(seed: 5, users: 20, dimension: 4, communities: 2)
        var seeds = SeedLists(configuration: c)
        // Item 0: 4 seeds, summarised. Item 1: 4 seeds, no summary yet. Item 2: 2 seeds.
        for user in Int32(0)..<4 {
            seeds.apply(seedEngagement(user, 0, at: Int64(user)))
            seeds.apply(seedEngagement(user + 4, 1, at: Int64(user)))
        }
        for user in Int32(8)..<10 { seeds.apply(seedEngagement(user, 2, at: 5)) }
        var summaries = SeedSummaries()
        let batch = seeds.summaryBatch()
        let outcomes = SeedSummaryBuilder(configuration: c).run(batch, vectors: vectors)
        // Item 2 is below the gate: no summary.
        #expect(outcomes.first { $0.item == 2 }?.summary == nil)
        summaries.apply(outcomes.filter { $0.item != 1 })
        seeds.completeSummaryBatch(batch)
        #expect(summaries.count == 1)
        var scorer = LookalikeScorer(configuration: c)
        var results: [LookalikeScore] = []
        let user = try #require(vectors.vector(user: 12))
        #expect(scorer.score(user: user, items: [0, 1, 2, 99], seeds: seeds, summaries: summaries, into: &results))
        #expect(results.map(\.status) == [.scored, .awaitingSummary, .belowMinimumSeeds, .belowMinimumSeeds])
        #expect(results.map(\.seedCount) == [4, 4, 2, 0])
        #expect(results[0].score != 0 && results[1].score == 0 && results[2].score == 0)
        // A vector of another dimension; a zero vector.
        #expect(scorer.score(user: [1, 0], items: [0], seeds: seeds, summaries: summaries, into: &results))
        #expect(results.map(\.status) == [.dimensionMismatch])
        #expect(!scorer.score(user: [0, 0, 0, 0], items: [0], seeds: seeds, summaries: summaries, into: &results))
        #expect(results.isEmpty)
        // A summary whose seeds fell below the gate is removed by the next run.
        seeds.apply(seedEngagement(19, 9, at: 4_000))
        seeds.expireSeeds()
        summaries.apply(SeedSummaryBuilder(configuration: c).run(seeds.summaryBatch(), vectors: vectors))
        #expect(summaries.summary(of: 0) == nil)
    }

    @Test(arguments: [UInt64(21), 22])
    func expansionExcludesSeedsAndEqualsBruteForce(seed: UInt64) throws {
        print("expansion test: seed \(seed)")
        var c = LookalikeConfiguration()
        c.clusters = 4
        let vectors = Self.vectors(seed: seed, users: 500, dimension: 8, communities: 5)
        var random = TestRandom(seed: seed)
        let seedUsers = (0..<60).map { _ in Int32(random.below(500)) }
        let summary = try #require(AudienceExpansion.summary(seedUsers: seedUsers, vectors: vectors, configuration: c))
        #expect(summary.item == -1)
        let seedSet = Set(seedUsers)
        let exact = AudienceExpansion.expandExactly(summary: summary, seeds: seedSet, k: 50, vectors: vectors, configuration: c)
        #expect(exact.count == 50)
        #expect(exact.allSatisfy { !seedSet.contains($0.user) })
        // Brute force by hand: score everyone who is not a seed, sort.
        var scorer = LookalikeScorer(configuration: c)
        var all: [ScoredUser] = []
        for user in Int32(0)..<500 where !seedSet.contains(user) {
            let v = try #require(vectors.vector(user: user))
            all.append(ScoredUser(user: user, score: scorer.score(unitUser: unitVector(v), summary: summary)))
        }
        all.sort { $0.score != $1.score ? $0.score > $1.score : $0.user < $1.user }
        #expect(exact.map(\.user) == all.prefix(50).map(\.user))
        // A candidate closure returning everyone twice gives the same answer; a subset gives the best of it.
        let viaClosure = AudienceExpansion.expand(
            summary: summary, seeds: seedSet, k: 50, vectors: vectors, configuration: c
        ) { query in
            #expect(query.k == 50)
            return Array(0..<500) + Array(0..<500)
        }
        #expect(viaClosure == exact)
        let evens = AudienceExpansion.expand(
            summary: summary, seeds: seedSet, k: 10, candidates: stride(from: Int32(0), to: 500, by: 2), vectors: vectors,
            configuration: c)
        #expect(evens.map(\.user) == all.filter { $0.user % 2 == 0 }.prefix(10).map(\.user))
    }

    @Test func summariesRoundTripThroughTheirRecords() throws {
        var c = LookalikeConfiguration()
        c.clusters = 3
        let vectors = Self.vectors(seed: 8, users: 100, dimension: 6, communities: 3)
        let builder = SeedSummaryBuilder(configuration: c)
        var summaries = SeedSummaries()
        for item in Int32(0)..<4 {
            let summary = try #require(
                builder.build(
                    item: item, users: Array(Int32(item * 10)..<Int32(item * 10 + 30)), seedCount: 30, vectors: vectors,
                    builtAt: EventTime(millis: 1_000 + Int64(item)), minimumVectors: 1))
            summaries.install(summary)
        }
        summaries.remove(2)
        var changes = FamilyChanges()
        summaries.drainChanges(into: &changes)
        var store: [[UInt8]: [UInt8]] = [:]
        applyChanges(changes, to: &store)
        #expect(store.count == 3)
        var restored = SeedSummaries()
        for key in orderedKeys(store) { try restored.restore(key: key, value: store[key] ?? []) }
        #expect(restored.count == 3)
        for item in Int32(0)..<4 { #expect(restored.summary(of: item) == summaries.summary(of: item)) }
        // The same summary is built again from the same seeds (k-means is deterministic).
        let again = builder.build(
            item: 1, users: Array(Int32(10)..<40), seedCount: 30, vectors: vectors, builtAt: EventTime(millis: 1_001),
            minimumVectors: 1)
        #expect(again == summaries.summary(of: 1))
        // Truncated or inconsistent records are refused.
        let bytes = try #require(summaries.summary(of: 0)).encoded
        var r = BinaryReader(Array(bytes.dropLast()))
        #expect(throws: StateDecodingError.self) { _ = try SeedSummary.decode(item: 0, from: &r) }
        #expect(throws: StateDecodingError.self) { try restored.restore(key: [LookalikeKeys.seeds, 0, 0, 0, 0], value: bytes) }
    }

    @Test func configurationValidation() {
        #expect(LookalikeConfiguration().validate().isEmpty)
        var c = LookalikeConfiguration()
        c.minimumSeeds = 600
        c.beta = 1.5
        c.localTemperature = 0
        #expect(c.validate().count == 3)
    }
}
