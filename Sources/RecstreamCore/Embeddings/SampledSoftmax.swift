/// One mini-batch of positives with everything the sampled-softmax loss needs, copied out of the
/// tables: the batch's distinct users and candidate items as unit vectors (plus 1/|x| for the
/// chain rule), how often each item is a candidate, and its log-Q correction. Gradients are a
/// pure function of this value, so several threads can compute them for disjoint example ranges
/// with no access to the tables (see ``gradient(examples:)``).
///
/// The loss (sampled softmax over cosine / τ, in-batch plus shared random negatives, log-Q
/// corrected; Yi et al. 2019, "Sampling-bias-corrected neural modeling for large corpus item
/// recommendations"; Yang et al. 2020, "Mixed negative sampling"). For positive b = (u, p) with
/// weight w_b, the candidates are the batch's B positive items (column b is its own positive) and
/// R random items shared by the batch; a column holding p other than column b is masked (it is
/// the same item, not a negative). With
///
///     l_j = cos(u, v_j) / τ − log Q_j,      Q_j = B · P_pos(j) + R · P_rand(j)
///
///     L = Σ_b w_b · ( −l_p + log Σ_{c unmasked} exp(l_{item(c)}) )
///
/// where P_pos is the items' frequency among the run's positives (how in-batch negatives are
/// drawn) and P_rand the random negatives' distribution: Q_j is the expected number of columns
/// holding j. Without the correction log Q_j = 0. Columns holding the same item are summed as one
/// candidate with a multiplicity m_j (1 for p itself), which is the same sum.
///
/// Gradient: ∂L/∂l_j = w_b (m_j e^{l_j} / Z − [j = p]); ∂l_j/∂û = v̂_j / τ and ∂l_j/∂v̂_j = û / τ
/// for unit vectors û, v̂; through the normalisation x̂ = x/|x|, ∂/∂x = (g − (g·x̂) x̂) / |x|.
public struct EmbeddingBatch: Sendable {
    public let dimension: Int
    let chunks: Int
    public let temperature: Float
    /// Per example: its user's slot, its positive item's slot and its weight.
    let exampleUsers: [Int32]
    let examplePositives: [Int32]
    let exampleWeights: [Float]
    /// Unit vectors by slot, and 1/|x| of the raw vectors.
    let userVectors: [SIMD8<Float>]
    let userInverseNorms: [Float]
    let itemVectors: [SIMD8<Float>]
    let itemInverseNorms: [Float]
    /// Columns holding each item slot (in-batch occurrences plus random draws).
    let itemMultiplicity: [Float]
    /// log Q per item slot (0 without the correction).
    let itemLogQ: [Float]

    /// The table rows behind the slots, and whether each item slot is trained (set by the
    /// training run; empty for a batch built by hand).
    var userRows: [Int32] = []
    var itemRows: [Int32] = []
    var itemTrainable: [Bool] = []

    public var exampleCount: Int { exampleUsers.count }
    public var userSlots: Int { userInverseNorms.count }
    public var itemSlots: Int { itemInverseNorms.count }

    /// A batch from raw vectors, for tests and tools: `users` and `items` are the raw vectors of
    /// the slots, `examples` the positives (user slot, item slot, weight), `randomNegatives` the
    /// item slots of the shared random draws, `logQ` per item slot.
    /// - Important: Traps when the shapes disagree.
    public init(
        temperature: Float, users: [[Float]], items: [[Float]], examples: [(user: Int, item: Int, weight: Float)],
        randomNegatives: [Int], logQ: [Float]
    ) {
        let d = users.first?.count ?? items.first?.count ?? 8
        precondition(d % 8 == 0 && d > 0, "dimension \(d) is not a positive multiple of 8")
        precondition(users.allSatisfy { $0.count == d } && items.allSatisfy { $0.count == d }, "ragged vectors")
        precondition(logQ.count == items.count, "logQ has \(logQ.count) entries for \(items.count) items")
        var multiplicity = [Float](repeating: 0, count: items.count)
        for e in examples {
            precondition(e.user >= 0 && e.user < users.count && e.item >= 0 && e.item < items.count, "bad example \(e)")
            multiplicity[e.item] += 1
        }
        for r in randomNegatives {
            precondition(r >= 0 && r < items.count, "bad negative \(r)")
            multiplicity[r] += 1
        }
        self.init(
            dimension: d, temperature: temperature, exampleUsers: examples.map { Int32($0.user) },
            examplePositives: examples.map { Int32($0.item) }, exampleWeights: examples.map(\.weight),
            rawUsers: VectorMath.chunked(users.flatMap { $0 }), rawItems: VectorMath.chunked(items.flatMap { $0 }),
            itemMultiplicity: multiplicity, itemLogQ: logQ)
    }

    /// Normalises the raw slot vectors.
    init(
        dimension: Int, temperature: Float, exampleUsers: [Int32], examplePositives: [Int32], exampleWeights: [Float],
        rawUsers: [SIMD8<Float>], rawItems: [SIMD8<Float>], itemMultiplicity: [Float], itemLogQ: [Float]
    ) {
        let c = dimension / 8
        self.dimension = dimension
        chunks = c
        self.temperature = temperature
        self.exampleUsers = exampleUsers
        self.examplePositives = examplePositives
        self.exampleWeights = exampleWeights
        (userVectors, userInverseNorms) = Self.normalised(rawUsers, chunks: c)
        (itemVectors, itemInverseNorms) = Self.normalised(rawItems, chunks: c)
        self.itemMultiplicity = itemMultiplicity
        self.itemLogQ = itemLogQ
    }

    private static func normalised(_ raw: [SIMD8<Float>], chunks: Int) -> ([SIMD8<Float>], [Float]) {
        var out = raw
        let rows = raw.count / chunks
        var inverse = [Float](repeating: 0, count: rows)
        for r in 0..<rows {
            let inv = VectorMath.inverseNorm(raw, r * chunks, chunks: chunks)
            inverse[r] = inv
            let s = SIMD8<Float>(repeating: inv)
            for k in 0..<chunks { out[r * chunks + k] = raw[r * chunks + k] * s }
        }
        return (out, inverse)
    }

    /// The loss and its gradient with respect to the *unit* vectors, summed over `examples`.
    /// Pure: reads only this batch. Cost: |examples| × item slots × 3 d multiply-adds, plus one
    /// exponential per (example, item slot).
    public func gradient(examples: Range<Int>) -> EmbeddingGradient {
        let c = chunks
        let s = itemSlots
        let invTau = 1 / temperature
        var gu = [SIMD8<Float>](repeating: SIMD8<Float>(), count: userVectors.count)
        var gv = [SIMD8<Float>](repeating: SIMD8<Float>(), count: itemVectors.count)
        var logits = [Float](repeating: 0, count: s)
        var weightsOut = [Float](repeating: 0, count: s)
        var loss = 0.0
        for b in examples {
            let u = Int(exampleUsers[b])
            let p = Int(examplePositives[b])
            let w = exampleWeights[b]
            let uo = u * c
            var maxLogit = -Float.infinity
            for j in 0..<s {
                let l = VectorMath.dot(userVectors, uo, itemVectors, j * c, chunks: c) * invTau - itemLogQ[j]
                logits[j] = l
                if l > maxLogit { maxLogit = l }
            }
            var z = 0.0
            for j in 0..<s {
                let m = j == p ? 1 : itemMultiplicity[j]
                let e = m * Float(VectorMath.expNonPositive(Double(logits[j] - maxLogit)))
                weightsOut[j] = e
                z += Double(e)
            }
            loss += Double(w) * (VectorMath.log(z) - Double(logits[p] - maxLogit))
            let invZ = Float(1 / z)
            for j in 0..<s {
                var dl = weightsOut[j] * invZ
                if j == p { dl -= 1 }
                let scaled = w * dl * invTau
                if scaled == 0 { continue }
                // ∂/∂û += scaled · v̂_j;  ∂/∂v̂_j += scaled · û.
                VectorMath.axpy(scaled, itemVectors, j * c, &gu, uo, chunks: c)
                VectorMath.axpy(scaled, userVectors, uo, &gv, j * c, chunks: c)
            }
        }
        return EmbeddingGradient(users: gu, items: gv, loss: loss, examples: examples.count)
    }

    /// The sum of `parts` (in order) taken through the normalisation: the gradient with respect
    /// to the raw vectors of every slot. One part is used as it is, so one thread and the
    /// single-thread trainer give the same bits.
    public func rawGradient(_ parts: [EmbeddingGradient]) -> EmbeddingGradient {
        precondition(!parts.isEmpty, "rawGradient needs at least one part")
        var total = parts[0]
        for part in parts.dropFirst() {
            for k in total.users.indices { total.users[k] += part.users[k] }
            for k in total.items.indices { total.items[k] += part.items[k] }
            total.loss += part.loss
            total.examples += part.examples
        }
        Self.project(&total.users, unit: userVectors, inverseNorms: userInverseNorms, chunks: chunks)
        Self.project(&total.items, unit: itemVectors, inverseNorms: itemInverseNorms, chunks: chunks)
        return total
    }

    /// g ← (g − (g·x̂) x̂) / |x| per row.
    private static func project(_ g: inout [SIMD8<Float>], unit: [SIMD8<Float>], inverseNorms: [Float], chunks: Int) {
        for r in inverseNorms.indices {
            let o = r * chunks
            let along = VectorMath.dot(g, o, unit, o, chunks: chunks)
            let a = SIMD8<Float>(repeating: along)
            let inv = SIMD8<Float>(repeating: inverseNorms[r])
            for k in 0..<chunks { g[o + k] = (g[o + k] - a * unit[o + k]) * inv }
        }
    }

    /// The loss alone (no gradient), summed over every example; for checks.
    public func loss() -> Double { gradient(examples: 0..<exampleCount).loss }
}

/// The gradient of a batch's loss, per user slot and item slot (chunks of 8), and the loss.
public struct EmbeddingGradient: Sendable {
    var users: [SIMD8<Float>]
    var items: [SIMD8<Float>]
    /// Σ_b w_b L_b over the examples covered.
    public internal(set) var loss: Double
    public internal(set) var examples: Int

    /// The gradient of user slot `slot` as floats.
    public func user(_ slot: Int, dimension: Int) -> [Float] {
        VectorMath.floats(users, slot * dimension / 8, chunks: dimension / 8)
    }

    /// The gradient of item slot `slot` as floats.
    public func item(_ slot: Int, dimension: Int) -> [Float] {
        VectorMath.floats(items, slot * dimension / 8, chunks: dimension / 8)
    }
}
