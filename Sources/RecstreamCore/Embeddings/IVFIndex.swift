/// An inverted-file index over unit item vectors for cosine nearest-neighbour search (Jégou,
/// Douze & Schmid 2011; FAISS's `IndexIVFFlat` with inner product on normalised vectors):
///
/// - spherical k-means (``KMeans``, shared with the look-alike clusters: cosine assignment, centroid =
///   normalised mean) splits the unit sphere into `lists` regions; k-means++ seeding (Arthur & Vassilvitskii 2007) with the configured
///   seed, then ``EmbeddingConfiguration/kMeansIterations`` Lloyd iterations, fitted on a
///   deterministic sample of at most ``EmbeddingConfiguration/kMeansPointsPerList`` points per list;
/// - every item goes to the list of its most similar centroid; each list stores its items' ids and
///   unit vectors contiguously;
/// - a query scores the centroids, scans the `probes` best lists and keeps the top k.
///
/// Exact when `probes == lists`. Cost of a query: lists + (items in the probed lists) dot
/// products of d floats, against every item for ``bruteForce(_:k:excluding:)``. Build: the sample
/// × lists × d × (iterations + 1) plus items × lists × d for the assignment. Memory: the items'
/// vectors again (4d + 4 bytes per item) plus the centroids; an index stored in a format-2 model
/// file (``EmbeddingModel/encode(index:)``) is read in place instead: only the centroids and the
/// list starts are in the heap.
public struct IVFIndex: Sendable {
    public let dimension: Int
    let chunks: Int
    /// Unit centroids, lists × chunks.
    let centroids: [SIMD8<Float>]
    /// CSR: list l holds entries listStarts[l] ..< listStarts[l + 1].
    let listStarts: [Int]
    let entries: Entries
    public let defaultProbes: Int

    /// The lists' entries, in list order: item ids and unit vectors.
    enum Entries: Sendable {
        case heap(items: [Int32], vectors: [SIMD8<Float>])
        case mapped(MappedItemIndex)
    }

    public var listCount: Int { listStarts.count - 1 }
    public var itemCount: Int { listStarts.last ?? 0 }

    /// Whether the entries are read in place from a model file.
    public var isMapped: Bool {
        if case .mapped = entries { return true }
        return false
    }

    /// Bytes held in the heap: the centroids and list starts, plus the entries (4 + 4d per item)
    /// unless they are read in place.
    public var approximateBytes: Int {
        let entryBytes: Int
        switch entries {
        case .heap(let items, let vectors): entryBytes = items.count * 4 + vectors.count * 32
        case .mapped: entryBytes = 0
        }
        return centroids.count * 32 + listStarts.count * 8 + entryBytes
    }

    /// Sizes of the lists, for reports.
    public var listSizes: [Int] { (0..<listCount).map { listStarts[$0 + 1] - listStarts[$0] } }

    /// The item of entry `e`.
    func item(_ e: Int) -> Int32 {
        switch entries {
        case .heap(let items, _): items[e]
        case .mapped(let m): m.item(e)
        }
    }

    /// The unit vector of entry `e`, as chunks.
    func entryChunks(_ e: Int) -> [SIMD8<Float>] {
        switch entries {
        case .heap(_, let vectors): Array(vectors[(e * chunks)..<((e + 1) * chunks)])
        case .mapped(let m): m.bytes.chunks(at: m.vectorOffset(e), count: chunks)
        }
    }

    /// The index of every item of `table` with a vector, with the lists, probes and k-means
    /// settings of `configuration`.
    public init(items table: EmbeddingTable, configuration: EmbeddingConfiguration) {
        let ids = table.idsWithVectors
        self.init(ids: ids, unitVectors: table.unitChunks(ids), dimension: table.dimension, configuration: configuration)
    }

    /// The index of `ids` with unit vectors `vectors` (one row of d floats each); for tests and tools.
    public init(ids: [Int32], vectors: [[Float]], configuration: EmbeddingConfiguration) {
        let d = configuration.dimension
        precondition(vectors.count == ids.count && vectors.allSatisfy { $0.count == d }, "vectors do not match")
        var unit: [SIMD8<Float>] = []
        let c = d / 8
        for v in vectors {
            let chunked = VectorMath.chunked(v)
            let inv = SIMD8<Float>(repeating: VectorMath.inverseNorm(chunked, 0, chunks: c))
            for k in 0..<c { unit.append(chunked[k] * inv) }
        }
        self.init(ids: ids, unitVectors: unit, dimension: d, configuration: configuration)
    }

    init(ids: [Int32], unitVectors: [SIMD8<Float>], dimension: Int, configuration: EmbeddingConfiguration) {
        let c = dimension / 8
        self.dimension = dimension
        chunks = c
        defaultProbes = configuration.ivfProbes
        let n = ids.count
        let lists = configuration.listCount(items: n)
        let centroids = RegionKMeans.fit(
            unitVectors, count: n, chunks: c, clusters: lists, iterations: configuration.kMeansIterations,
            pointsPerCluster: configuration.kMeansPointsPerList, seed: configuration.seed)
        let k = centroids.count / c
        var assignment = [Int32](repeating: 0, count: n)
        var sizes = [Int](repeating: 0, count: k + 1)
        for i in 0..<n {
            let a = RegionKMeans.nearest(unitVectors, i * c, centroids, clusters: k, chunks: c)
            assignment[i] = Int32(a)
            sizes[a + 1] += 1
        }
        for l in 0..<k { sizes[l + 1] += sizes[l] }
        var fill = sizes
        var items = [Int32](repeating: 0, count: n)
        var vectors = [SIMD8<Float>](repeating: SIMD8<Float>(), count: n * c)
        for i in 0..<n {
            let l = Int(assignment[i])
            let at = fill[l]
            fill[l] += 1
            items[at] = ids[i]
            for j in 0..<c { vectors[at * c + j] = unitVectors[i * c + j] }
        }
        self.centroids = centroids
        listStarts = sizes
        entries = .heap(items: items, vectors: vectors)
    }

    /// The index stored in a model file, read in place.
    init(stored: MappedItemIndex, dimension: Int, configuration: EmbeddingConfiguration) {
        self.dimension = dimension
        chunks = dimension / 8
        defaultProbes = configuration.ivfProbes
        centroids = stored.centroids
        listStarts = stored.listStarts
        entries = .mapped(stored)
    }

    /// The top `k` items by cosine with `query` (any non-zero vector of d floats) among the
    /// `probes` lists whose centroids are most similar to it (default ``defaultProbes``), skipping
    /// every item for which `excluded` is true. Best first, ties by smaller id.
    public func search(
        _ query: [Float], k: Int, probes: Int? = nil, excluding excluded: (Int32) -> Bool = { _ in false }
    ) -> [ScoredItem] {
        let q = unitQuery(query)
        let nprobe = min(max(probes ?? defaultProbes, 1), listCount)
        var best = TopScores(k: nprobe)
        for l in 0..<listCount {
            best.offer(VectorMath.dot(q, 0, centroids, l * chunks, chunks: chunks), Int32(l))
        }
        var top = TopScores(k: k)
        for l in best.items {
            scan(list: Int(l), q, into: &top, excluding: excluded)
        }
        return top.sorted()
    }

    /// The exact top `k` over every item (what ``search(_:k:probes:excluding:)`` approximates).
    public func bruteForce(_ query: [Float], k: Int, excluding excluded: (Int32) -> Bool = { _ in false })
        -> [ScoredItem]
    {
        let q = unitQuery(query)
        var top = TopScores(k: k)
        for l in 0..<listCount { scan(list: l, q, into: &top, excluding: excluded) }
        return top.sorted()
    }

    @inline(__always)
    private func scan(list l: Int, _ q: [SIMD8<Float>], into top: inout TopScores, excluding excluded: (Int32) -> Bool) {
        switch entries {
        case .heap(let listItems, let listVectors):
            for e in listStarts[l]..<listStarts[l + 1] {
                let s = VectorMath.dot(q, 0, listVectors, e * chunks, chunks: chunks)
                if s >= top.threshold && !excluded(listItems[e]) { top.offer(s, listItems[e]) }
            }
        case .mapped(let m):
            for e in listStarts[l]..<listStarts[l + 1] {
                let s = m.bytes.dot(q, 0, at: m.vectorOffset(e), chunks: chunks)
                if s >= top.threshold {
                    let item = m.item(e)
                    if !excluded(item) { top.offer(s, item) }
                }
            }
        }
    }

    private func unitQuery(_ query: [Float]) -> [SIMD8<Float>] {
        precondition(query.count == dimension, "query of \(query.count) floats for dimension \(dimension)")
        let q = VectorMath.chunked(query)
        let inv = SIMD8<Float>(repeating: VectorMath.inverseNorm(q, 0, chunks: chunks))
        return q.map { $0 * inv }
    }
}

/// The IVF regions: the project's one spherical k-means (``KMeans``, k-means++ seeding and Lloyd
/// iterations, shared with the look-alike clusters) fitted on a deterministic sample, and the
/// nearest-region lookup for rows of `chunks` SIMD8 chunks.
enum RegionKMeans {
    /// `clusters` unit centroids (fewer when there are fewer distinct points), fitted on a
    /// deterministic sample of at most `clusters × pointsPerCluster` points.
    static func fit(
        _ x: [SIMD8<Float>], count n: Int, chunks c: Int, clusters wanted: Int, iterations: Int, pointsPerCluster: Int,
        seed: UInt64
    ) -> [SIMD8<Float>] {
        guard n > 0 else { return [SIMD8<Float>](repeating: SIMD8<Float>(), count: c) }
        let k = min(wanted, n)
        var random = Xoshiro256StarStar(seed: SplitMix64.mix(seed ^ 0x1F_F1DE_C5))
        // The sample: a partial Fisher–Yates over the point indices.
        let sampleSize = min(n, k * pointsPerCluster)
        var indices = Array(0..<n)
        if sampleSize < n {
            for i in 0..<sampleSize {
                let j = i + Int(random.below(UInt64(n - i)))
                indices.swapAt(i, j)
            }
            indices.removeLast(n - sampleSize)
            indices.sort()
        }
        let d = c * 8
        var sample: [Float] = []
        sample.reserveCapacity(sampleSize * d)
        for i in indices { for j in 0..<c { for l in 0..<8 { sample.append(x[i * c + j][l]) } } }
        let result = KMeans.cluster(
            points: sample, count: sampleSize, dimension: d, k: k, maxIterations: iterations,
            seed: SplitMix64.mix(seed ^ 0x1F_F1DE_C5 ^ 0x5EED))
        return VectorMath.chunked(result.centres)
    }

    @inline(__always)
    static func nearest(_ x: [SIMD8<Float>], _ o: Int, _ centroids: [SIMD8<Float>], clusters k: Int, chunks c: Int) -> Int {
        nearestWithScore(x, o, centroids, clusters: k, chunks: c).0
    }

    @inline(__always)
    static func nearestWithScore(
        _ x: [SIMD8<Float>], _ o: Int, _ centroids: [SIMD8<Float>], clusters k: Int, chunks c: Int
    ) -> (Int, Float) {
        var best = 0
        var bestScore = -Float.infinity
        for l in 0..<k {
            let s = VectorMath.dot(x, o, centroids, l * c, chunks: c)
            if s > bestScore {
                bestScore = s
                best = l
            }
        }
        return (best, bestScore)
    }
}
