/// The parameters of Swing (Yang et al. 2020, "Large Scale Product Graph Construction for
/// Recommendation in E-commerce", arXiv 2010.05525):
///
///     s(i, j) = Σ_{u < v; u, v ∈ U_i ∩ U_j} w_u · w_v / (α + |I_u ∩ I_v|),   w_u = (|I_u| + α₁)^−β
///
/// summed over unordered user pairs, each once (as apache/flink-ml and Alink count them).
public struct SwingParameters: Hashable, Sendable {
    /// α, smoothing of the user-pair overlap in the denominator. flink-ml calls it `alpha2`,
    /// Alink `alpha`. Default 1.
    public var alpha: Double = 1
    /// α₁, smoothing of the user activity in the weight. flink-ml `alpha1`, Alink `userAlpha`.
    /// Default 5.
    public var alpha1: Double = 5
    /// β, the exponent of the user weight w_u = (|I_u| + α₁)^−β: positive values damp active users.
    /// flink-ml `beta`, Alink `userBeta` (both libraries compute 1 / (|I_u| + α₁)^β, as here).
    /// Default 0.3.
    public var beta: Double = 0.3
    /// Users with fewer distinct items than this in the window are left out of Swing (flink-ml
    /// `minUserBehavior`, Alink `minUserItems`). nil: no lower filter. Default nil.
    public var minUserItems: Int? = nil
    /// Users with more distinct items than this in the window are left out of Swing (flink-ml
    /// `maxUserBehavior`, Alink `maxUserItems`). nil: only the pathological-user cap applies.
    /// Default nil.
    public var maxUserItems: Int? = nil

    public init() {}

    public init(alpha: Double, alpha1: Double, beta: Double, minUserItems: Int? = nil, maxUserItems: Int? = nil) {
        self.alpha = alpha
        self.alpha1 = alpha1
        self.beta = beta
        self.minUserItems = minUserItems
        self.maxUserItems = maxUserItems
    }

    /// The user weight for a user with `items` distinct items: (items + α₁)^−β.
    @inline(__always) public func userWeight(items: Int) -> Double {
        PortableMath.exp(-beta * PortableMath.log(Double(items) + alpha1))
    }
}

/// Everything that shapes the co-occurrence state: the window, the caps that bound per-engagement
/// work and memory, and the formulas' parameters. Validate once at start with ``validate()``.
///
/// Presets: ``default``, ``flinkML`` and ``alink`` (see docs/cooccurrence.md for why public
/// defaults disagree).
public struct CooccurrenceConfiguration: Hashable, Sendable {
    /// The co-occurrence window in event-time milliseconds: engagements older than the watermark
    /// minus this are not paired, and the exact recompute reads only engagements inside it. The
    /// engagement log keeps whole days for this long. Default 30 days.
    public var windowMillis: Int64 = 30 * 86_400_000

    /// Engagement types and their weights. Default click 1, like 2, collect 3, share 3, comment 2.
    public var weights = EngagementWeights()

    /// N of the LastN history, and the number of a user's newest items an engagement is paired
    /// with. Cost: an engagement of a new item updates up to 2·(N − 1) ItemCF pair counts. Default 50.
    public var historyLength = 50

    /// Swing: the users kept per item, newest first, that an engagement looks for co-engaging
    /// users in. Cost: an engagement of a new item scans up to this many users' histories of
    /// ``historyLength`` items, i.e. R·N item checks, plus two table updates per common item found.
    /// Default 100.
    public var recentUsersPerItem = 100

    /// K of the top-K index: the default and largest `k` a query returns. Default 100.
    public var topK = 100

    /// The neighbour candidates kept per item and method in each layer of the index after pruning;
    /// a layer's table is pruned back to this many when it reaches three times as many. Must be at
    /// least ``topK``. Memory per item and method: at most C (the exact result) + 2 × (3C + N)
    /// (increments before and after an outstanding cut) entries, C this value (see docs).
    /// Default 200.
    public var candidatesPerItem = 200

    /// Whether ItemCF is maintained. Default true.
    public var computesItemCF = true
    /// Whether Swing is maintained. Default true.
    public var computesSwing = true

    /// ItemCF's penalty for very active users: when on, each user's contribution to c(i, j) is
    /// weighted 1 / ln(1 + |I_u|) (Breese et al. 1998's inverse user frequency, as in Xiang Liang's
    /// ItemCF-IUF). Degrees n_i stay unweighted user counts. Default off.
    public var itemCFActivityPenalty = false

    /// Swing's parameters and user filters.
    public var swing = SwingParameters()

    /// Incremental Swing: when an engagement raises the overlap |I_u ∩ I_v| of a user pair that
    /// shared k ≤ this many items before, also move the k·(k − 1) contributions the pair added
    /// among those items to the new denominator 1 / (α + k + 1). Beyond the limit the relative
    /// change of the denominator is small and the correction is skipped; 0 turns it off. Cost: at
    /// most R·L·(L − 1) more updates per engagement for limit L. Default 16.
    public var swingOverlapCorrectionLimit = 16

    /// Users with more distinct items than this in the window are pathological (crawlers, shared
    /// accounts) and left out of both methods, by the exact recompute and by the incremental
    /// updates; it is also the most distinct items a user's history keeps, so it bounds the
    /// history memory per user. Default 1,000 (Alink's `maxUserItems`).
    public var pathologicalUserItems = 1_000

    /// How often the runtime should run the exact recompute, in milliseconds of wall time (the
    /// core has no clock; this is the runtime's schedule). Default 10 minutes.
    public var exactRecomputeIntervalMillis: Int64 = 600_000

    public init() {}

    /// The recstream defaults: the parameter values the issue gives (α = 1, α₁ = 5, β = 0.3), no
    /// Swing user filters, the pathological-user cap at 1,000.
    public static let `default` = CooccurrenceConfiguration()

    /// apache/flink-ml's Swing defaults: α₁ = 15, α (their alpha2) = 0, β = 0.3, minUserBehavior 10,
    /// maxUserBehavior 1000, k = 100. flink-ml's random sampling of at most 1,000 users per item
    /// (`maxUserNumPerItem`) is not reproduced: the exact recompute uses every user.
    public static let flinkML: CooccurrenceConfiguration = {
        var c = CooccurrenceConfiguration()
        c.swing = SwingParameters(alpha: 0, alpha1: 15, beta: 0.3, minUserItems: 10, maxUserItems: 1_000)
        return c
    }()

    /// Alink's `SwingTrainBatchOp` defaults: alpha = 1, userAlpha = 5, userBeta = −0.35,
    /// minUserItems 10, maxUserItems 1000. Alink computes the weight as 1 / (|I_u| + userAlpha)^userBeta,
    /// so with its default β = −0.35 the weight is (|I_u| + 5)^0.35 and grows with activity; the
    /// preset reproduces that literally. Alink's random sampling of at most 1,000 users per item
    /// (`maxItemNumber`) and its single-precision arithmetic are not reproduced.
    public static let alink: CooccurrenceConfiguration = {
        var c = CooccurrenceConfiguration()
        c.swing = SwingParameters(alpha: 1, alpha1: 5, beta: -0.35, minUserItems: 10, maxUserItems: 1_000)
        return c
    }()

    /// The largest distinct-item count of a user that Swing uses: the smaller of the Swing filter
    /// and the pathological cap.
    public var swingMaxUserItems: Int { min(swing.maxUserItems ?? Int.max, pathologicalUserItems) }

    /// The smallest distinct-item count of a user that Swing uses (at least 1).
    public var swingMinUserItems: Int { max(swing.minUserItems ?? 1, 1) }

    /// One line per setting out of range; empty when the configuration is usable.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) {
            if !ok { problems.append(message()) }
        }
        check(
            windowMillis >= 60_000 && windowMillis <= 366 * 86_400_000,
            "windowMillis is \(windowMillis); it must be in 60000...\(366 * 86_400_000)")
        check(weights[.exposure] == 0, "exposures are never engagements")
        for type in EventType.allCases where type.isEngagement {
            let w = weights[type]
            check(w.isFinite && w >= 0, "weight of \(type.name) is \(w); it must be finite and >= 0")
        }
        check(
            EventType.allCases.contains { weights.isEngagement($0) }, "no event type has a positive weight")
        check(historyLength >= 2 && historyLength <= 1_000, "historyLength is \(historyLength); it must be in 2...1000")
        check(
            recentUsersPerItem >= 1 && recentUsersPerItem <= 10_000,
            "recentUsersPerItem is \(recentUsersPerItem); it must be in 1...10000")
        check(topK >= 1 && topK <= 1_000, "topK is \(topK); it must be in 1...1000")
        check(
            candidatesPerItem >= topK && candidatesPerItem <= NeighbourTableLimits.maxKept,
            "candidatesPerItem is \(candidatesPerItem); it must be in topK (\(topK))...\(NeighbourTableLimits.maxKept)")
        check(computesItemCF || computesSwing, "at least one of ItemCF and Swing must be on")
        check(
            swing.alpha.isFinite && swing.alpha >= 0, "swing.alpha is \(swing.alpha); it must be finite and >= 0")
        check(
            swing.alpha1.isFinite && swing.alpha1 >= 0,
            "swing.alpha1 is \(swing.alpha1); it must be finite and >= 0")
        check(swing.beta.isFinite && abs(swing.beta) <= 10, "swing.beta is \(swing.beta); it must be in -10...10")
        if let minimum = swing.minUserItems {
            check(minimum >= 1, "swing.minUserItems is \(minimum); it must be at least 1")
        }
        if let maximum = swing.maxUserItems {
            check(maximum >= 2, "swing.maxUserItems is \(maximum); it must be at least 2")
            check(
                maximum >= (swing.minUserItems ?? 1),
                "swing.maxUserItems (\(maximum)) is below swing.minUserItems (\(swing.minUserItems ?? 1))")
        }
        check(
            swingOverlapCorrectionLimit >= 0 && swingOverlapCorrectionLimit <= 1_000,
            "swingOverlapCorrectionLimit is \(swingOverlapCorrectionLimit); it must be in 0...1000")
        check(
            pathologicalUserItems >= historyLength && pathologicalUserItems <= 100_000,
            "pathologicalUserItems is \(pathologicalUserItems); it must be in historyLength (\(historyLength))...100000"
        )
        check(
            exactRecomputeIntervalMillis >= 1_000,
            "exactRecomputeIntervalMillis is \(exactRecomputeIntervalMillis); it must be at least 1000")
        return problems
    }
}
