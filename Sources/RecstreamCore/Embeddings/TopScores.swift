/// The best `k` (item, score) pairs seen so far: a min-heap whose root is the worst kept. Ties go
/// to the smaller item, so results do not depend on the order candidates arrive in.
/// Cost: O(log k) per candidate that enters; O(1) for one that does not.
struct TopScores {
    let k: Int
    private(set) var scores: [Float] = []
    private(set) var items: [Int32] = []

    init(k: Int) {
        self.k = max(k, 0)
        scores.reserveCapacity(self.k)
        items.reserveCapacity(self.k)
    }

    /// Whether (a, ia) ranks above (b, ib).
    @inline(__always) static func better(_ a: Float, _ ia: Int32, _ b: Float, _ ib: Int32) -> Bool {
        a != b ? a > b : ia < ib
    }

    /// The score a candidate must beat to enter, −∞ while the heap is not full.
    @inline(__always) var threshold: Float { scores.count < k ? -.infinity : scores[0] }

    @inline(__always) mutating func offer(_ score: Float, _ item: Int32) {
        guard k > 0 else { return }
        if scores.count < k {
            scores.append(score)
            items.append(item)
            var i = scores.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.better(scores[parent], items[parent], scores[i], items[i]) else { break }
                scores.swapAt(parent, i)
                items.swapAt(parent, i)
                i = parent
            }
        } else if Self.better(score, item, scores[0], items[0]) {
            scores[0] = score
            items[0] = item
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var worst = i
                if l < scores.count && Self.better(scores[worst], items[worst], scores[l], items[l]) { worst = l }
                if r < scores.count && Self.better(scores[worst], items[worst], scores[r], items[r]) { worst = r }
                if worst == i { break }
                scores.swapAt(i, worst)
                items.swapAt(i, worst)
                i = worst
            }
        }
    }

    /// The kept pairs, best first.
    func sorted() -> [ScoredItem] {
        zip(items, scores).map { (item: $0.0, score: Double($0.1)) }.sorted { a, b in
            a.score != b.score ? a.score > b.score : a.item < b.item
        }
    }
}
