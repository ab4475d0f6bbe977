/// Why an item got, or did not get, a look-alike score.
public enum LookalikeStatus: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Scored.
    case scored = 0
    /// Fewer seeds than ``LookalikeConfiguration/minimumSeeds``: the cold-start gate keeps the item
    /// out of look-alike scoring.
    case belowMinimumSeeds = 1
    /// Enough seeds, but no summary yet (the job has not run since the item passed the gate).
    case awaitingSummary = 2
    /// The item's summary was built from vectors of another dimension than the user's.
    case dimensionMismatch = 3
    /// Enough seeds, but fewer than the gate have a vector in the served model (seed users below
    /// the embedding's engagement threshold): treated like the cold-start gate.
    case tooFewSeedVectors = 4

    public var description: String {
        switch self {
        case .scored: "scored"
        case .belowMinimumSeeds: "below_minimum_seeds"
        case .awaitingSummary: "awaiting_summary"
        case .dimensionMismatch: "dimension_mismatch"
        case .tooFewSeedVectors: "too_few_seed_vectors"
        }
    }
}

/// One item's answer in a score request.
public struct LookalikeScore: Sendable, Hashable {
    public var item: Int32
    public var status: LookalikeStatus
    /// The score in [−1, 1] when ``status`` is ``LookalikeStatus/scored``; 0 otherwise.
    public var score: Float
    /// The item's current seed count.
    public var seedCount: Int32

    public init(item: Int32, status: LookalikeStatus, score: Float, seedCount: Int32) {
        self.item = item
        self.status = status
        self.score = score
        self.seedCount = seedCount
    }
}

/// The online look-alike score of a user for items (RALM's online stage, with the issue's
/// combination):
///
///     s_c      = ê_u · μ_c                                   (cosine: both unit)
///     w_c      = n_c · exp(s_c / τ) / Σ_c' n_c' · exp(s_c' / τ)   (local attention)
///     local(u) = Σ_c w_c μ_c
///     score    = cos(ê_u, β · g + (1 − β) · local(u) / ‖local(u)‖)
///
/// Precomputed per item (``SeedSummary``): g, μ_c, n_c, G_cc' = μ_c · μ_c' and g · μ_c. Online per
/// item: the k dot products s_c (k·d multiply-adds), k exponentials and an O(k²) quadratic form:
///
///     ê_u · local = Σ_c w_c s_c          ‖local‖² = Σ_c Σ_c' w_c w_c' G_cc'
///     g · local   = Σ_c w_c (g · μ_c)    l̂ = local / ‖local‖
///     score = (β ê_u·g + (1 − β) ê_u·l̂) / sqrt(β² + (1 − β)² + 2β(1 − β) g·l̂)
///
/// When ‖local‖ is 0 (opposite centres cancelling) the score uses g alone; when the mixed vector is
/// 0 the score is 0.
///
/// Hot path: ``score(user:items:seeds:summaries:into:)`` allocates nothing once the scorer's scratch
/// space and the output array have grown to the request's size.
public struct LookalikeScorer: Sendable {
    public let configuration: LookalikeConfiguration
    private var unitUser: [Float] = []
    private var weights: [Float] = []

    /// - Important: Traps when ``LookalikeConfiguration/validate()`` reports a problem.
    public init(configuration: LookalikeConfiguration = .default) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid LookalikeConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
        weights.reserveCapacity(configuration.clusters)
    }

    /// Scores `user` (its vector, any length > 0; it is normalised here) for each of `items`,
    /// replacing the contents of `results` with one answer per item, in order. Items below the
    /// cold-start gate, or without a summary, get a status and no score.
    /// - Returns: false, leaving `results` empty, when the user vector is zero or not finite.
    @discardableResult
    public mutating func score(
        user: [Float], items: [Int32], seeds: SeedLists, summaries: SeedSummaries, into results: inout [LookalikeScore]
    ) -> Bool {
        results.removeAll(keepingCapacity: true)
        unitUser.removeAll(keepingCapacity: true)
        unitUser.append(contentsOf: user)
        guard !user.isEmpty, DenseVectorMath.normalize(&unitUser) else { return false }
        let minimum = configuration.minimumSeeds
        for item in items {
            let seedCount = seeds.seedCount(of: item)
            var answer = LookalikeScore(item: item, status: .scored, score: 0, seedCount: Int32(clamping: seedCount))
            if seedCount < minimum {
                answer.status = .belowMinimumSeeds
            } else if let summary = summaries.summary(of: item) {
                if summary.dimension != unitUser.count {
                    answer.status = .dimensionMismatch
                } else {
                    answer.score = Self.kernel(
                        unitUser: unitUser, summary: summary, beta: Float(configuration.beta),
                        inverseTemperature: Float(1 / configuration.localTemperature), weights: &weights)
                }
            } else {
                answer.status = .awaitingSummary
            }
            results.append(answer)
        }
        return true
    }

    /// The score of a unit user vector against one summary (no gate; same dimension required).
    public mutating func score(unitUser: [Float], summary: SeedSummary) -> Float {
        precondition(unitUser.count == summary.dimension, "user of \(unitUser.count) values, summary of \(summary.dimension)")
        return Self.kernel(
            unitUser: unitUser, summary: summary, beta: Float(configuration.beta),
            inverseTemperature: Float(1 / configuration.localTemperature), weights: &weights)
    }

    /// The local attention weights w_c of a unit user vector over a summary's centres (for tests and
    /// explanations).
    public static func localAttention(unitUser: [Float], summary: SeedSummary, temperature: Double) -> [Float] {
        var weights: [Float] = []
        let d = summary.dimension
        let t = summary.table
        var largest = -Float.infinity
        for c in 0..<summary.clusterCount {
            let s = DenseVectorMath.dot(unitUser, 0, t, summary.centresOffset + c * d, count: d)
            weights.append(s)
            largest = max(largest, s)
        }
        var total: Float = 0
        for c in weights.indices {
            weights[c] = t[summary.sizeWeightsOffset + c] * DenseVectorMath.exp((weights[c] - largest) / Float(temperature))
            total += weights[c]
        }
        return weights.map { $0 / total }
    }

    @inline(__always)
    static func kernel(
        unitUser u: [Float], summary s: SeedSummary, beta: Float, inverseTemperature: Float, weights: inout [Float]
    ) -> Float {
        let d = s.dimension
        let k = s.clusterCount
        let t = s.table
        let centres = s.centresOffset
        let gram = s.gramOffset
        let globalDots = s.globalDotsOffset
        let sizes = s.sizeWeightsOffset
        weights.removeAll(keepingCapacity: true)
        var largest = -Float.infinity
        for c in 0..<k {
            let similarity = DenseVectorMath.dot(u, 0, t, centres + c * d, count: d)
            weights.append(similarity)
            if similarity > largest { largest = similarity }
        }
        let ug = DenseVectorMath.dot(u, 0, t, 0, count: d)
        var total: Float = 0
        var ul: Float = 0
        for c in 0..<k {
            let similarity = weights[c]
            let w = t[sizes + c] * DenseVectorMath.exp((similarity - largest) * inverseTemperature)
            weights[c] = w
            total += w
            ul += w * similarity
        }
        let inverseTotal = 1 / total
        ul *= inverseTotal
        var l2: Float = 0
        var gl: Float = 0
        for a in 0..<k {
            let row = DenseVectorMath.dot(weights, 0, t, gram + a * k, count: k)
            l2 += weights[a] * row
            gl += weights[a] * t[globalDots + a]
        }
        l2 *= inverseTotal * inverseTotal
        gl *= inverseTotal
        let localNorm = max(l2, 0).squareRoot()
        guard localNorm > 1e-6 else { return min(1, max(-1, ug)) }
        let ulHat = ul / localNorm
        let glHat = gl / localNorm
        let alpha = 1 - beta
        let v2 = beta * beta + alpha * alpha + 2 * beta * alpha * glHat
        guard v2 > 1e-12 else { return 0 }
        let score = (beta * ug + alpha * ulHat) / v2.squareRoot()
        return min(1, max(-1, score))
    }
}
