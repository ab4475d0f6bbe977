/// The vectors of one side (users or items), keyed by the instance's dense indices, with what the
/// id policy needs: every id's engagement count and last engagement time, and for ids with their
/// own vector the vector and its Adagrad accumulator.
///
/// Two storages behind one read API:
/// - in the heap (training, models decoded from format 1): three arrays indexed by id (row, count,
///   last seen: 16 bytes per id up to the largest id seen) and, per row, the owner id and 2 · d
///   floats (vector and accumulator) in `SIMD8<Float>` chunks: 4 + 8d bytes, 260 bytes at d = 32.
///   Eviction compacts the rows.
/// - read in place from a format-2 model file (``EmbeddingModel/open(_:verifiesChecksum:)``): the
///   same columns in the file, nothing per id in the heap. Read-only: training starts from
///   ``EmbeddingModel/materialized()``, a heap copy.
///
/// Equality compares content by id (counts, times, vectors, accumulators), whatever the storage
/// and the order of the rows.
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
    /// Set when the table is read in place; the arrays above are then empty.
    private(set) var mapped: MappedEmbeddingTable? = nil

    static let never = Int64.min

    public init(dimension: Int) {
        precondition(dimension > 0 && dimension % 8 == 0, "dimension \(dimension) is not a positive multiple of 8")
        self.dimension = dimension
        chunks = dimension / 8
    }

    /// A table read in place.
    init(mapped: MappedEmbeddingTable, dimension: Int) {
        self.init(dimension: dimension)
        self.mapped = mapped
    }

    /// Whether the table is read in place from a model file rather than held in the heap.
    public var isMapped: Bool { mapped != nil }

    /// Ids 0..<idLimit have an entry (possibly empty).
    public var idLimit: Int { mapped?.idLimit ?? rowOf.count }
    /// Ids with their own vector.
    public var vectorCount: Int { mapped?.rowCount ?? owners.count }
    /// The ids with their own vector, ascending.
    public var idsWithVectors: [Int32] {
        if let m = mapped { return (0..<m.rowCount).map { m.owner(row: $0) } }
        return owners.sorted()
    }

    @inline(__always) func row(_ id: Int32) -> Int {
        if let m = mapped { return m.row(id) }
        return id >= 0 && Int(id) < rowOf.count ? Int(rowOf[Int(id)]) : -1
    }

    public func hasVector(_ id: Int32) -> Bool { row(id) >= 0 }

    /// The chunks of row `r` (a copy from the file when mapped).
    func vectorChunks(row r: Int) -> [SIMD8<Float>] {
        if let m = mapped { return m.vectorChunks(row: r) }
        return Array(vectors[(r * chunks)..<((r + 1) * chunks)])
    }

    /// The raw (not normalised) vector of `id`, or nil.
    public func vector(_ id: Int32) -> [Float]? {
        let r = row(id)
        guard r >= 0 else { return nil }
        if let m = mapped { return VectorMath.floats(m.vectorChunks(row: r), 0, chunks: chunks) }
        return VectorMath.floats(vectors, r * chunks, chunks: chunks)
    }

    /// The unit vector of `id`, or nil.
    public func unitVector(_ id: Int32) -> [Float]? {
        let r = row(id)
        guard r >= 0 else { return nil }
        if let m = mapped {
            let v = m.vectorChunks(row: r)
            let inv = VectorMath.inverseNorm(v, 0, chunks: chunks)
            return VectorMath.floats(v, 0, chunks: chunks).map { $0 * inv }
        }
        let inv = VectorMath.inverseNorm(vectors, r * chunks, chunks: chunks)
        return VectorMath.floats(vectors, r * chunks, chunks: chunks).map { $0 * inv }
    }

    /// The unit vectors of `ids` (each with a row), one row of chunks after another: what an
    /// ``IVFIndex`` is built from.
    func unitChunks(_ ids: [Int32]) -> [SIMD8<Float>] {
        var unit: [SIMD8<Float>] = []
        unit.reserveCapacity(ids.count * chunks)
        for id in ids {
            let r = row(id)
            precondition(r >= 0, "id \(id) has no vector")
            let v = vectorChunks(row: r)
            let inv = SIMD8<Float>(repeating: VectorMath.inverseNorm(v, 0, chunks: chunks))
            for k in 0..<chunks { unit.append(v[k] * inv) }
        }
        return unit
    }

    /// Replaces the contents of `buffer` with the raw vector of `id`; false (buffer untouched)
    /// when it has none. No allocation once `buffer` has the capacity.
    public func copyVector(_ id: Int32, into buffer: inout [Float]) -> Bool {
        let r = row(id)
        guard r >= 0 else { return false }
        buffer.removeAll(keepingCapacity: true)
        for k in 0..<chunks {
            let v = mapped.map { $0.bytes.chunk(at: $0.vectorOffset(row: r) + 32 * k) } ?? vectors[r * chunks + k]
            for j in 0..<8 { buffer.append(v[j]) }
        }
        return true
    }

    /// The Adagrad accumulator of `id`, or nil.
    public func accumulator(_ id: Int32) -> [Float]? {
        let r = row(id)
        guard r >= 0 else { return nil }
        if let m = mapped { return VectorMath.floats(m.accumulatorChunks(row: r), 0, chunks: chunks) }
        return VectorMath.floats(accumulators, r * chunks, chunks: chunks)
    }

    /// Engagements counted for `id`.
    public func engagements(_ id: Int32) -> Int {
        guard id >= 0 && Int(id) < idLimit else { return 0 }
        if let m = mapped { return Int(m.count(Int(id))) }
        return Int(engagementCounts[Int(id)])
    }

    /// The latest engagement of `id`, or nil when unseen (or evicted).
    public func lastSeen(_ id: Int32) -> EventTime? {
        guard id >= 0 && Int(id) < idLimit else { return nil }
        let t = mapped.map { $0.lastSeenMillis(Int(id)) } ?? lastSeenMillis[Int(id)]
        return t == Self.never ? nil : EventTime(millis: t)
    }

    /// Bytes held in the heap (arrays' element storage); 0 for a table read in place.
    public var approximateBytes: Int {
        rowOf.count * 16 + owners.count * 4 + (vectors.count + accumulators.count) * 32
    }

    /// The same content in the heap, rows in ascending id order (as format 1's decoder and format
    /// 2's writer order them); `self` when already in the heap. Cost: O(ids + rows · d), the
    /// heap table's bytes.
    public func materialized() -> EmbeddingTable {
        guard let m = mapped else { return self }
        var t = EmbeddingTable(dimension: dimension)
        t.rowOf.reserveCapacity(m.idLimit)
        t.engagementCounts.reserveCapacity(m.idLimit)
        t.lastSeenMillis.reserveCapacity(m.idLimit)
        for id in 0..<m.idLimit {
            t.rowOf.append(Int32(m.row(Int32(id))))
            t.engagementCounts.append(m.count(id))
            t.lastSeenMillis.append(m.lastSeenMillis(id))
        }
        t.owners.reserveCapacity(m.rowCount)
        t.vectors.reserveCapacity(m.rowCount * chunks)
        t.accumulators.reserveCapacity(m.rowCount * chunks)
        for r in 0..<m.rowCount {
            t.owners.append(m.owner(row: r))
            t.vectors.append(contentsOf: m.vectorChunks(row: r))
            t.accumulators.append(contentsOf: m.accumulatorChunks(row: r))
        }
        return t
    }

    public static func == (a: EmbeddingTable, b: EmbeddingTable) -> Bool {
        guard a.dimension == b.dimension, a.idLimit == b.idLimit, a.vectorCount == b.vectorCount else { return false }
        for i in 0..<Int32(a.idLimit) {
            guard a.engagements(i) == b.engagements(i), a.lastSeen(i) == b.lastSeen(i),
                a.vector(i) == b.vector(i), a.accumulator(i) == b.accumulator(i)
            else { return false }
        }
        return true
    }

    /// Makes `id` addressable.
    mutating func ensure(_ id: Int32) {
        precondition(id >= 0, "negative index \(id)")
        precondition(mapped == nil, "a table read in place is read-only: train a materialized() copy")
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
        precondition(mapped == nil, "a table read in place is read-only: set vectors on a materialized() copy")
        let r = row(id)
        precondition(r >= 0 && values.count == dimension, "setVector(\(id)) without a row or of the wrong size")
        let v = VectorMath.chunked(values)
        for k in 0..<chunks { vectors[r * chunks + k] = v[k] }
    }

    /// Forgets every id whose latest engagement is at or before `cutoffMillis`: its row (compacted
    /// away), its count and its time. Returns the ids that had a vector or a count, ascending.
    mutating func evict(seenAtOrBefore cutoffMillis: Int64) -> [Int32] {
        precondition(mapped == nil, "a table read in place is read-only: evict from a materialized() copy")
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
