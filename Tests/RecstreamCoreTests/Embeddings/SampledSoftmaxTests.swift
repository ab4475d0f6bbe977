import RecstreamCore
import Testing

@Suite("Embeddings: sampled softmax loss and gradient")
struct SampledSoftmaxTests {
    struct Case: Sendable, CustomStringConvertible {
        var seed: UInt64
        var temperature: Float
        var logQ: Bool
        var weighted: Bool
        var dimension: Int
        var description: String { "seed \(seed) τ \(temperature) logQ \(logQ) weighted \(weighted) d \(dimension)" }
    }

    static let cases: [Case] = [
        Case(seed: 11, temperature: 0.1, logQ: true, weighted: true, dimension: 8),
        Case(seed: 12, temperature: 0.1, logQ: false, weighted: false, dimension: 8),
        Case(seed: 13, temperature: 0.5, logQ: true, weighted: false, dimension: 16),
        Case(seed: 14, temperature: 1.0, logQ: false, weighted: true, dimension: 32),
        Case(seed: 15, temperature: 0.05, logQ: true, weighted: true, dimension: 8),
    ]

    /// A batch with repeated users, a positive item repeated in the batch (masked as a negative of
    /// the other example) and a random negative equal to a positive.
    static func batch(_ c: Case) -> (
        EmbeddingBatch, users: [[Float]], items: [[Float]], examples: [(user: Int, item: Int, weight: Float)],
        negatives: [Int], logQ: [Float]
    ) {
        var random = Xoshiro256StarStar(seed: c.seed)
        let users = randomVectors(4, c.dimension, &random)
        let items = randomVectors(7, c.dimension, &random)
        let examples: [(user: Int, item: Int, weight: Float)] = [
            (0, 0, c.weighted ? 1 : 1), (1, 1, c.weighted ? 2 : 1), (2, 2, c.weighted ? 3 : 1), (0, 3, 1),
            (3, 1, c.weighted ? 0.5 : 1), (1, 4, 1),
        ]
        let negatives = [5, 6, 1, 5]
        let logQ: [Float] = c.logQ ? (0..<7).map { _ in Float(unit(&random) * 3 - 2) } : [Float](repeating: 0, count: 7)
        let batch = EmbeddingBatch(
            temperature: c.temperature, users: users, items: items, examples: examples, randomNegatives: negatives,
            logQ: logQ)
        return (batch, users, items, examples, negatives, logQ)
    }

    @Test(arguments: cases)
    func lossEqualsTheReferenceFormula(_ c: Case) {
        print("sampled softmax loss: \(c)")
        let (batch, users, items, examples, negatives, logQ) = Self.batch(c)
        let reference = referenceLoss(
            temperature: Double(c.temperature), users: users.map { $0.map(Double.init) },
            items: items.map { $0.map(Double.init) }, examples: examples, randomNegatives: negatives, logQ: logQ)
        let loss = batch.loss()
        #expect((loss - reference).magnitude <= 1e-4 * max(1, reference.magnitude), "\(loss) vs \(reference)")
    }

    @Test(arguments: cases)
    func gradientMatchesFiniteDifferences(_ c: Case) {
        print("sampled softmax gradient: \(c)")
        let (batch, users, items, examples, negatives, logQ) = Self.batch(c)
        let g = batch.rawGradient([batch.gradient(examples: 0..<batch.exampleCount)])
        let du = users.map { $0.map(Double.init) }
        let dv = items.map { $0.map(Double.init) }
        let h = 1e-5
        func loss(_ u: [[Double]], _ v: [[Double]]) -> Double {
            referenceLoss(
                temperature: Double(c.temperature), users: u, items: v, examples: examples,
                randomNegatives: negatives, logQ: logQ)
        }
        var analytic: [Double] = []
        var numeric: [Double] = []
        for i in users.indices {
            let a = g.user(i, dimension: c.dimension)
            for k in 0..<c.dimension {
                var plus = du
                var minus = du
                plus[i][k] += h
                minus[i][k] -= h
                numeric.append((loss(plus, dv) - loss(minus, dv)) / (2 * h))
                analytic.append(Double(a[k]))
            }
        }
        for j in items.indices {
            let a = g.item(j, dimension: c.dimension)
            for k in 0..<c.dimension {
                var plus = dv
                var minus = dv
                plus[j][k] += h
                minus[j][k] -= h
                numeric.append((loss(du, plus) - loss(du, minus)) / (2 * h))
                analytic.append(Double(a[k]))
            }
        }
        let scale = numeric.map(\.magnitude).max() ?? 1
        var worst = 0.0
        for (a, n) in zip(analytic, numeric) { worst = max(worst, (a - n).magnitude) }
        print("  largest |analytic − numeric| \(worst) over \(numeric.count) coordinates, scale \(scale)")
        #expect(worst <= 1e-3 * scale + 1e-5)
    }

    @Test func splittingTheExamplesSumsToTheWhole() {
        let (batch, _, _, _, _, _) = Self.batch(Self.cases[0])
        let whole = batch.rawGradient([batch.gradient(examples: 0..<6)])
        let parts = batch.rawGradient([batch.gradient(examples: 0..<2), batch.gradient(examples: 2..<6)])
        #expect((whole.loss - parts.loss).magnitude < 1e-9 * max(1, whole.loss))
        for slot in 0..<batch.itemSlots {
            for (a, b) in zip(whole.item(slot, dimension: 8), parts.item(slot, dimension: 8)) {
                #expect((a - b).magnitude <= 1e-5 * max(1, a.magnitude))
            }
        }
    }

    @Test func maskedDuplicateOfThePositiveIsNoNegative() {
        // One user, one item, present twice in the batch (two examples) and once as a random
        // negative: every other column is the positive itself, so the loss is 0 for each.
        let users: [[Float]] = [[1, 0, 0, 0, 0, 0, 0, 0]]
        let items: [[Float]] = [[0, 1, 0, 0, 0, 0, 0, 0]]
        let batch = EmbeddingBatch(
            temperature: 0.1, users: users, items: items, examples: [(0, 0, 1), (0, 0, 1)], randomNegatives: [0],
            logQ: [0.7])
        #expect(batch.loss().magnitude < 1e-9)
    }
}

@Suite("Embeddings: Adagrad and sampling")
struct AdagradAndSamplingTests {
    @Test func adagradStepByHand() {
        // G = 0.1 + g²; w − η g / (√G + ε) with η = 0.5, ε = 0.
        // coordinate 0: g = 3:  G = 9.1,  √G = 3.0166206,   w = 1 − 1.5/3.0166206 = 0.5027545
        // coordinate 1: g = −1: G = 1.1,  √G = 1.0488088,   w = 2 + 0.5/1.0488088 = 2.4767313
        // coordinate 2: g = 0:  unchanged, G = 0.1.
        var w: [Float] = [1, 2, -1, 0, 0, 0, 0, 0]
        var a: [Float] = [0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
        Adagrad.step(weights: &w, accumulator: &a, gradient: [3, -1, 0, 0, 0, 0, 0, 0], learningRate: 0.5, epsilon: 0)
        #expect((w[0] - 0.502_754_5).magnitude < 1e-6)
        #expect((w[1] - 2.476_731_3).magnitude < 1e-6)
        #expect(w[2] == -1)
        #expect((a[0] - 9.1).magnitude < 1e-6 && (a[1] - 1.1).magnitude < 1e-6 && a[2] == 0.1)
        // A second step on coordinate 0 with g = 1: G = 10.1, w = 0.5027545 − 0.5/3.1780497 = 0.3454250.
        Adagrad.step(weights: &w, accumulator: &a, gradient: [1, 0, 0, 0, 0, 0, 0, 0], learningRate: 0.5, epsilon: 0)
        #expect((w[0] - 0.345_425_0).magnitude < 1e-6)
        #expect((a[0] - 10.1).magnitude < 1e-5)
    }

    @Test func aliasSamplerFollowsPopularityToThePowerThreeQuarters() {
        let seed: UInt64 = 2_024
        print("alias sampler chi-square: seed \(seed)")
        // 40 items with Zipf-like counts; weights count^0.75.
        let counts = (1...40).map { 1_000 / $0 + 1 }
        let weights = counts.map { ExpForTests.exp(0.75 * ExpForTests.log(Double($0))) }
        let sampler = AliasSampler(weights: weights)
        let total = weights.reduce(0, +)
        for (p, w) in zip(sampler.probabilities, weights) { #expect((p - w / total).magnitude < 1e-12) }
        var random = Xoshiro256StarStar(seed: seed)
        let draws = 400_000
        var observed = [Int](repeating: 0, count: weights.count)
        for _ in 0..<draws { observed[sampler.next(using: &random)] += 1 }
        var chi2 = 0.0
        for i in weights.indices {
            let expected = Double(draws) * weights[i] / total
            chi2 += (Double(observed[i]) - expected) * (Double(observed[i]) - expected) / expected
        }
        // 39 degrees of freedom: the 99.9% quantile is 72.05.
        print("  chi-square \(chi2) (39 dof, 99.9% quantile 72.05)")
        #expect(chi2 < 72.05)
    }

    @Test func aliasSamplerNeverDrawsZeroWeights() {
        let sampler = AliasSampler(weights: [0, 3, 0, 1, 0])
        var random = Xoshiro256StarStar(seed: 5)
        for _ in 0..<10_000 {
            let i = sampler.next(using: &random)
            #expect(i == 1 || i == 3)
        }
    }
}
