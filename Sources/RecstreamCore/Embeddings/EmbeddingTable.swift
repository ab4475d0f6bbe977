/// The vectors of one side (users or items), keyed by the instance's dense indices, with what the
/// id policy needs: every id's engagement count and last engagement time, and for ids with their
/// own vector the vector and its Adagrad accumulator.
///
/// Layout: three arrays indexed by id (row, count, last seen: 16 bytes per id up to the largest id
/// seen) and, per row, the owner id and 2 · d floats (vector and accumulator) in `SIMD8<Float>`
/// chunks: 4 + 8d bytes, 260 bytes at d = 32. Eviction compacts the rows.
public struct EmbeddingTable: Sendable, Equatable {
    public let dimension: Int
    let chunks: Int
    /// Per id: its row, or −1.
    var rowOf: [Int32] = []
    /// Per id: engagements counted (see docs/embeddings.md: recounted over the window by a full
    /// refresh, increased by an incremental update).
    var engagementCounts: [UInt32] = []
    /// Per id: the latest engagement time in milliseconds, or ``never``.
    var lastSeenMillis: [Int64] = []
    /// Per row: the id it belongs to.
    var owners: [Int32] = []
    var vectors: [SIMD8<Float>] = []
    var accumulators: [SIMD8<Float>] = []

    static let never = Int64.min

    public init(dimension: Int) {
        precondition(dimension > 0 && dimension % 8 == 0, "dimension \(dimension) is not a positive multiple of 8")
        self.dimension = dimension
        chunks = dimension / 8
    }

    /// Ids 0..<idLimit have an entry (possibly empty).
    public var idLimit: Int { rowOf.count }
    /// Ids with their own vector.
    public var vectorCount: Int { owners.count }
    /// The ids with their own vector, ascending.
    public var idsWithVectors: [Int32] { owners.sorted() }

    @inline(__always) func row(_ id: Int32) -> Int {
        id >= 0 && Int(id) < rowOf.count ? Int(rowOf[Int(id)]) : -1
    }

    public func hasVector(_ id: Int32) -> Bool { row(id) >= 0 }

    /// The raw (not normalised) vector of `id`, or nil.
    public func vector(_ id: Int32) -> [Float]? {
        let r = row(id)
        return r < 0 ? nil : VectorMath.floats(vectors, r * chunks, chunks: chunks)
    }

    /// The unit vector of `id`, or nil.
    public func unitVector(_ id: Int32) -> [Float]? {
        let r = row(id)
        guard r >= 0 else { return nil }
        let inv = VectorMath.inverseNorm(vectors, r * chunks, chunks: chunks)
        return VectorMath.floats(vectors, r * chunks, chunks: chunks).map { $0 * inv }
    }

    /// The Adagrad accumulator of `id`, or nil.
    public func accumulator(_ id: Int32) -> [Float]? {
        let r = row(id)
        return r < 0 ? nil : VectorMath.floats(accumulators, r * chunks, chunks: chunks)
    }

    /// Engagements counted for `id`.
    public func engagements(_ id: Int32) -> Int {
        id >= 0 && Int(id) < engagementCounts.count ? Int(engagementCounts[Int(id)]) : 0
    }

    /// The latest engagement of `id`, or nil when unseen (or evicted).
    public func lastSeen(_ id: Int32) -> EventTime? {
        guard id >= 0 && Int(id) < lastSeenMillis.count else { return nil }
        let t = lastSeenMillis[Int(id)]
        return t == Self.never ? nil : EventTime(millis: t)
    }

    /// Bytes held (arrays' element storage).
    public var approximateBytes: Int {
        rowOf.count * 16 + owners.count * 4 + (vectors.count + accumulators.count) * 32
    }

    /// Makes `id` addressable.
    mutating func ensure(_ id: Int32) {
        precondition(id >= 0, "negative index \(id)")
        let needed = Int(id) + 1
        if needed > rowOf.count {
            let extra = needed - rowOf.count
            rowOf.append(contentsOf: repeatElement(-1, count: extra))
            engagementCounts.append(contentsOf: repeatElement(0, count: extra))
            lastSeenMillis.append(contentsOf: repeatElement(Self.never, count: extra))
        }
    }

    /// Records an engagement of `id` at `millis`.
    @inline(__always) mutating func count(_ id: Int32, at millis: Int64) {
        ensure(id)
        let i = Int(id)
        engagementCounts[i] = engagementCounts[i] &+ 1 == 0 ? UInt32.max : engagementCounts[i] + 1
        if millis > lastSeenMillis[i] { lastSeenMillis[i] = millis }
    }

    /// Gives `id` its own vector: uniform in [−√(3/d), √(3/d)] per coordinate (so |x| ≈ 1), drawn
    /// from a generator seeded by (seed, salt, id) so that it does not depend on the order ids
    /// arrive in; the accumulator starts at `initialAccumulator`.
    mutating func addRow(_ id: Int32, seed: UInt64, salt: UInt64, initialAccumulator: Float) {
        ensure(id)
        precondition(rowOf[Int(id)] < 0, "id \(id) already has a row")
        rowOf[Int(id)] = Int32(owners.count)
        owners.append(id)
        var random = Xoshiro256StarStar(seed: SplitMix64.mix(seed ^ salt ^ SplitMix64.mix(UInt64(id))))
        let a = (3 / Double(dimension)).squareRoot()
        for _ in 0..<chunks {
            var v = SIMD8<Float>()
            for j in 0..<8 { v[j] = Float((2 * random.unitInterval() - 1) * a) }
            vectors.append(v)
            accumulators.append(SIMD8<Float>(repeating: initialAccumulator))
        }
    }

    /// Sets the raw vector of `id` (which must have a row); for tests and tools.
    public mutating func setVector(_ id: Int32, _ values: [Float]) {
        let r = row(id)
        precondition(r >= 0 && values.count == dimension, "setVector(\(id)) without a row or of the wrong size")
        let v = VectorMath.chunked(values)
        for k in 0..<chunks { vectors[r * chunks + k] = v[k] }
    }

    /// Forgets every id whose latest engagement is at or before `cutoffMillis`: its row (compacted
    /// away), its count and its time. Returns the ids that had a vector or a count, ascending.
    mutating func evict(seenAtOrBefore cutoffMillis: Int64) -> [Int32] {
        var evicted: [Int32] = []
        for i in 0..<rowOf.count where lastSeenMillis[i] != Self.never && lastSeenMillis[i] <= cutoffMillis {
            evicted.append(Int32(i))
            engagementCounts[i] = 0
            lastSeenMillis[i] = Self.never
            rowOf[i] = -1
        }
        guard !evicted.isEmpty else { return [] }
        // Compact the rows of the ids that keep one, in row order.
        var newOwners: [Int32] = []
        var newVectors: [SIMD8<Float>] = []
        var newAccumulators: [SIMD8<Float>] = []
        newOwners.reserveCapacity(owners.count)
        for (r, id) in owners.enumerated() where rowOf[Int(id)] >= 0 {
            rowOf[Int(id)] = Int32(newOwners.count)
            newOwners.append(id)
            for k in 0..<chunks {
                newVectors.append(vectors[r * chunks + k])
                newAccumulators.append(accumulators[r * chunks + k])
            }
        }
        owners = newOwners
        vectors = newVectors
        accumulators = newAccumulators
        return evicted
    }
}

extension EmbeddingTable {
    /// One Adagrad step on `row` with the gradient at `offset` of `gradient`.
    @inline(__always)
    mutating func adagradStep(
        row: Int, gradient: [SIMD8<Float>], offset: Int, learningRate: Float, epsilon: Float
    ) {
        let o = row * chunks
        for k in 0..<chunks {
            Adagrad.step(
                &vectors[o + k], &accumulators[o + k], gradient: gradient[offset + k], learningRate: learningRate,
                epsilon: epsilon)
        }
    }
}
