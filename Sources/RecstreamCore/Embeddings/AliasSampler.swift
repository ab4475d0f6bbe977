/// Draws an index i in 0..<n with probability w_i / Σw in O(1) by Walker's alias method, built
/// with Vose's stable variant (Vose 1991, "A linear algorithm for generating random numbers with a
/// given distribution"): each of n columns holds an acceptance threshold and an alias.
///
/// Cost: O(n) to build, two uniform draws per sample; memory 12 bytes per index. Deterministic:
/// the same weights and generator give the same draws on every platform.
public struct AliasSampler: Sendable {
    /// Per column: the probability of keeping the column rather than taking its alias.
    private let threshold: [Double]
    private let alias: [Int32]
    /// w_i / Σw, for log-Q corrections and tests.
    public let probabilities: [Double]

    /// A sampler over `weights` (finite, non-negative, at least one positive).
    /// - Important: Traps otherwise.
    public init(weights: [Double]) {
        let n = weights.count
        precondition(n > 0 && n <= Int(Int32.max), "AliasSampler needs 1...Int32.max weights, got \(n)")
        var total = 0.0
        for w in weights {
            precondition(w.isFinite && w >= 0, "AliasSampler weight \(w) is not finite and non-negative")
            total += w
        }
        precondition(total > 0, "AliasSampler weights are all zero")
        probabilities = weights.map { $0 / total }
        var scaled = probabilities.map { $0 * Double(n) }
        var threshold = [Double](repeating: 1, count: n)
        var alias = [Int32](repeating: 0, count: n)
        for i in 0..<n { alias[i] = Int32(i) }
        var small: [Int] = []
        var large: [Int] = []
        for i in 0..<n {
            if scaled[i] < 1 { small.append(i) } else { large.append(i) }
        }
        while let s = small.popLast() {
            guard let l = large.popLast() else {
                // Rounding left a column just below 1: it keeps itself.
                threshold[s] = 1
                continue
            }
            threshold[s] = scaled[s]
            alias[s] = Int32(l)
            scaled[l] = (scaled[l] + scaled[s]) - 1
            if scaled[l] < 1 { small.append(l) } else { large.append(l) }
        }
        // Whatever remains large is (up to rounding) exactly 1.
        for l in large { threshold[l] = 1 }
        self.threshold = threshold
        self.alias = alias
    }

    public var count: Int { threshold.count }

    /// One index.
    @inline(__always)
    public func next<G: RandomNumberGenerator>(using generator: inout G) -> Int {
        let column = Int(generator.below(UInt64(threshold.count)))
        return generator.unitInterval() < threshold[column] ? column : Int(alias[column])
    }
}
