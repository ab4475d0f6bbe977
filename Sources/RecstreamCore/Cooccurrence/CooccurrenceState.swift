/// A point in the engagement stream at which an exact recompute was started: the engagements
/// applied before it (``engagementSequence``) and the window they are read in.
///
/// The runtime takes a cut with ``CooccurrenceState/beginExactRecompute()``, reads from the
/// engagement log every engagement applied before it, computes ``ExactSimilarities`` for
/// ``window`` on another thread, and hands the result to
/// ``CooccurrenceState/replaceWithExact(_:)``.
public struct CooccurrenceCut: Hashable, Sendable {
    /// Distinguishes cuts of one state; a result is accepted only for the outstanding cut.
    public let id: UInt64
    /// The number of engagements the state had applied when the cut was taken.
    public let engagementSequence: UInt64
    /// The window the exact recompute reads: it ends at the state's watermark at the cut.
    public let window: CooccurrenceWindow

    public init(id: UInt64, engagementSequence: UInt64, window: CooccurrenceWindow) {
        self.id = id
        self.engagementSequence = engagementSequence
        self.window = window
    }
}

/// Counts of what ``CooccurrenceState/apply(_:watermark:)`` did, for metrics and for stating the
/// cost per engagement. Process-lifetime: not persisted.
public struct CooccurrenceCounters: Hashable, Sendable {
    /// Engagements applied (engagement types inside the window).
    public var applied: UInt64 = 0
    /// Events ignored because their type is not an engagement.
    public var notEngagements: UInt64 = 0
    /// Engagements ignored because they are older than the window.
    public var outsideWindow: UInt64 = 0
    /// Engagements of an item the user had already engaged in the window (no pair changes).
    public var repeated: UInt64 = 0
    /// New items of users past the pathological cap (no pair changes).
    public var pathological: UInt64 = 0
    /// ItemCF pair-count increments (both directions count).
    public var itemCFUpdates: UInt64 = 0
    /// Users' histories scanned by Swing updates.
    public var swingUsersScanned: UInt64 = 0
    /// Swing pair-score increments (both directions count).
    public var swingUpdates: UInt64 = 0
    /// Users that reached the Swing minimum and had their earlier pairs added at once.
    public var swingCatchUps: UInt64 = 0
    /// Exact results swapped in.
    public var exactSwaps: UInt64 = 0

    public init() {}
}

/// The instance's co-occurrence state: user histories (LastN), incremental ItemCF and Swing, and
/// the top-K index of both, fed with the engagements of every owned partition in offset order.
///
/// Per engagement (see docs/cooccurrence.md for the derivation of each bound):
/// - always: the user's history update, O(distinct items of the user) ≤ O(pathological cap);
/// - ItemCF, when the item is new for the user: 2·(N − 1) pair-count increments, N =
///   ``CooccurrenceConfiguration/historyLength``;
/// - Swing, when the item is new: R·N item checks over the R = ``CooccurrenceConfiguration/recentUsersPerItem``
///   recent users of the item, plus 2 increments per common item found (≤ 2·R·(N − 1)), plus the
///   overlap correction, ≤ R·L·(L − 1) for L = ``CooccurrenceConfiguration/swingOverlapCorrectionLimit``;
///   once per user, on reaching the Swing minimum, a catch-up of at most N·R·N checks;
/// - pruning, amortised O(1) per new table entry (a selection over 3C entries every 2C new ones).
///
/// The incremental values only grow: they never expire, use user weights and overlaps as they
/// were when added, and skip pairs beyond the caps. The exact recompute, taken at a cut and
/// swapped in by ``replaceWithExact(_:)``, brings them back to the exact values for the window;
/// increments applied after the cut are kept on top.
///
/// Persistence: like a shard family, the state tracks what changed and
/// ``drainChanges(into:)`` yields the records to put or delete in the next atomic commit;
/// ``restore(key:value:)`` loads them back. Keys are family-relative (see ``CooccurrenceKeys``).
public struct CooccurrenceState: Sendable {
    /// Name used in status output and metric labels.
    public static let name = "cooccurrence"

    public let configuration: CooccurrenceConfiguration
    /// The largest watermark (or engagement time) seen; nil before the first engagement.
    public internal(set) var watermark: EventTime?
    /// Engagements applied so far, persisted; a cut records it.
    public internal(set) var engagementSequence: UInt64 = 0
    /// The cut whose exact result is awaited, if any. Not persisted: a restart abandons it.
    public private(set) var outstandingCut: CooccurrenceCut?
    /// The end of the window of the exact result currently installed, if any.
    public internal(set) var exactWindowEnd: EventTime?
    public private(set) var counters = CooccurrenceCounters()

    var users = UserHistories()
    var recent = RecentUsers()
    var cfCounts = LayeredNeighbours<UInt32>()
    var cfWeights = LayeredNeighbours<Double>()
    var degrees = LayeredDegrees()
    var swing = LayeredNeighbours<Double>()
    var metaDirty = false
    var cutCounter: UInt64 = 0

    // Scratch space of the Swing update, reused across engagements (never persisted).
    private var itemMarks: [UInt32] = []
    private var userMarks: [UInt32] = []
    private var itemStamp: UInt32 = 0
    private var userStamp: UInt32 = 0
    private var partners: [Int32] = []
    private var common: [Int32] = []
    /// w_u for |I_u| = 0 ... pathological cap.
    private let swingWeights: [Double]
    /// 1 / ln(1 + |I_u|) for |I_u| = 0 ... pathological cap (index 0 unused).
    private let penaltyWeights: [Double]

    /// An empty state.
    ///
    /// - Important: Traps when ``CooccurrenceConfiguration/validate()`` reports a problem.
    public init(configuration: CooccurrenceConfiguration = .default) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid CooccurrenceConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
        let cap = configuration.pathologicalUserItems
        swingWeights = (0...cap).map { configuration.swing.userWeight(items: $0) }
        penaltyWeights = (0...cap).map { $0 == 0 ? 0 : 1 / PortableMath.log(1 + Double($0)) }
    }

    // MARK: Apply

    /// Applies one engagement. `watermark` is the instance watermark including this event (the
    /// largest event time applied in any owned partition); the state keeps the largest it has seen.
    ///
    /// Ignored: types whose weight is 0, and engagements at or before the watermark minus the
    /// window. Otherwise the user's history is updated and, if the item is new for the user in
    /// the window and the user is not pathological, the ItemCF and Swing pairs it forms are added.
    public mutating func apply(_ engagement: Engagement, watermark: EventTime) {
        precondition(engagement.user >= 0 && engagement.item >= 0, "negative index in \(engagement)")
        let c = configuration
        guard c.weights.isEngagement(engagement.type) else {
            counters.notEngagements += 1
            return
        }
        let now = max(self.watermark ?? watermark, watermark, engagement.time)
        if now != self.watermark {
            self.watermark = now
            metaDirty = true
        }
        let cutoff = now.millis - c.windowMillis
        guard engagement.time.millis > cutoff else {
            counters.outsideWindow += 1
            return
        }
        engagementSequence += 1
        counters.applied += 1
        metaDirty = true

        var history = users.take(engagement.user)
        history.expire(cutoff: cutoff)
        let outcome = history.record(
            item: engagement.item, type: engagement.type, time: engagement.time.millis, weights: c.weights,
            cap: c.pathologicalUserItems)
        guard outcome == .new else {
            users.put(engagement.user, history)
            counters.repeated += 1
            return
        }
        let distinct = history.entries.count
        if history.isSaturated(cutoff: cutoff) || distinct > c.pathologicalUserItems {
            users.put(engagement.user, history)
            counters.pathological += 1
            return
        }
        let item = engagement.item
        partners.removeAll(keepingCapacity: true)
        for p in history.newest(c.historyLength, cutoff: cutoff) where history.entries[p].item != item {
            partners.append(history.entries[p].item)
        }
        users.put(engagement.user, history)

        if c.computesItemCF { addItemCFPairs(item: item, distinct: distinct) }
        if c.computesSwing {
            addSwingPairs(user: engagement.user, item: item, distinct: distinct, cutoff: cutoff)
            recent.append(engagement.user, to: item, cap: c.recentUsersPerItem)
        }
    }

    private var pruneTrigger: Int { NeighbourTableLimits.pruneRatio * configuration.candidatesPerItem }

    /// ItemCF: c(i, j) += 1 both ways for every partner i, and n_j += 1.
    private mutating func addItemCFPairs(item j: Int32, distinct: Int) {
        degrees.increment(j)
        cfCounts.dirtyDelta.insert(j)
        let trigger = pruneTrigger
        let penalty = configuration.itemCFActivityPenalty
        let weight = penalty ? penaltyWeights[distinct] : 0
        // j's own table takes every partner at once (it may pass the trigger by up to N − 1 entries
        // before it is pruned), then each partner's table takes j.
        if cfCounts.add(j, neighbours: partners, 1) >= trigger { pruneItemCF(j) }
        for i in partners where cfCounts.add(i, j, 1) >= trigger { pruneItemCF(i) }
        if penalty {
            if cfWeights.add(j, neighbours: partners, weight) >= trigger { pruneItemCFWeights(j) }
            for i in partners where cfWeights.add(i, j, weight) >= trigger { pruneItemCFWeights(i) }
        }
        counters.itemCFUpdates += UInt64(2 * partners.count)
    }

    private mutating func pruneItemCF(_ item: Int32) {
        let kept = configuration.candidatesPerItem
        if configuration.itemCFActivityPenalty {
            cfCounts.pruneWritten(
                item, keeping: kept, ranking: WeightedCosineRanking(item: item, weights: cfWeights, degrees: degrees))
        } else {
            cfCounts.pruneWritten(item, keeping: kept, ranking: CosineRanking(degrees: degrees))
        }
    }

    private mutating func pruneItemCFWeights(_ item: Int32) {
        cfWeights.pruneWritten(item, keeping: configuration.candidatesPerItem, ranking: CosineRanking(degrees: degrees))
    }

    private mutating func pruneSwing(_ item: Int32) {
        swing.pruneWritten(item, keeping: configuration.candidatesPerItem, ranking: ScoreRanking())
    }

    @inline(__always) private mutating func nextItemStamp() -> UInt32 {
        itemStamp &+= 1
        if itemStamp == 0 {
            for i in itemMarks.indices { itemMarks[i] = 0 }
            itemStamp = 1
        }
        return itemStamp
    }

    @inline(__always) private mutating func markItem(_ item: Int32, _ stamp: UInt32) {
        let i = Int(item)
        if i >= itemMarks.count {
            itemMarks.append(
                contentsOf: repeatElement(0, count: max(i + 1, itemMarks.count * 2, 1024) - itemMarks.count))
        }
        itemMarks[i] = stamp
    }

    @inline(__always) private func isMarked(_ item: Int32, _ stamp: UInt32) -> Bool {
        let i = Int(item)
        return i < itemMarks.count && itemMarks[i] == stamp
    }

    /// Whether user `v` takes part in Swing now, and its distinct-item count.
    @inline(__always) private func swingParticipant(_ v: Int32, cutoff: Int64) -> Int? {
        let h = users[v]
        guard !h.isSaturated(cutoff: cutoff) else { return nil }
        let count = h.distinctCount(cutoff: cutoff)
        guard count >= configuration.swingMinUserItems, count <= configuration.swingMaxUserItems else { return nil }
        return count
    }

    /// Swing: adds the contributions of every user pair (u, v) completed by u's first engagement
    /// of j, over the recent users v of j.
    private mutating func addSwingPairs(user u: Int32, item j: Int32, distinct: Int, cutoff: Int64) {
        let c = configuration
        guard distinct <= c.swingMaxUserItems, distinct >= c.swingMinUserItems else { return }
        if c.swingMinUserItems >= 2 && distinct == c.swingMinUserItems {
            catchUpSwing(user: u, item: j, distinct: distinct, cutoff: cutoff)
            return
        }
        guard !partners.isEmpty else { return }
        let stamp = nextItemStamp()
        for i in partners { markItem(i, stamp) }
        let wu = swingWeights[distinct]
        let alpha = c.swing.alpha
        let n = c.historyLength
        let trigger = pruneTrigger
        let others = recent.users(of: j)
        let correctionLimit = c.swingOverlapCorrectionLimit
        var scanned: UInt64 = 0
        var updates: UInt64 = 0
        for v in others where v != u {
            guard let dv = swingParticipant(v, cutoff: cutoff) else { continue }
            scanned += 1
            let hv = users[v]
            common.removeAll(keepingCapacity: true)
            var sawJ = false
            for p in hv.newest(n, cutoff: cutoff) {
                let it = hv.entries[p].item
                if it == j {
                    sawJ = true
                } else if isMarked(it, stamp) {
                    common.append(it)
                }
            }
            guard sawJ, !common.isEmpty else { continue }
            let wuv = wu * swingWeights[dv]
            let overlap = Double(common.count + 1)
            let contribution = wuv / (alpha + overlap)
            for i in common {
                if swing.add(i, j, contribution) >= trigger { pruneSwing(i) }
                if swing.add(j, i, contribution) >= trigger { pruneSwing(j) }
            }
            updates += UInt64(2 * common.count)
            if common.count >= 2 && common.count <= correctionLimit {
                // The pair's overlap grew from |common| to |common| + 1: move the pairs it added
                // before (those among `common`) to the new denominator.
                let correction = wuv / (alpha + overlap) - wuv / (alpha + overlap - 1)
                for x in common {
                    for y in common where y != x {
                        if swing.add(x, y, correction) >= trigger { pruneSwing(x) }
                    }
                }
                updates += UInt64(common.count * (common.count - 1))
            }
        }
        counters.swingUsersScanned += scanned
        counters.swingUpdates += updates
    }

    /// A user who just reached the Swing minimum: adds, at once, the contributions of every pair
    /// (u, v) with a qualifying v among the recent users of u's history items, which were held
    /// back while u was below the minimum.
    private mutating func catchUpSwing(user u: Int32, item j: Int32, distinct: Int, cutoff: Int64) {
        let c = configuration
        counters.swingCatchUps += 1
        let stamp = nextItemStamp()
        var own = partners
        own.append(j)
        for i in own { markItem(i, stamp) }
        userStamp &+= 1
        if userStamp == 0 {
            for i in userMarks.indices { userMarks[i] = 0 }
            userStamp = 1
        }
        if userMarks.count < users.count {
            userMarks.append(contentsOf: repeatElement(0, count: users.count - userMarks.count))
        }
        let wu = swingWeights[distinct]
        let alpha = c.swing.alpha
        let trigger = pruneTrigger
        var scanned: UInt64 = 0
        var updates: UInt64 = 0
        for a in own {
            for v in recent.users(of: a) where v != u {
                // Recent lists may name users without a history slot (restored without one).
                if Int(v) >= userMarks.count {
                    userMarks.append(contentsOf: repeatElement(0, count: Int(v) + 1 - userMarks.count))
                }
                guard userMarks[Int(v)] != userStamp else { continue }
                userMarks[Int(v)] = userStamp
                guard let dv = swingParticipant(v, cutoff: cutoff) else { continue }
                scanned += 1
                let hv = users[v]
                common.removeAll(keepingCapacity: true)
                for p in hv.newest(c.historyLength, cutoff: cutoff) where isMarked(hv.entries[p].item, stamp) {
                    common.append(hv.entries[p].item)
                }
                guard common.count >= 2 else { continue }
                let contribution = wu * swingWeights[dv] / (alpha + Double(common.count))
                for x in common {
                    for y in common where y != x {
                        if swing.add(x, y, contribution) >= trigger { pruneSwing(x) }
                    }
                }
                updates += UInt64(common.count * (common.count - 1))
            }
        }
        counters.swingUsersScanned += scanned
        counters.swingUpdates += updates
    }

    // MARK: Exact recompute

    /// Takes a cut for an exact recompute: from now on increments are kept apart, so that the
    /// exact result for the engagements before the cut can replace everything older.
    ///
    /// - Returns: the cut; read the engagement log up to it (every engagement applied so far,
    ///   i.e. the log as of the last commit if the cut is taken right after a commit) and compute
    ///   ``ExactSimilarities`` for `cut.window`.
    /// - Important: Traps if a cut is already outstanding; call ``abandonExactRecompute()`` first.
    public mutating func beginExactRecompute() -> CooccurrenceCut {
        precondition(
            outstandingCut == nil, "an exact recompute is already outstanding: \(String(describing: outstandingCut))")
        cutCounter += 1
        metaDirty = true
        let cut = CooccurrenceCut(
            id: cutCounter, engagementSequence: engagementSequence,
            window: CooccurrenceWindow(end: watermark ?? EventTime(millis: 0), lengthMillis: configuration.windowMillis)
        )
        outstandingCut = cut
        cfCounts.openCut()
        cfWeights.openCut()
        degrees.openCut()
        swing.openCut()
        return cut
    }

    /// Swaps in the exact result for the outstanding cut, atomically with respect to queries (the
    /// caller holds the state exclusively): the result replaces every value the state had for
    /// engagements before the cut, and the increments applied after the cut stay on top of it.
    ///
    /// Cost: O(items) (array moves, dirty marks, freeing the replaced layers); the result's tables
    /// were built on the computing thread.
    /// - Returns: false, changing nothing, if `result` is not for the outstanding cut (a stale
    ///   result, or one computed before a restart).
    @discardableResult
    public mutating func replaceWithExact(_ result: ExactSimilarities) -> Bool {
        guard let cut = outstandingCut, result.cut == cut else { return false }
        precondition(
            result.configuration == configuration, "exact result computed with another configuration")
        // Degree records live in the ItemCF count records: mark items whose degrees change.
        for i in 0..<max(degrees.base.count, result.degrees.count) {
            let item = Int32(i)
            if degrees.baseDegree(item) != 0 || (i < result.degrees.count && result.degrees[i] != 0) {
                cfCounts.dirtyBase.insert(item)
            }
        }
        for i in degrees.older.indices where degrees.older[i] != 0 { cfCounts.dirtyDelta.insert(Int32(i)) }
        degrees.replaceBase(with: result.degrees)
        cfCounts.replaceBase(with: result.itemCFCounts)
        cfWeights.replaceBase(with: result.itemCFWeights)
        swing.replaceBase(with: result.swingTables)
        outstandingCut = nil
        exactWindowEnd = cut.window.end
        counters.exactSwaps += 1
        metaDirty = true
        return true
    }

    /// Gives up the outstanding cut (its exact job failed or was cancelled): the increments kept
    /// apart since the cut are folded back. Cost: O(increments since the cut).
    public mutating func abandonExactRecompute() {
        guard outstandingCut != nil else { return }
        outstandingCut = nil
        let kept = configuration.candidatesPerItem
        degrees.abandonCut()
        cfCounts.abandonCut(keeping: kept, ranking: CosineRanking(degrees: degrees))
        cfWeights.abandonCut(keeping: kept, ranking: CosineRanking(degrees: degrees))
        swing.abandonCut(keeping: kept, ranking: ScoreRanking())
    }

    // MARK: Queries

    /// The top `k` neighbours of `item` by `method`, best first (ties: smaller index first), with
    /// their current scores: ItemCF c(i, j) / sqrt(n_i · n_j) (c weighted by the activity penalty
    /// when on), Swing s(i, j). `k` defaults to ``CooccurrenceConfiguration/topK``.
    ///
    /// Cost: O(C log k) for the C candidates held for the item (at most 7 ×
    /// ``CooccurrenceConfiguration/candidatesPerItem`` + 2N).
    public func similar(item: Int32, method: SimilarityMethod, k: Int? = nil) -> [ScoredItem] {
        let limit = k ?? configuration.topK
        guard limit > 0, item >= 0 else { return [] }
        var out: [ScoredItem] = []
        switch method {
        case .itemCF:
            let ni = Double(degrees.total(item))
            guard ni > 0 else { return [] }
            if configuration.itemCFActivityPenalty {
                cfWeights.forEachNeighbour(of: item) { n, v in
                    let nj = Double(degrees.total(n))
                    if v > 0 && nj > 0 { out.append((n, v / (ni * nj).squareRoot())) }
                }
            } else {
                cfCounts.forEachNeighbour(of: item) { n, v in
                    let nj = Double(degrees.total(n))
                    if v > 0 && nj > 0 { out.append((n, Double(v) / (ni * nj).squareRoot())) }
                }
            }
        case .swing:
            swing.forEachNeighbour(of: item) { n, v in
                if v > 0 { out.append((n, v)) }
            }
        }
        return TopSelection.best(out, limit)
    }

    /// The user's LastN: the newest ``CooccurrenceConfiguration/historyLength`` distinct items
    /// engaged inside the window, newest first.
    public func history(user: Int32) -> [HistoryEntry] {
        guard user >= 0, let watermark else { return [] }
        let h = users[user]
        let cutoff = watermark.millis - configuration.windowMillis
        return h.newest(configuration.historyLength, cutoff: cutoff).reversed().map { p in
            let e = h.entries[p]
            return HistoryEntry(
                item: e.item, type: e.type, time: EventTime(millis: e.time), weight: configuration.weights[e.type])
        }
    }

    /// The number of distinct items `user` engaged inside the window (|I_u|, at most the cap).
    public func distinctItemCount(user: Int32) -> Int {
        guard user >= 0, let watermark else { return 0 }
        return users[user].distinctCount(cutoff: watermark.millis - configuration.windowMillis)
    }

    /// ItemCF degree n_i: distinct users who engaged `item`, as currently known.
    public func degree(of item: Int32) -> UInt32 { item >= 0 ? degrees.total(item) : 0 }

    /// ItemCF co-occurrence count c(i, j) as currently held (0 when the pair is not kept).
    public func cooccurrenceCount(_ i: Int32, _ j: Int32) -> UInt32 { i >= 0 ? cfCounts.total(i, j) : 0 }

    /// The current score of the pair by `method` (0 when the pair is not kept).
    public func score(_ i: Int32, _ j: Int32, method: SimilarityMethod) -> Double {
        guard i >= 0, j >= 0 else { return 0 }
        switch method {
        case .itemCF:
            let d = (Double(degrees.total(i)) * Double(degrees.total(j))).squareRoot()
            guard d > 0 else { return 0 }
            let c = configuration.itemCFActivityPenalty ? cfWeights.total(i, j) : Double(cfCounts.total(i, j))
            return c / d
        case .swing:
            return swing.total(i, j)
        }
    }

    /// The neighbours held for `item` by `method` (all candidates, not only the top K).
    public func candidateCount(of item: Int32, method: SimilarityMethod) -> Int {
        guard item >= 0 else { return 0 }
        switch method {
        case .itemCF:
            return configuration.itemCFActivityPenalty
                ? cfWeights.neighbourCount(of: item) : cfCounts.neighbourCount(of: item)
        case .swing: return swing.neighbourCount(of: item)
        }
    }

    /// Entries held for `item` by `method` in each layer: the quantity the memory bound limits.
    public func layerEntryCounts(of item: Int32, method: SimilarityMethod) -> (base: Int, older: Int, newer: Int) {
        guard item >= 0 else { return (0, 0, 0) }
        switch method {
        case .itemCF: return cfCounts.entryCounts(of: item)
        case .swing: return swing.entryCounts(of: item)
        }
    }

    /// The largest increment dropped by pruning since the last swap, per method: how far a kept
    /// pair's incremental value may fall short (0 when nothing was pruned).
    public func largestPrunedIncrement(method: SimilarityMethod) -> Double {
        switch method {
        case .itemCF: configuration.itemCFActivityPenalty ? cfWeights.largestPrunedScore : cfCounts.largestPrunedScore
        case .swing: swing.largestPrunedScore
        }
    }

    /// Users with a history slot.
    public var userCount: Int { users.count }

    /// Approximate heap bytes of the top-K index (ItemCF and Swing tables and degrees).
    public var indexBytes: Int {
        cfCounts.approximateBytes + cfWeights.approximateBytes + swing.approximateBytes + degrees.approximateBytes
    }

    /// Approximate heap bytes held, histories and recent-user lists included.
    public var approximateBytes: Int {
        indexBytes + users.approximateBytes
            + recent.approximateBytes + itemMarks.capacity * 4 + userMarks.capacity * 4
    }
}

/// Picks the best `k` scored items: score descending, then item ascending.
enum TopSelection {
    @inline(__always) static func precedes(_ a: ScoredItem, _ b: ScoredItem) -> Bool {
        a.score != b.score ? a.score > b.score : a.item < b.item
    }

    static func best(_ candidates: [ScoredItem], _ k: Int) -> [ScoredItem] {
        guard k > 0 else { return [] }
        if candidates.count <= k {
            return candidates.sorted(by: precedes)
        }
        // A min-heap of the best k so far (its root is the worst kept).
        var heap: [ScoredItem] = []
        heap.reserveCapacity(k)
        for c in candidates {
            if heap.count < k {
                heap.append(c)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    guard precedes(heap[parent], heap[i]) else { break }
                    heap.swapAt(parent, i)
                    i = parent
                }
            } else if precedes(c, heap[0]) {
                heap[0] = c
                var i = 0
                while true {
                    let l = 2 * i + 1
                    let r = l + 1
                    var worst = i
                    if l < heap.count && precedes(heap[worst], heap[l]) { worst = l }
                    if r < heap.count && precedes(heap[worst], heap[r]) { worst = r }
                    if worst == i { break }
                    heap.swapAt(i, worst)
                    i = worst
                }
            }
        }
        return heap.sorted(by: precedes)
    }
}
