import RecstreamCore

/// A uniform double in [0, 1) from `random`.
func unit(_ random: inout Xoshiro256StarStar) -> Double { Double(random.next() >> 11) * 0x1p-53 }

/// `count` random vectors of `dimension` floats, uniform in [−1, 1).
func randomVectors(_ count: Int, _ dimension: Int, _ random: inout Xoshiro256StarStar) -> [[Float]] {
    (0..<count).map { _ in (0..<dimension).map { _ in Float(2 * unit(&random) - 1) } }
}

/// The sampled-softmax loss straight from its definition, in Double, column by column: for
/// positive b the columns are the batch's positive items (column b its own) and the random
/// negatives; a column holding b's item other than column b is masked.
///
///     L = Σ_b w_b (−l_{b,b} + log Σ_{c unmasked} exp l_{b,c}),  l_{b,c} = cos(u_b, v_c)/τ − logQ_c
func referenceLoss(
    temperature: Double, users: [[Double]], items: [[Double]], examples: [(user: Int, item: Int, weight: Float)],
    randomNegatives: [Int], logQ: [Float]
) -> Double {
    func cosine(_ a: [Double], _ b: [Double]) -> Double {
        var ab = 0.0
        var aa = 0.0
        var bb = 0.0
        for k in a.indices {
            ab += a[k] * b[k]
            aa += a[k] * a[k]
            bb += b[k] * b[k]
        }
        return ab / (aa.squareRoot() * bb.squareRoot())
    }
    let columns = examples.map(\.item) + randomNegatives
    var loss = 0.0
    for (b, e) in examples.enumerated() {
        var logits: [Double] = []
        var positive = 0.0
        for (c, item) in columns.enumerated() {
            let l = cosine(users[e.user], items[item]) / temperature - Double(logQ[item])
            if c == b {
                positive = l
                logits.append(l)
            } else if item != e.item {
                logits.append(l)
            }
        }
        let m = logits.max() ?? 0
        let z = logits.reduce(0) { $0 + ExpForTests.exp($1 - m) }
        loss += Double(e.weight) * (-(positive - m) + ExpForTests.log(z))
    }
    return loss
}

/// exp and log by series, so the tests need no Foundation either (accurate to ~1e-15 here).
enum ExpForTests {
    static func exp(_ x: Double) -> Double {
        // e^x = (e^(x/2^k))^(2^k) with |x/2^k| < 0.5.
        var k = 0
        var y = x
        while y.magnitude > 0.5 {
            y /= 2
            k += 1
        }
        var term = 1.0
        var sum = 1.0
        for n in 1..<30 {
            term *= y / Double(n)
            sum += term
        }
        for _ in 0..<k { sum *= sum }
        return sum
    }

    static func log(_ x: Double) -> Double {
        // Newton on exp(y) = x from a bit-level start.
        var y = Double(x.exponent) * 0.693_147_180_559_945_3
        for _ in 0..<60 {
            let e = exp(y)
            let next = y + 2 * (x - e) / (x + e)
            if next == y { break }
            y = next
        }
        return y
    }
}

/// A small synthetic stream with community structure (dense ids).
func embeddingStream(seed: UInt64, users: Int, items: Int, engagements: Int, communities: Int = 4) -> [Engagement] {
    var c = SyntheticEngagementConfiguration()
    c.seed = seed
    c.users = users
    c.items = items
    c.communities = communities
    c.itemsPerCommunity = max(10, items / communities)
    c.communityAffinity = 0.8
    c.engagements = engagements
    c.spacingMillis = 1_000
    return Array(SyntheticEngagements(c))
}

/// A configuration small enough for debug-build tests.
func smallEmbeddingConfiguration(seed: UInt64 = 1) -> EmbeddingConfiguration {
    var c = EmbeddingConfiguration()
    c.dimension = 16
    c.batchSize = 32
    c.randomNegatives = 16
    c.epochs = 3
    c.incrementalEpochs = 2
    c.minEngagements = 2
    c.seed = seed
    return c
}

/// The window covering every engagement of `stream`.
func windowCovering(_ stream: [Engagement], days: Int64 = 30) -> CooccurrenceWindow {
    CooccurrenceWindow(end: stream.map(\.time).max() ?? EventTime(millis: 0), lengthMillis: days * 86_400_000)
}
