/// Per-item neighbour tables in three layers, so that an exact recompute can replace everything it
/// covers in O(items) while keeping the increments that arrived after its cut:
///
/// - `base`: the last exact result (the top candidates of each item), read-only between swaps;
/// - `older`: increments applied before the outstanding cut (or since the last swap when no cut
///   is outstanding);
/// - `newer`: increments applied after the outstanding cut; empty when none is outstanding.
///
/// A pair's value is `base + (older + newer)`. Opening a cut redirects increments to `newer`;
/// the swap installs the new base, drops `older` (the exact result covers it) and makes `newer`
/// the new `older`: a few array moves, plus freeing the dropped layer.
///
/// Bound: the increment layer being written is pruned back to `kept` entries per item whenever it
/// reaches `3 · kept` (``NeighbourTableLimits/pruneRatio``), ranking by the pair's total value,
/// so an item holds at most `kept` (base) + 2 × (`3 · kept` + N) (older, newer) entries, N the
/// history length (an ItemCF batch may pass the trigger by N − 1 before its prune).
struct LayeredNeighbours<Value: NeighbourValue>: Sendable {
    private(set) var base: [NeighbourTable<Value>] = []
    private(set) var older: [NeighbourTable<Value>] = []
    private(set) var newer: [NeighbourTable<Value>] = []
    private(set) var cutOpen = false
    /// Items whose base table changed since the last drain (persisted under the base key).
    var dirtyBase = DirtySet()
    /// Items whose increment tables (older + newer) changed since the last drain.
    var dirtyDelta = DirtySet()
    /// The largest increment value dropped by pruning since the last swap, as a score: a bound on
    /// how much any kept pair's increment may be short by.
    private(set) var largestPrunedScore = 0.0

    init() {}

    @inline(__always) private static func table(_ layer: [NeighbourTable<Value>], _ i: Int) -> NeighbourTable<Value>? {
        i < layer.count ? layer[i] : nil
    }

    @inline(__always) private static func value(
        _ layer: [NeighbourTable<Value>], _ i: Int, _ neighbour: Int32
    ) -> Value {
        guard i < layer.count else { return .zero }
        return layer[i].value(of: neighbour) ?? .zero
    }

    /// The pair's increments since the last swap: older + newer.
    @inline(__always) func delta(_ item: Int32, _ neighbour: Int32) -> Value {
        let i = Int(item)
        return Self.value(older, i, neighbour) + Self.value(newer, i, neighbour)
    }

    /// The pair's total: base + (older + newer); zero when absent.
    @inline(__always) func total(_ item: Int32, _ neighbour: Int32) -> Value {
        Self.value(base, Int(item), neighbour) + delta(item, neighbour)
    }

    /// Adds `value` to the pair in the layer being written.
    /// - Returns: the entry count of that layer's table for `item` afterwards.
    @inline(__always) @discardableResult
    mutating func add(_ item: Int32, _ neighbour: Int32, _ value: Value) -> Int {
        let i = Int(item)
        dirtyDelta.insert(item)
        if cutOpen {
            if i >= newer.count { Self.grow(&newer, to: i + 1) }
            return newer[i].add(neighbour, value)
        }
        if i >= older.count { Self.grow(&older, to: i + 1) }
        return older[i].add(neighbour, value)
    }

    /// Adds `value` to the pair (item, n) for every n in `neighbours`, in the layer being written.
    /// - Returns: the entry count of that layer's table for `item` afterwards.
    @inline(__always) @discardableResult
    mutating func add(_ item: Int32, neighbours: [Int32], _ value: Value) -> Int {
        let i = Int(item)
        dirtyDelta.insert(item)
        if cutOpen {
            if i >= newer.count { Self.grow(&newer, to: i + 1) }
            var table = newer[i]
            newer[i] = NeighbourTable()
            for n in neighbours { table.add(n, value) }
            newer[i] = table
            return table.count
        }
        if i >= older.count { Self.grow(&older, to: i + 1) }
        var table = older[i]
        older[i] = NeighbourTable()
        for n in neighbours { table.add(n, value) }
        older[i] = table
        return table.count
    }

    private static func grow(_ layer: inout [NeighbourTable<Value>], to count: Int) {
        let target = max(count, layer.count + layer.count / 2, 16)
        layer.append(contentsOf: repeatElement(NeighbourTable(), count: target - layer.count))
    }

    /// Prunes `item`'s table in the layer being written back to `kept` entries, keeping the
    /// pairs whose total (base + older + newer) ranks highest by `ranking`.
    mutating func pruneWritten<R: PairRanking>(_ item: Int32, keeping kept: Int, ranking: R) {
        let i = Int(item)
        if cutOpen {
            var table = newer[i]
            newer[i] = NeighbourTable()
            prune(&table, item: item, keeping: kept, ranking: ranking)
            newer[i] = table
        } else {
            var table = older[i]
            older[i] = NeighbourTable()
            prune(&table, item: item, keeping: kept, ranking: ranking)
            older[i] = table
        }
    }

    private mutating func prune<R: PairRanking>(
        _ table: inout NeighbourTable<Value>, item: Int32, keeping kept: Int, ranking: R
    ) {
        let i = Int(item)
        // The table being pruned was moved out of its layer, so that layer reads as empty here.
        let b = Self.table(base, i) ?? NeighbourTable()
        let o = Self.table(older, i) ?? NeighbourTable()
        let n = Self.table(newer, i) ?? NeighbourTable()
        let others = !b.isEmpty || !o.isEmpty || !n.isEmpty
        var ranks: [Double] = []
        ranks.reserveCapacity(table.count)
        table.forEachEntry { e in
            var total = e.value
            if others {
                let increments = (o.value(of: e.neighbour) ?? .zero) + (n.value(of: e.neighbour) ?? .zero) + e.value
                total = (b.value(of: e.neighbour) ?? .zero) + increments
            }
            ranks.append(ranking.rank(e.neighbour, total.score))
        }
        largestPrunedScore = max(largestPrunedScore, table.prune(keeping: kept, ranks: ranks))
    }

    /// Calls `body(neighbour, total)` once for every neighbour of `item` in any layer.
    func forEachNeighbour(of item: Int32, _ body: (Int32, Value) -> Void) {
        let i = Int(item)
        let b = Self.table(base, i)
        let o = Self.table(older, i)
        let n = Self.table(newer, i)
        b?.forEachEntry { e in
            body(e.neighbour, e.value + ((o?.value(of: e.neighbour) ?? .zero) + (n?.value(of: e.neighbour) ?? .zero)))
        }
        o?.forEachEntry { e in
            if b?.contains(e.neighbour) != true {
                body(e.neighbour, .zero + (e.value + (n?.value(of: e.neighbour) ?? .zero)))
            }
        }
        n?.forEachEntry { e in
            if b?.contains(e.neighbour) != true && o?.contains(e.neighbour) != true {
                body(e.neighbour, .zero + (.zero + e.value))
            }
        }
    }

    /// The number of distinct neighbours of `item` over all layers.
    func neighbourCount(of item: Int32) -> Int {
        var n = 0
        forEachNeighbour(of: item) { _, _ in n += 1 }
        return n
    }

    /// Entries held per layer for `item`: (base, older, newer).
    func entryCounts(of item: Int32) -> (base: Int, older: Int, newer: Int) {
        let i = Int(item)
        return (Self.table(base, i)?.count ?? 0, Self.table(older, i)?.count ?? 0, Self.table(newer, i)?.count ?? 0)
    }

    /// The increments of `item` (older + newer combined), as persisted.
    func deltaTable(of item: Int32) -> NeighbourTable<Value> {
        let i = Int(item)
        guard let o = Self.table(older, i) else { return Self.table(newer, i) ?? NeighbourTable() }
        guard let n = Self.table(newer, i), !n.isEmpty else { return o }
        var merged = o
        n.forEachEntry { e in merged.add(e.neighbour, e.value) }
        return merged
    }

    func baseTable(of item: Int32) -> NeighbourTable<Value> { Self.table(base, Int(item)) ?? NeighbourTable() }

    /// Redirects increments to the newer layer.
    mutating func openCut() {
        precondition(!cutOpen, "a cut is already open")
        cutOpen = true
    }

    /// Installs `newBase` (indexed by item), drops the older increments and keeps the newer ones.
    /// Cost: O(items) to mark records dirty and free the dropped layer.
    mutating func replaceBase(with newBase: [NeighbourTable<Value>]) {
        precondition(cutOpen, "replaceBase needs an open cut")
        for i in base.indices where !base[i].isEmpty { dirtyBase.insert(Int32(i)) }
        for i in newBase.indices where !newBase[i].isEmpty { dirtyBase.insert(Int32(i)) }
        for i in older.indices where !older[i].isEmpty { dirtyDelta.insert(Int32(i)) }
        base = newBase
        older = newer
        newer = []
        cutOpen = false
        largestPrunedScore = 0
    }

    /// Folds the newer increments into the older layer and closes the cut (the exact job for it
    /// was abandoned). Cost: O(entries in the newer layer); pruning as usual.
    mutating func abandonCut<R: PairRanking>(keeping kept: Int, ranking: R) {
        guard cutOpen else { return }
        let pending = newer
        newer = []
        cutOpen = false
        for i in pending.indices where !pending[i].isEmpty {
            let item = Int32(i)
            for e in pending[i].entries {
                if add(item, e.neighbour, e.value) >= NeighbourTableLimits.pruneRatio * kept {
                    pruneWritten(item, keeping: kept, ranking: ranking)
                }
            }
        }
    }

    /// Restores a persisted base table.
    mutating func restoreBase(_ item: Int32, _ table: NeighbourTable<Value>) {
        let i = Int(item)
        if i >= base.count { Self.grow(&base, to: i + 1) }
        base[i] = table
    }

    /// Restores a persisted increment table (into the older layer: no cut survives a restart).
    mutating func restoreDelta(_ item: Int32, _ table: NeighbourTable<Value>) {
        let i = Int(item)
        if i >= older.count { Self.grow(&older, to: i + 1) }
        older[i] = table
    }

    /// Heap bytes held by the tables.
    var approximateBytes: Int {
        var bytes = (base.capacity + older.capacity + newer.capacity) * MemoryLayout<NeighbourTable<Value>>.stride
        for layer in [base, older, newer] {
            for t in layer { bytes += t.approximateBytes }
        }
        return bytes
    }

    /// Items that have a table slot in any layer.
    var itemSlots: Int { max(base.count, older.count, newer.count) }
}

/// How pruning ranks a pair of an item from the pair's total value.
protocol PairRanking {
    func rank(_ neighbour: Int32, _ total: Double) -> Double
}

/// Swing: the score itself.
struct ScoreRanking: PairRanking {
    @inline(__always) func rank(_ neighbour: Int32, _ total: Double) -> Double { total }
}

/// ItemCF: the similarity up to the item's own degree, c(i, j) / sqrt(n_j).
struct CosineRanking: PairRanking {
    let degrees: LayeredDegrees
    @inline(__always) func rank(_ neighbour: Int32, _ total: Double) -> Double {
        total / Double(max(1, degrees.total(neighbour))).squareRoot()
    }
}

/// ItemCF counts under the activity penalty: ranked by the penalty-weighted total, so the counts
/// kept are those of the pairs the weighted table ranks highest.
struct WeightedCosineRanking: PairRanking {
    let item: Int32
    let weights: LayeredNeighbours<Double>
    let degrees: LayeredDegrees
    @inline(__always) func rank(_ neighbour: Int32, _ total: Double) -> Double {
        weights.total(item, neighbour) / Double(max(1, degrees.total(neighbour))).squareRoot()
    }
}

/// ItemCF degrees n_i (distinct users per item) in the same three layers as the pair counts.
struct LayeredDegrees: Sendable {
    private(set) var base: [UInt32] = []
    private(set) var older: [UInt32] = []
    private(set) var newer: [UInt32] = []
    private(set) var cutOpen = false

    @inline(__always) private static func at(_ layer: [UInt32], _ i: Int) -> UInt32 { i < layer.count ? layer[i] : 0 }

    @inline(__always) func total(_ item: Int32) -> UInt32 {
        let i = Int(item)
        return Self.at(base, i) &+ Self.at(older, i) &+ Self.at(newer, i)
    }

    @inline(__always) func baseDegree(_ item: Int32) -> UInt32 { Self.at(base, Int(item)) }
    @inline(__always) func deltaDegree(_ item: Int32) -> UInt32 {
        Self.at(older, Int(item)) &+ Self.at(newer, Int(item))
    }

    @inline(__always) mutating func increment(_ item: Int32) {
        let i = Int(item)
        if cutOpen {
            if i >= newer.count {
                newer.append(contentsOf: repeatElement(0, count: max(i + 1, newer.count * 2) - newer.count))
            }
            newer[i] &+= 1
        } else {
            if i >= older.count {
                older.append(contentsOf: repeatElement(0, count: max(i + 1, older.count * 2) - older.count))
            }
            older[i] &+= 1
        }
    }

    mutating func openCut() { cutOpen = true }

    mutating func replaceBase(with newBase: [UInt32]) {
        base = newBase
        older = newer
        newer = []
        cutOpen = false
    }

    mutating func abandonCut() {
        guard cutOpen else { return }
        if older.count < newer.count { older.append(contentsOf: repeatElement(0, count: newer.count - older.count)) }
        for i in newer.indices { older[i] &+= newer[i] }
        newer = []
        cutOpen = false
    }

    mutating func restore(_ item: Int32, base value: UInt32) {
        let i = Int(item)
        if i >= base.count { base.append(contentsOf: repeatElement(0, count: i + 1 - base.count)) }
        base[i] = value
    }

    mutating func restore(_ item: Int32, delta value: UInt32) {
        let i = Int(item)
        if i >= older.count { older.append(contentsOf: repeatElement(0, count: i + 1 - older.count)) }
        older[i] = value
    }

    var approximateBytes: Int { (base.capacity + older.capacity + newer.capacity) * 4 }
}
