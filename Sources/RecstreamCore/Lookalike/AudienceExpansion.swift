/// A user and their look-alike score.
public struct ScoredUser: Sendable, Hashable {
    public var user: Int32
    public var score: Float

    public init(user: Int32, score: Float) {
        self.user = user
        self.score = score
    }
}

/// What a nearest-neighbour index needs to propose candidates for an audience expansion: the
/// seeds' global embedding and cluster centres (an IVF index probes the lists nearest to each).
public struct ExpansionQuery: Sendable {
    public var summary: SeedSummary
    /// The most users wanted.
    public var k: Int
}

/// Audience expansion (RALM's purpose): the top-k users, not already seeds, by look-alike score
/// against a seed summary. The summary is an item's (``SeedSummaries``) or one built on the spot for
/// an explicit list of seed users (``summary(seedUsers:vectors:configuration:)``).
///
/// Candidates come from the caller: every user (``expandExactly(summary:seeds:k:vectors:configuration:)``,
/// the exact brute-force answer, O(users · k_c · d)), a candidate set, or a closure over an
/// ``ExpansionQuery`` (the runtime's IVF index over user vectors). The result is exact over the
/// candidates given: score descending, ties to the smaller user index.
public enum AudienceExpansion {
    /// The top `k` of `candidates` (distinct user indices) that are not in `seeds` and have a vector,
    /// by score against `summary`.
    public static func expand(
        summary: SeedSummary, seeds: Set<Int32>, k: Int, candidates: some Sequence<Int32>, vectors: some UserVectors,
        configuration: LookalikeConfiguration
    ) -> [ScoredUser] {
        guard k > 0, vectors.dimension == summary.dimension else { return [] }
        var scorer = LookalikeScorer(configuration: configuration)
        var buffer: [Float] = []
        buffer.reserveCapacity(vectors.dimension)
        var top = TopUsers(k: k)
        for user in candidates where !seeds.contains(user) {
            guard vectors.copyVector(user: user, into: &buffer), DenseVectorMath.normalize(&buffer) else { continue }
            top.offer(ScoredUser(user: user, score: scorer.score(unitUser: buffer, summary: summary)))
        }
        return top.sorted()
    }

    /// The exact answer: every user index below `vectors.userCount` is a candidate.
    public static func expandExactly(
        summary: SeedSummary, seeds: Set<Int32>, k: Int, vectors: some UserVectors, configuration: LookalikeConfiguration
    ) -> [ScoredUser] {
        let count = Int32(clamping: vectors.userCount)
        return expand(
            summary: summary, seeds: seeds, k: k, candidates: 0..<count, vectors: vectors, configuration: configuration)
    }

    /// Candidates from a nearest-neighbour index: `candidateSource` gets the query and returns user
    /// indices (duplicates allowed); they are re-scored exactly and the best `k` returned.
    public static func expand(
        summary: SeedSummary, seeds: Set<Int32>, k: Int, vectors: some UserVectors,
        configuration: LookalikeConfiguration, candidateSource: (ExpansionQuery) -> [Int32]
    ) -> [ScoredUser] {
        var candidates = candidateSource(ExpansionQuery(summary: summary, k: k))
        candidates.sort()
        var unique: [Int32] = []
        unique.reserveCapacity(candidates.count)
        for c in candidates where unique.last != c { unique.append(c) }
        return expand(
            summary: summary, seeds: seeds, k: k, candidates: unique, vectors: vectors, configuration: configuration)
    }

    /// An ad-hoc summary (item −1) of an explicit list of seed users: built like an item's, without
    /// the cold-start gate; nil when none of them has a vector.
    public static func summary(
        seedUsers: [Int32], vectors: some UserVectors, configuration: LookalikeConfiguration,
        builtAt: EventTime = EventTime(millis: 0)
    ) -> SeedSummary? {
        SeedSummaryBuilder(configuration: configuration).build(
            item: -1, users: seedUsers, seedCount: seedUsers.count, vectors: vectors, builtAt: builtAt,
            minimumVectors: 1)
    }
}

/// The best k scored users seen: a min-heap whose root is the worst kept.
struct TopUsers {
    let k: Int
    private var heap: [ScoredUser] = []

    init(k: Int) {
        self.k = k
        heap.reserveCapacity(min(k, 1 << 16))
    }

    /// Whether `a` ranks before `b`: higher score, then smaller user.
    @inline(__always) static func precedes(_ a: ScoredUser, _ b: ScoredUser) -> Bool {
        a.score != b.score ? a.score > b.score : a.user < b.user
    }

    mutating func offer(_ candidate: ScoredUser) {
        if heap.count < k {
            heap.append(candidate)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard Self.precedes(heap[parent], heap[i]) else { break }
                heap.swapAt(parent, i)
                i = parent
            }
        } else if Self.precedes(candidate, heap[0]) {
            heap[0] = candidate
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var worst = i
                if l < heap.count && Self.precedes(heap[worst], heap[l]) { worst = l }
                if r < heap.count && Self.precedes(heap[worst], heap[r]) { worst = r }
                if worst == i { break }
                heap.swapAt(i, worst)
                i = worst
            }
        }
    }

    func sorted() -> [ScoredUser] { heap.sorted(by: Self.precedes) }
}
