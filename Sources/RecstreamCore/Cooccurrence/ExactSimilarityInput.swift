/// The engagements of one window, prepared for the exact recompute: distinct (user, item) pairs,
/// pathological users left out, indexed both ways (users → sorted items, items → sorted users).
///
/// Building it is single-threaded: one sort of the distinct pairs, O(E log E) for E engagements.
/// The value is immutable and `Sendable`: the rows can then be computed on several threads with
/// ``computeRows(_:keepingAllPairs:)`` over disjoint row ranges, and merged with
/// ``ExactSimilarities/merging(_:input:cut:)``. Results do not depend on how the rows are split:
/// every row's sums are accumulated in the same order (users ascending) in every split.
public struct ExactSimilarityInput: Sendable {
    public let configuration: CooccurrenceConfiguration
    public let window: CooccurrenceWindow
    /// Engagements offered, and how many were engagement types inside the window.
    public let engagementCount: Int
    public let engagementsInWindow: Int
    /// Distinct (user, item) pairs kept, after leaving out pathological users.
    public let pairCount: Int
    /// Users with more distinct items than ``CooccurrenceConfiguration/pathologicalUserItems``.
    public let pathologicalUsers: Int
    /// Users kept, and users taking part in Swing (the Swing filters applied).
    public let userCount: Int
    public let swingUserCount: Int

    /// Row (compact item) → the state's item index, ascending.
    let items: [Int32]
    /// The largest item index + 1.
    let itemLimit: Int
    let userItemStart: [Int]
    /// Per user (compact, ascending by index): its items as rows, ascending.
    let userItems: [Int32]
    let itemUserStart: [Int]
    /// Per row: its users (compact), ascending.
    let itemUsers: [Int32]
    let swingItemUserStart: [Int]
    /// Per row: its Swing users (compact), ascending.
    let swingItemUsers: [Int32]
    /// Per user: 1, or 1 / ln(1 + |I_u|) with the ItemCF activity penalty.
    let itemCFUserWeight: [Double]
    /// Per user: w_u = (|I_u| + α₁)^−β, or 0 when the user is not in Swing.
    let swingUserWeight: [Double]

    /// The number of rows (items with at least one kept engagement); split `0..<rowCount` to
    /// compute in parts.
    public var rowCount: Int { items.count }

    /// Prepares `engagements` (any order; duplicates and other types are fine) for `window`.
    public init(
        engagements: some Sequence<Engagement>, window: CooccurrenceWindow, configuration: CooccurrenceConfiguration
    ) {
        self.configuration = configuration
        self.window = window
        var offered = 0
        var keys: [UInt64] = []
        keys.reserveCapacity(engagements.underestimatedCount)
        for e in engagements {
            offered += 1
            guard configuration.weights.isEngagement(e.type), window.contains(e.time), e.user >= 0, e.item >= 0 else {
                continue
            }
            keys.append(UInt64(UInt32(bitPattern: e.user)) << 32 | UInt64(UInt32(bitPattern: e.item)))
        }
        engagementCount = offered
        engagementsInWindow = keys.count
        keys.sort()

        // Distinct pairs per user; drop pathological users.
        var kept: [UInt64] = []
        kept.reserveCapacity(keys.count)
        var pathological = 0
        var start = 0
        while start < keys.count {
            let user = keys[start] >> 32
            var end = start
            var distinct = 0
            var previous = UInt64.max
            while end < keys.count && keys[end] >> 32 == user {
                if keys[end] != previous { distinct += 1 }
                previous = keys[end]
                end += 1
            }
            if distinct > configuration.pathologicalUserItems {
                pathological += 1
            } else {
                previous = UInt64.max
                for k in keys[start..<end] where k != previous {
                    kept.append(k)
                    previous = k
                }
            }
            start = end
        }
        keys = []
        pathologicalUsers = pathological
        pairCount = kept.count

        // Rows: the distinct items, ascending.
        var maxItem: Int32 = -1
        for k in kept { maxItem = max(maxItem, Int32(truncatingIfNeeded: k & 0xFFFF_FFFF)) }
        itemLimit = Int(maxItem) + 1
        var rowOf = [Int32](repeating: -1, count: itemLimit)
        for k in kept { rowOf[Int(k & 0xFFFF_FFFF)] = 0 }
        var items: [Int32] = []
        for i in 0..<itemLimit where rowOf[i] == 0 {
            rowOf[i] = Int32(items.count)
            items.append(Int32(i))
        }
        self.items = items

        // Users → rows (kept is sorted by user, then item, so rows come out ascending).
        var userItemStart: [Int] = [0]
        var userItems: [Int32] = []
        userItems.reserveCapacity(kept.count)
        var itemCFUserWeight: [Double] = []
        var swingUserWeight: [Double] = []
        var swingUsers = 0
        var previousUser = UInt64.max
        for k in kept {
            let user = k >> 32
            if user != previousUser && previousUser != UInt64.max { userItemStart.append(userItems.count) }
            previousUser = user
            userItems.append(rowOf[Int(k & 0xFFFF_FFFF)])
        }
        if !kept.isEmpty { userItemStart.append(userItems.count) }
        let users = userItemStart.count - 1
        itemCFUserWeight.reserveCapacity(users)
        swingUserWeight.reserveCapacity(users)
        for u in 0..<users {
            let n = userItemStart[u + 1] - userItemStart[u]
            itemCFUserWeight.append(configuration.itemCFActivityPenalty ? 1 / PortableMath.log(1 + Double(n)) : 1)
            if n >= configuration.swingMinUserItems && n <= configuration.swingMaxUserItems {
                swingUserWeight.append(configuration.swing.userWeight(items: n))
                swingUsers += 1
            } else {
                swingUserWeight.append(0)
            }
        }
        userCount = users
        swingUserCount = swingUsers
        self.userItemStart = userItemStart
        self.userItems = userItems
        self.itemCFUserWeight = itemCFUserWeight
        self.swingUserWeight = swingUserWeight

        // Rows → users, by counting sort (users visited ascending, so lists come out ascending).
        func invert(includes: (Int) -> Bool) -> (start: [Int], users: [Int32]) {
            var counts = [Int](repeating: 0, count: items.count + 1)
            for u in 0..<users where includes(u) {
                for p in userItemStart[u]..<userItemStart[u + 1] { counts[Int(userItems[p]) + 1] += 1 }
            }
            for r in 0..<items.count { counts[r + 1] += counts[r] }
            var fill = counts
            var out = [Int32](repeating: 0, count: counts[items.count])
            for u in 0..<users where includes(u) {
                for p in userItemStart[u]..<userItemStart[u + 1] {
                    let r = Int(userItems[p])
                    out[fill[r]] = Int32(u)
                    fill[r] += 1
                }
            }
            return (counts, out)
        }
        (itemUserStart, itemUsers) = invert { _ in true }
        (swingItemUserStart, swingItemUsers) = invert { swingUserWeight[$0] != 0 }
    }

    /// The exact ItemCF and Swing rows `rows` (a sub-range of `0..<rowCount`): each row's degree
    /// and top ``CooccurrenceConfiguration/candidatesPerItem`` neighbours per method, and with
    /// `keepingAllPairs` every non-zero pair (for tests; memory grows with the pairs).
    ///
    /// Cost, for the rows' items: ItemCF Σ_{u ∈ U_i} |I_u| per row i; Swing
    /// O(Σ_{u} Σ_{i ∈ I_u} |U_i|) to find the user pairs that share items (for users with an item in
    /// the range) plus one accumulator update per (user pair, item pair in the range) they share.
    /// Memory: one accumulator per row of the range, holding its non-zero Swing pairs.
    public func computeRows(_ rows: Range<Int>, keepingAllPairs: Bool = false) -> ExactSimilarityRows {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= rowCount, "rows \(rows) outside 0..<\(rowCount)")
        var out = ExactSimilarityRows(rows: rows)
        out.degrees = rows.map { UInt32(itemUserStart[$0 + 1] - itemUserStart[$0]) }
        if configuration.computesItemCF { computeItemCF(rows, keepingAllPairs: keepingAllPairs, into: &out) }
        if configuration.computesSwing { computeSwing(rows, keepingAllPairs: keepingAllPairs, into: &out) }
        return out
    }

    private func computeItemCF(_ rows: Range<Int>, keepingAllPairs: Bool, into out: inout ExactSimilarityRows) {
        let penalty = configuration.itemCFActivityPenalty
        let keep = configuration.candidatesPerItem
        var count = [UInt32](repeating: 0, count: items.count)
        var weighted = [Double](repeating: 0, count: penalty ? items.count : 0)
        var touched: [Int32] = []
        var candidates: [ScoredItem] = []
        out.itemCFCounts.reserveCapacity(rows.count)
        for a in rows {
            let na = Double(itemUserStart[a + 1] - itemUserStart[a])
            touched.removeAll(keepingCapacity: true)
            for p in itemUserStart[a]..<itemUserStart[a + 1] {
                let u = Int(itemUsers[p])
                let weight = itemCFUserWeight[u]
                for q in userItemStart[u]..<userItemStart[u + 1] {
                    let b = Int(userItems[q])
                    if b == a { continue }
                    if count[b] == 0 { touched.append(Int32(b)) }
                    count[b] += 1
                    if penalty { weighted[b] += weight }
                }
            }
            out.pairCount += touched.count
            candidates.removeAll(keepingCapacity: true)
            for b in touched {
                let bi = Int(b)
                let nb = Double(itemUserStart[bi + 1] - itemUserStart[bi])
                let numerator = penalty ? weighted[bi] : Double(count[bi])
                candidates.append((items[bi], numerator / (na * nb).squareRoot()))
            }
            // The state's tables, built here so that the swap only moves them. Rows are found back
            // from item indices by binary search (items ascending).
            let best = TopSelection.best(candidates, keep)
            out.itemCFCounts.append(
                NeighbourTable(
                    entries: best.map { NeighbourEntry(neighbour: $0.item, value: count[rowIndex(of: $0.item)]) }))
            if penalty {
                out.itemCFWeights.append(
                    NeighbourTable(
                        entries: best.map { NeighbourEntry(neighbour: $0.item, value: weighted[rowIndex(of: $0.item)]) }
                    ))
            }
            if keepingAllPairs {
                var all: [ExactItemCFNeighbour] = []
                all.reserveCapacity(touched.count)
                for (k, b) in touched.enumerated() {
                    let bi = Int(b)
                    all.append(
                        ExactItemCFNeighbour(
                            item: items[bi], count: count[bi], weighted: penalty ? weighted[bi] : Double(count[bi]),
                            score: candidates[k].score))
                }
                out.allItemCF.append(all)
            }
            for b in touched {
                count[Int(b)] = 0
                if penalty { weighted[Int(b)] = 0 }
            }
        }
    }

    @inline(__always) func rowIndex(of item: Int32) -> Int {
        var low = 0
        var high = items.count
        while low < high {
            let mid = (low + high) / 2
            if items[mid] < item { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// First index in `list[range]` (ascending) whose value exceeds `value`.
    @inline(__always) private static func firstAbove(_ value: Int32, in list: [Int32], _ range: Range<Int>) -> Int {
        var low = range.lowerBound
        var high = range.upperBound
        while low < high {
            let mid = (low + high) / 2
            if list[mid] <= value { low = mid + 1 } else { high = mid }
        }
        return low
    }

    private func computeSwing(_ rows: Range<Int>, keepingAllPairs: Bool, into out: inout ExactSimilarityRows) {
        let alpha = configuration.swing.alpha
        let keep = configuration.candidatesPerItem
        let lower = Int32(rows.lowerBound)
        let upper = Int32(rows.upperBound)
        var accumulators = [PairAccumulator](repeating: PairAccumulator(), count: rows.count)
        let users = userItemStart.count - 1
        var shared = [Int32](repeating: 0, count: users)
        var start = [Int](repeating: 0, count: users)
        var touched: [Int32] = []
        var found: [(user: Int32, row: Int32)] = []
        var commons: [Int32] = []
        var userPairs = 0
        var quadruples = 0
        for u in 0..<users {
            let wu = swingUserWeight[u]
            guard wu != 0 else { continue }
            let own = userItemStart[u]..<userItemStart[u + 1]
            // Only users with an item in the range add to its rows.
            let firstInRange = Self.firstAbove(lower - 1, in: userItems, own)
            guard firstInRange < own.upperBound, userItems[firstInRange] < upper else { continue }
            // Every later Swing user sharing an item with u, and the items shared.
            touched.removeAll(keepingCapacity: true)
            found.removeAll(keepingCapacity: true)
            for p in own {
                let i = Int(userItems[p])
                let list = swingItemUserStart[i]..<swingItemUserStart[i + 1]
                var q = Self.firstAbove(Int32(u), in: swingItemUsers, list)
                while q < list.upperBound {
                    let v = Int(swingItemUsers[q])
                    if shared[v] == 0 { touched.append(Int32(v)) }
                    shared[v] += 1
                    found.append((Int32(v), Int32(i)))
                    q += 1
                }
            }
            // Group the shared items by user pair (counting sort over the pairs sharing two or more).
            var total = 0
            for v in touched where shared[Int(v)] >= 2 {
                start[Int(v)] = total
                total += Int(shared[Int(v)])
            }
            if total > commons.count { commons.append(contentsOf: repeatElement(0, count: total - commons.count)) }
            for f in found where shared[Int(f.user)] >= 2 {
                commons[start[Int(f.user)]] = f.row
                start[Int(f.user)] += 1
            }
            for v in touched {
                let m = Int(shared[Int(v)])
                shared[Int(v)] = 0
                guard m >= 2 else { continue }
                let end = start[Int(v)]
                let common = (end - m)..<end
                // Counted in the part that holds the pair's first shared item, so parts add up.
                if commons[common.lowerBound] >= lower && commons[common.lowerBound] < upper { userPairs += 1 }
                let contribution = wu * swingUserWeight[Int(v)] / (alpha + Double(m))
                for x in common {
                    let a = commons[x]
                    guard a >= lower && a < upper else { continue }
                    let slot = Int(a - lower)
                    for y in common where y != x {
                        accumulators[slot].add(commons[y], contribution)
                    }
                    quadruples += m - 1
                }
            }
        }
        out.swingUserPairs = userPairs
        out.swingQuadruples = quadruples
        out.swing.reserveCapacity(rows.count)
        var candidates: [ScoredItem] = []
        for slot in 0..<rows.count {
            candidates.removeAll(keepingCapacity: true)
            accumulators[slot].forEachInKeyOrder { b, s in candidates.append((items[Int(b)], s)) }
            accumulators[slot] = PairAccumulator()
            out.swing.append(
                NeighbourTable(
                    entries: TopSelection.best(candidates, keep).map {
                        NeighbourEntry(neighbour: $0.item, value: $0.score)
                    }))
            if keepingAllPairs {
                out.allSwing.append(candidates.map { NeighbourEntry(neighbour: $0.item, value: $0.score) })
            }
        }
    }
}

/// One ItemCF neighbour of an exact row, kept for the all-pairs maps: the co-occurrence count, the
/// penalty-weighted count (the count without the penalty) and the similarity.
struct ExactItemCFNeighbour: Hashable, Sendable {
    var item: Int32
    var count: UInt32
    var weighted: Double
    var score: Double
}

/// The exact similarities of a range of rows, to merge with the other ranges.
public struct ExactSimilarityRows: Sendable {
    public let rows: Range<Int>
    var degrees: [UInt32] = []
    /// Per row: the top neighbours' exact counts, their penalty-weighted counts (with the penalty
    /// only) and the top Swing neighbours, as the state's tables.
    var itemCFCounts: [NeighbourTable<UInt32>] = []
    var itemCFWeights: [NeighbourTable<Double>] = []
    var swing: [NeighbourTable<Double>] = []
    var allItemCF: [[ExactItemCFNeighbour]] = []
    var allSwing: [[NeighbourEntry<Double>]] = []
    /// Non-zero ItemCF pairs (ordered) of the rows.
    public internal(set) var pairCount = 0
    /// User pairs sharing two or more items whose first shared item is in the rows (each unordered
    /// pair once).
    public internal(set) var swingUserPairs = 0
    /// Swing accumulator updates: (user pair, ordered item pair with the first in the rows).
    public internal(set) var swingQuadruples = 0

    init(rows: Range<Int>) { self.rows = rows }
}

/// A sparse row accumulator: open addressing from a row index to a sum, at most half full.
struct PairAccumulator: Sendable {
    private var keys: [Int32] = []
    private var values: [Double] = []
    private(set) var count = 0

    @inline(__always) mutating func add(_ key: Int32, _ value: Double) {
        if keys.isEmpty {
            keys = [Int32](repeating: -1, count: 16)
            values = [Double](repeating: 0, count: 16)
        }
        let mask = keys.count - 1
        var s = Self.home(key, keys.count)
        while true {
            let k = keys[s]
            if k == key {
                values[s] += value
                return
            }
            if k < 0 { break }
            s = (s + 1) & mask
        }
        keys[s] = key
        values[s] = value
        count += 1
        if count * 2 > keys.count { grow() }
    }

    /// The top bits of a multiplicative hash; `capacity` is a power of two of at least 16.
    @inline(__always) private static func home(_ key: Int32, _ capacity: Int) -> Int {
        Int(truncatingIfNeeded: (UInt32(bitPattern: key) &* 0x9E37_79B1) >> UInt32(32 - capacity.trailingZeroBitCount))
    }

    private mutating func grow() {
        let oldKeys = keys
        let oldValues = values
        keys = [Int32](repeating: -1, count: oldKeys.count * 2)
        values = [Double](repeating: 0, count: oldKeys.count * 2)
        let mask = keys.count - 1
        for i in oldKeys.indices where oldKeys[i] >= 0 {
            var s = Self.home(oldKeys[i], keys.count)
            while keys[s] >= 0 { s = (s + 1) & mask }
            keys[s] = oldKeys[i]
            values[s] = oldValues[i]
        }
    }

    /// Visits the entries in key order, so results do not depend on the table's layout.
    func forEachInKeyOrder(_ body: (Int32, Double) -> Void) {
        var order: [(Int32, Double)] = []
        order.reserveCapacity(count)
        for i in keys.indices where keys[i] >= 0 { order.append((keys[i], values[i])) }
        order.sort { $0.0 < $1.0 }
        for (k, v) in order { body(k, v) }
    }
}
