/// Exact ItemCF and Swing for every engagement in a window, with no cap but the documented one on
/// pathological users (more than ``CooccurrenceConfiguration/pathologicalUserItems`` distinct items
/// in the window: left out, as Alink's Swing does):
///
///     ItemCF  sim(i, j) = c(i, j) / sqrt(n_i · n_j),  c(i, j) = Σ_{u ∈ U_i ∩ U_j} ω_u,
///             n_i = |U_i|,  ω_u = 1, or 1 / ln(1 + |I_u|) with the activity penalty
///     Swing   s(i, j) = Σ_{u < v; u, v ∈ U_i ∩ U_j} w_u · w_v / (α + |I_u ∩ I_v|),
///             w_u = (|I_u| + α₁)^−β, users outside the Swing filters left out
///
/// where I_u is the set of distinct items user u engaged in the window and U_i the users of item i.
///
/// Holds, per item, the degree and the top ``CooccurrenceConfiguration/candidatesPerItem``
/// neighbours of each method, already laid out as the state's tables so that
/// ``CooccurrenceState/replaceWithExact(_:)`` only moves arrays; and, when asked for
/// (`keepingAllPairs`), every non-zero pair, for tests.
///
/// - Important: No threads here. ``compute(engagements:window:configuration:cut:keepingAllPairs:)``
///   runs on the caller's thread; to use several, build one ``ExactSimilarityInput``, call
///   ``ExactSimilarityInput/computeRows(_:keepingAllPairs:)`` on disjoint row ranges from several
///   threads, and ``merging(_:input:cut:)`` the parts. The result is the same for any split.
public struct ExactSimilarities: Sendable {
    /// The cut this result answers, if it was computed for one.
    public let cut: CooccurrenceCut?
    public let window: CooccurrenceWindow
    public let configuration: CooccurrenceConfiguration
    /// Sizes of the input and of the work done (for progress and benchmark reports).
    public let statistics: Statistics

    /// n_i by item index.
    let degrees: [UInt32]
    /// Top ItemCF neighbours by item index, with exact counts.
    let itemCFCounts: [NeighbourTable<UInt32>]
    /// The same neighbours' penalty-weighted counts; empty without the activity penalty.
    let itemCFWeights: [NeighbourTable<Double>]
    /// Top Swing neighbours by item index.
    let swingTables: [NeighbourTable<Double>]

    /// Every non-zero pair, when computed with `keepingAllPairs`.
    public let allPairs: ExactPairs?

    /// What the computation read and did.
    public struct Statistics: Hashable, Sendable {
        public var engagements = 0
        public var engagementsInWindow = 0
        public var distinctPairs = 0
        public var users = 0
        public var pathologicalUsers = 0
        public var swingUsers = 0
        public var items = 0
        /// Ordered ItemCF pairs with c > 0.
        public var itemCFPairs = 0
        /// User pairs sharing at least two items (each unordered pair once).
        public var swingUserPairs = 0
        /// Swing accumulator updates: one per (user pair, ordered pair of their shared items).
        public var swingQuadruples = 0
    }

    /// Every non-zero pair of an exact result, keyed by item index.
    public struct ExactPairs: Sendable {
        /// c(i, j), both orders.
        public var itemCFCounts: [Int32: [Int32: UInt32]] = [:]
        /// sim(i, j), both orders.
        public var itemCFScores: [Int32: [Int32: Double]] = [:]
        /// s(i, j), both orders.
        public var swing: [Int32: [Int32: Double]] = [:]
        /// n_i.
        public var degrees: [Int32: UInt32] = [:]
    }

    /// Computes everything on the calling thread.
    public static func compute(
        engagements: some Sequence<Engagement>, window: CooccurrenceWindow, configuration: CooccurrenceConfiguration,
        cut: CooccurrenceCut? = nil, keepingAllPairs: Bool = false
    ) -> ExactSimilarities {
        let input = ExactSimilarityInput(engagements: engagements, window: window, configuration: configuration)
        let rows = input.computeRows(0..<input.rowCount, keepingAllPairs: keepingAllPairs)
        return merging([rows], input: input, cut: cut)
    }

    /// Assembles the parts computed for disjoint row ranges covering `0..<input.rowCount`.
    /// - Important: Traps if the ranges do not cover every row exactly once.
    public static func merging(
        _ parts: [ExactSimilarityRows], input: ExactSimilarityInput, cut: CooccurrenceCut?
    ) -> ExactSimilarities {
        let sorted = parts.sorted { $0.rows.lowerBound < $1.rows.lowerBound }
        var next = 0
        for p in sorted {
            precondition(
                p.rows.lowerBound == next, "row ranges leave a gap or overlap at \(next): \(sorted.map(\.rows))")
            next = p.rows.upperBound
        }
        precondition(next == input.rowCount, "row ranges end at \(next), not \(input.rowCount)")
        let c = input.configuration
        let limit = input.itemLimit
        var degrees = [UInt32](repeating: 0, count: limit)
        var counts = [NeighbourTable<UInt32>](repeating: NeighbourTable(), count: c.computesItemCF ? limit : 0)
        var weights = [NeighbourTable<Double>](
            repeating: NeighbourTable(), count: c.computesItemCF && c.itemCFActivityPenalty ? limit : 0)
        var swing = [NeighbourTable<Double>](repeating: NeighbourTable(), count: c.computesSwing ? limit : 0)
        var all: ExactPairs? = nil
        var stats = Statistics(
            engagements: input.engagementCount, engagementsInWindow: input.engagementsInWindow,
            distinctPairs: input.pairCount, users: input.userCount, pathologicalUsers: input.pathologicalUsers,
            swingUsers: input.swingUserCount, items: input.rowCount)
        for part in sorted {
            stats.itemCFPairs += part.pairCount
            stats.swingUserPairs += part.swingUserPairs
            stats.swingQuadruples += part.swingQuadruples
            for (k, row) in part.rows.enumerated() {
                let item = input.items[row]
                let i = Int(item)
                degrees[i] = part.degrees[k]
                // Moves: the tables were built on the computing thread.
                if c.computesItemCF {
                    counts[i] = part.itemCFCounts[k]
                    if c.itemCFActivityPenalty { weights[i] = part.itemCFWeights[k] }
                }
                if c.computesSwing { swing[i] = part.swing[k] }
            }
            if !part.allItemCF.isEmpty || !part.allSwing.isEmpty {
                var pairs = all ?? ExactPairs()
                for (k, row) in part.rows.enumerated() {
                    let item = input.items[row]
                    pairs.degrees[item] = part.degrees[k]
                    if k < part.allItemCF.count {
                        for n in part.allItemCF[k] {
                            pairs.itemCFCounts[item, default: [:]][n.item] = n.count
                            pairs.itemCFScores[item, default: [:]][n.item] = n.score
                        }
                    }
                    if k < part.allSwing.count {
                        for n in part.allSwing[k] { pairs.swing[item, default: [:]][n.neighbour] = n.value }
                    }
                }
                all = pairs
            }
        }
        return ExactSimilarities(
            cut: cut, window: input.window, configuration: c, statistics: stats, degrees: degrees,
            itemCFCounts: counts, itemCFWeights: weights, swingTables: swing, allPairs: all)
    }

    /// The top `k` neighbours of `item` (at most ``CooccurrenceConfiguration/candidatesPerItem``),
    /// best first, ties by smaller index.
    public func similar(item: Int32, method: SimilarityMethod, k: Int? = nil) -> [ScoredItem] {
        let limit = k ?? configuration.topK
        guard item >= 0 else { return [] }
        let i = Int(item)
        var candidates: [ScoredItem] = []
        switch method {
        case .itemCF:
            // The same expression as the rows use, so scores match bit for bit.
            let na = Double(degree(of: item))
            if configuration.itemCFActivityPenalty {
                guard i < itemCFWeights.count else { return [] }
                itemCFWeights[i].forEachEntry { e in
                    candidates.append((e.neighbour, e.value / (na * Double(degree(of: e.neighbour))).squareRoot()))
                }
            } else {
                guard i < itemCFCounts.count else { return [] }
                itemCFCounts[i].forEachEntry { e in
                    candidates.append(
                        (e.neighbour, Double(e.value) / (na * Double(degree(of: e.neighbour))).squareRoot()))
                }
            }
        case .swing:
            guard i < swingTables.count else { return [] }
            swingTables[i].forEachEntry { candidates.append(($0.neighbour, $0.value)) }
        }
        return TopSelection.best(candidates, limit)
    }

    /// n_i: distinct users of `item` in the window (pathological users left out).
    public func degree(of item: Int32) -> UInt32 {
        item >= 0 && Int(item) < degrees.count ? degrees[Int(item)] : 0
    }

    /// Items with at least one kept engagement.
    public var items: [Int32] { degrees.indices.filter { degrees[$0] > 0 }.map { Int32($0) } }
}
