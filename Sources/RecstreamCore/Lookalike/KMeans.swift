/// The outcome of ``KMeans/cluster(points:count:dimension:k:maxIterations:seed:)``.
public struct KMeansResult: Sendable, Hashable {
    /// d, the length of every point and centre.
    public var dimension: Int
    /// The centres, row-major (``clusterCount`` × d), each of unit length.
    public var centres: [Float]
    /// The number of points in each cluster (all >= 1; they sum to the point count).
    public var sizes: [Int]
    /// The cluster of each point.
    public var assignments: [Int]
    /// Lloyd iterations run (assignment passes after the k-means++ one).
    public var iterations: Int
    /// Whether the last iteration moved no point.
    public var converged: Bool

    public var clusterCount: Int { sizes.count }
}

/// Spherical k-means (Dhillon & Modha 2001) on unit vectors: a point belongs to the centre of
/// largest cosine, and a centre is the normalised sum of its points. Seeded by k-means++ (Arthur &
/// Vassilvitskii 2007) with the chordal distance D(x, c)² = ‖x − c‖² = 2 − 2 x·c, from a SplitMix64
/// stream of `seed`, so the result is a pure function of the points, k and the seed.
///
/// - k-means++: the first centre is a uniform draw; each next one is point x with probability
///   D(x)² / Σ D², D(x) the distance to the nearest centre chosen so far. When every point
///   coincides with a chosen centre (fewer than k distinct points) seeding stops early: there are
///   fewer clusters.
/// - Lloyd: assign (ties to the lower cluster), recompute centres, until no point moves or
///   `maxIterations`; the returned centres are those of the returned assignment.
/// - Empty clusters: a cluster left without points takes the point farthest from its own centre
///   (lowest cosine; ties to the lower index) among clusters of two or more points.
///
/// Cost: (iterations + 1) · n · k · d multiply-adds and O(n · k + k · d) memory.
public enum KMeans {
    /// Clusters `count` unit vectors of length `dimension`, stored row-major in `points`, into at
    /// most `k` clusters.
    /// - Important: Traps unless `points.count == count · dimension`, `count >= 1` and `k >= 1`.
    public static func cluster(
        points: [Float], count n: Int, dimension d: Int, k: Int, maxIterations: Int, seed: UInt64
    ) -> KMeansResult {
        precondition(n >= 1 && d >= 1 && k >= 1, "k-means of \(n) points of dimension \(d) into \(k)")
        precondition(points.count == n * d, "\(points.count) values for \(n) points of dimension \(d)")
        var random = SplitMix64(seed: seed)
        var centres = seedCentres(points: points, count: n, dimension: d, k: min(k, n), random: &random)
        let clusters = centres.count / d
        var assignments = [Int](repeating: 0, count: n)
        var similarities = [Float](repeating: 0, count: n)
        var sizes = [Int](repeating: 0, count: clusters)
        assign(points, n, d, centres, clusters, &assignments, &similarities, &sizes)
        var iterations = 0
        var converged = false
        var changed = true
        while iterations < maxIterations {
            fillEmptyClusters(&assignments, &similarities, &sizes, points, d, &centres)
            updateCentres(points, n, d, assignments, clusters, &centres)
            let moved = assign(points, n, d, centres, clusters, &assignments, &similarities, &sizes)
            iterations += 1
            changed = moved > 0
            if !changed {
                converged = true
                break
            }
        }
        if changed || sizes.contains(0) {
            fillEmptyClusters(&assignments, &similarities, &sizes, points, d, &centres)
            updateCentres(points, n, d, assignments, clusters, &centres)
        }
        return KMeansResult(
            dimension: d, centres: centres, sizes: sizes, assignments: assignments, iterations: iterations,
            converged: converged)
    }

    /// k-means++ seeding; returns the chosen points as centres (fewer than k when the points run out
    /// of distinct positions).
    static func seedCentres(
        points: [Float], count n: Int, dimension d: Int, k: Int, random: inout SplitMix64
    ) -> [Float] {
        var centres: [Float] = []
        centres.reserveCapacity(k * d)
        var nearest = [Double](repeating: .infinity, count: n)
        var chosen = Int(random.next() % UInt64(n))
        for c in 0..<k {
            for j in 0..<d { centres.append(points[chosen * d + j]) }
            guard c + 1 < k else { break }
            var total = 0.0
            for x in 0..<n {
                var distance2 = 2 - 2 * Double(DenseVectorMath.dot(points, x * d, centres, c * d, count: d))
                // Single-precision rounding leaves about 1e-7 between coincident unit vectors.
                if distance2 < 1e-6 { distance2 = 0 }
                if distance2 < nearest[x] { nearest[x] = distance2 }
                total += nearest[x]
            }
            // Every point sits on a chosen centre: fewer distinct points than k.
            guard total > 0 else { break }
            let target = Double(random.next() >> 11) * 0x1p-53 * total
            var running = 0.0
            chosen = -1
            for x in 0..<n where nearest[x] > 0 {
                running += nearest[x]
                chosen = x
                if running > target { break }
            }
        }
        return centres
    }

    /// Assigns each point to the centre of largest dot product; returns how many points moved.
    @discardableResult
    static func assign(
        _ points: [Float], _ n: Int, _ d: Int, _ centres: [Float], _ clusters: Int,
        _ assignments: inout [Int], _ similarities: inout [Float], _ sizes: inout [Int]
    ) -> Int {
        var moved = 0
        for c in 0..<clusters { sizes[c] = 0 }
        for x in 0..<n {
            var best = 0
            var bestSimilarity = -Float.infinity
            for c in 0..<clusters {
                let s = DenseVectorMath.dot(points, x * d, centres, c * d, count: d)
                if s > bestSimilarity {
                    bestSimilarity = s
                    best = c
                }
            }
            if assignments[x] != best { moved += 1 }
            assignments[x] = best
            similarities[x] = bestSimilarity
            sizes[best] += 1
        }
        return moved
    }

    /// Gives each empty cluster the point farthest from its centre among clusters of two or more.
    static func fillEmptyClusters(
        _ assignments: inout [Int], _ similarities: inout [Float], _ sizes: inout [Int], _ points: [Float], _ d: Int,
        _ centres: inout [Float]
    ) {
        for empty in sizes.indices where sizes[empty] == 0 {
            var far = -1
            var farSimilarity = Float.infinity
            for x in assignments.indices where sizes[assignments[x]] >= 2 && similarities[x] < farSimilarity {
                far = x
                farSimilarity = similarities[x]
            }
            guard far >= 0 else { continue }
            sizes[assignments[far]] -= 1
            assignments[far] = empty
            sizes[empty] = 1
            similarities[far] = 1
            for j in 0..<d { centres[empty * d + j] = points[far * d + j] }
        }
    }

    /// Each centre becomes the normalised sum of its points (kept as it is when that sum is 0).
    static func updateCentres(
        _ points: [Float], _ n: Int, _ d: Int, _ assignments: [Int], _ clusters: Int, _ centres: inout [Float]
    ) {
        var sums = [Float](repeating: 0, count: clusters * d)
        for x in 0..<n {
            let base = assignments[x] * d
            for j in 0..<d { sums[base + j] += points[x * d + j] }
        }
        for c in 0..<clusters {
            if DenseVectorMath.normalize(&sums, start: c * d, count: d) {
                for j in 0..<d { centres[c * d + j] = sums[c * d + j] }
            }
        }
    }
}
