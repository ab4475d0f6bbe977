/// What the summary job precomputes for one item from its seeds' current vectors (RALM's seeds
/// representation): the global embedding, pooled by self-attention, and the k-means cluster centres
/// with their sizes, plus the derived tables the online score needs. Immutable.
///
/// - ``global``: g = normalise(Σ_i α_i ê_i), α = softmax(ê_i · m / τ_g), m = (1/n) Σ_j ê_j (see
///   ``SeedSummaryBuilder/selfAttentionPooling(points:count:dimension:temperature:)``).
/// - ``centres``: the spherical k-means centres μ_c (unit), with ``sizes`` n_c.
/// - derived, not persisted: the Gram matrix G_cc' = μ_c · μ_c' and g · μ_c, so the score needs
///   only the k user–centre dot products and O(k²) more work per item (docs/lookalike.md).
public struct SeedSummary: Sendable, Hashable {
    /// The item summarised; −1 for an ad-hoc list of seed users (audience expansion).
    public let item: Int32
    /// The version of the user vectors it was built from.
    public let modelVersion: UInt64
    /// The seed lists' watermark when its seeds were taken.
    public let builtAt: EventTime
    /// The item's seeds then.
    public let seedCount: Int
    /// The seeds that had a vector: the points summarised.
    public let vectorCount: Int
    /// d.
    public let dimension: Int
    /// n_c, seeds per cluster (each >= 1; they sum to ``vectorCount``).
    public let sizes: [Int32]

    /// Everything the score reads, in one array so that taking a summary costs one reference count:
    /// g (d) | μ_c (k·d) | G (k·k) | g · μ_c (k) | n_c as floats (k).
    let table: [Float]

    /// - Important: Traps when the shapes disagree (global of d values, centres of k·d, k sizes >= 1).
    public init(
        item: Int32, modelVersion: UInt64, builtAt: EventTime, seedCount: Int, vectorCount: Int, dimension: Int,
        global: [Float], centres: [Float], sizes: [Int32]
    ) {
        precondition(dimension >= 1 && global.count == dimension, "global of \(global.count) values, dimension \(dimension)")
        precondition(!sizes.isEmpty && centres.count == sizes.count * dimension, "\(centres.count) centre values for \(sizes.count) clusters")
        precondition(sizes.allSatisfy { $0 >= 1 }, "empty cluster in \(sizes)")
        self.item = item
        self.modelVersion = modelVersion
        self.builtAt = builtAt
        self.seedCount = seedCount
        self.vectorCount = vectorCount
        self.dimension = dimension
        self.sizes = sizes
        let k = sizes.count
        var gram = [Float](repeating: 0, count: k * k)
        var globalDots = [Float](repeating: 0, count: k)
        for a in 0..<k {
            globalDots[a] = DenseVectorMath.dot(global, 0, centres, a * dimension, count: dimension)
            for b in a..<k {
                let v = DenseVectorMath.dot(centres, a * dimension, centres, b * dimension, count: dimension)
                gram[a * k + b] = v
                gram[b * k + a] = v
            }
        }
        var table: [Float] = []
        table.reserveCapacity(dimension * (k + 1) + k * k + 2 * k)
        table.append(contentsOf: global)
        table.append(contentsOf: centres)
        table.append(contentsOf: gram)
        table.append(contentsOf: globalDots)
        table.append(contentsOf: sizes.map { Float($0) })
        self.table = table
    }

    /// g, unit length.
    public var global: [Float] { Array(table[0..<dimension]) }

    /// μ_c, row-major, ``clusterCount`` × d, each of unit length.
    public var centres: [Float] { Array(table[dimension..<(dimension * (clusterCount + 1))]) }

    /// Offsets into ``table``.
    @inline(__always) var centresOffset: Int { dimension }
    @inline(__always) var gramOffset: Int { dimension * (sizes.count + 1) }
    @inline(__always) var globalDotsOffset: Int { gramOffset + sizes.count * sizes.count }
    @inline(__always) var sizeWeightsOffset: Int { globalDotsOffset + sizes.count }

    /// k, the number of clusters.
    public var clusterCount: Int { sizes.count }

    /// Centre `c` as an array.
    public func centre(_ c: Int) -> [Float] { Array(table[((c + 1) * dimension)..<((c + 2) * dimension)]) }

    /// Approximate heap bytes held.
    public var approximateBytes: Int {
        (table.capacity + sizes.capacity) * 4 + 128
    }

    // MARK: Encoding

    static let formatVersion: UInt8 = 1

    /// Version (1), model version, built-at time (zig-zag), seed count, vector count, d, k (varints),
    /// then g (d floats), the centres (k·d floats), all little-endian IEEE-754 binary32, and the k
    /// sizes (varints). The item is the record's key.
    public func encode(into w: inout BinaryWriter) {
        w.append(Self.formatVersion)
        w.appendVarint(modelVersion)
        w.appendSignedVarint(builtAt.millis)
        w.appendVarint(UInt64(seedCount))
        w.appendVarint(UInt64(vectorCount))
        w.appendVarint(UInt64(dimension))
        w.appendVarint(UInt64(clusterCount))
        for v in table[0..<gramOffset] { w.appendLittleEndian(v.bitPattern) }
        for s in sizes { w.appendVarint(UInt64(s)) }
    }

    /// The encoded bytes.
    public var encoded: [UInt8] {
        var w = BinaryWriter(capacity: 32 + gramOffset * 4 + sizes.count * 2)
        encode(into: &w)
        return w.bytes
    }

    /// Decodes what ``encode(into:)`` wrote, for `item`.
    /// - Throws: ``StateDecodingError`` when the bytes are malformed.
    public static func decode(item: Int32, from r: inout BinaryReader) throws(StateDecodingError) -> SeedSummary {
        let version = try r.readByte()
        guard version == formatVersion else { throw StateDecodingError("seed summary version \(version)") }
        let model = try r.readVarint()
        let builtAt = try r.readSignedVarint()
        let seedCount = try r.readVarint()
        let vectorCount = try r.readVarint()
        let d = try r.readVarint()
        let k = try r.readVarint()
        guard seedCount <= UInt64(Int32.max), vectorCount <= seedCount else {
            throw StateDecodingError("seed summary of \(vectorCount) vectors out of \(seedCount) seeds")
        }
        guard d >= 1, d <= 65_536, k >= 1, k <= 1_000, (k + 1) * d * 4 <= UInt64(r.remaining) else {
            throw StateDecodingError("seed summary of dimension \(d) and \(k) clusters in \(r.remaining) bytes")
        }
        let dimension = Int(d)
        let clusters = Int(k)
        var global: [Float] = []
        global.reserveCapacity(dimension)
        for _ in 0..<dimension { global.append(Float(bitPattern: try r.readLittleEndianUInt32())) }
        var centres: [Float] = []
        centres.reserveCapacity(clusters * dimension)
        for _ in 0..<(clusters * dimension) { centres.append(Float(bitPattern: try r.readLittleEndianUInt32())) }
        var sizes: [Int32] = []
        var total: UInt64 = 0
        for _ in 0..<clusters {
            let s = try r.readVarint()
            guard s >= 1, s <= UInt64(Int32.max) else { throw StateDecodingError("seed cluster of \(s)") }
            total += s
            sizes.append(Int32(s))
        }
        guard total == vectorCount else { throw StateDecodingError("cluster sizes sum to \(total), not \(vectorCount)") }
        guard global.allSatisfy(\.isFinite), centres.allSatisfy(\.isFinite) else {
            throw StateDecodingError("seed summary with a non-finite value")
        }
        return SeedSummary(
            item: item, modelVersion: model, builtAt: EventTime(millis: builtAt), seedCount: Int(seedCount),
            vectorCount: Int(vectorCount), dimension: dimension, global: global, centres: centres, sizes: sizes)
    }
}

/// Builds ``SeedSummary`` values: the work of the periodic summary job, pure and thread-free, so the
/// runtime runs it outside the state lock on the seeds a ``SeedSummaryBatch`` copied.
///
/// Cost per item of n seed vectors of dimension d: n·d to normalise, 2·n·d for the self-attention
/// pooling, (iterations + 1)·n·k·d for k-means, k²·d for the Gram matrix.
public struct SeedSummaryBuilder: Sendable {
    public let configuration: LookalikeConfiguration

    /// - Important: Traps when ``LookalikeConfiguration/validate()`` reports a problem.
    public init(configuration: LookalikeConfiguration = .default) {
        let problems = configuration.validate()
        precondition(problems.isEmpty, "invalid LookalikeConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
    }

    /// The result of one task: a summary, or nil when the item is below the gate (its summary, if
    /// any, is to be removed).
    public struct Outcome: Sendable {
        public var item: Int32
        public var summary: SeedSummary?
    }

    /// Builds the summaries of every task in `batch` from `vectors`, in the batch's order.
    public func run(_ batch: SeedSummaryBatch, vectors: some UserVectors) -> [Outcome] {
        batch.tasks.map { task in
            Outcome(
                item: task.item,
                summary: task.users.count >= configuration.minimumSeeds
                    ? build(
                        item: task.item, users: task.users, seedCount: task.seedCount, vectors: vectors,
                        builtAt: batch.builtAt) : nil)
        }
    }

    /// The summary of `users`' vectors (users without a vector, or with a zero vector, are left
    /// out); nil when fewer than `minimumVectors` (default: the configuration's minimum seeds) remain.
    public func build(
        item: Int32, users: [Int32], seedCount: Int, vectors: some UserVectors, builtAt: EventTime,
        minimumVectors: Int? = nil
    ) -> SeedSummary? {
        let d = vectors.dimension
        var points: [Float] = []
        points.reserveCapacity(users.count * d)
        var buffer: [Float] = []
        buffer.reserveCapacity(d)
        var n = 0
        for user in users {
            guard vectors.copyVector(user: user, into: &buffer), buffer.count == d,
                DenseVectorMath.normalize(&buffer)
            else { continue }
            points.append(contentsOf: buffer)
            n += 1
        }
        guard n >= max(1, minimumVectors ?? configuration.minimumSeeds) else { return nil }
        return summarise(
            item: item, points: points, count: n, dimension: d, modelVersion: vectors.version, seedCount: seedCount,
            builtAt: builtAt)
    }

    /// The summary of `count` unit vectors (row-major in `points`).
    public func summarise(
        item: Int32, points: [Float], count n: Int, dimension d: Int, modelVersion: UInt64, seedCount: Int,
        builtAt: EventTime
    ) -> SeedSummary {
        let pooled = Self.selfAttentionPooling(
            points: points, count: n, dimension: d, temperature: configuration.globalTemperature)
        let clusters = KMeans.cluster(
            points: points, count: n, dimension: d, k: configuration.clusters,
            maxIterations: configuration.kMeansIterations,
            seed: configuration.kMeansSeed ^ SplitMix64.mix(UInt64(UInt32(bitPattern: item))))
        return SeedSummary(
            item: item, modelVersion: modelVersion, builtAt: builtAt, seedCount: seedCount, vectorCount: n,
            dimension: d, global: pooled.vector, centres: clusters.centres, sizes: clusters.sizes.map { Int32($0) })
    }

    /// Self-attention pooling of `count` unit vectors ê_1 … ê_n (row-major in `points`):
    ///
    ///     a_i = (1/n) Σ_j ê_i · ê_j = ê_i · m,     m = (1/n) Σ_j ê_j
    ///     α_i = exp(a_i / τ_g) / Σ_j exp(a_j / τ_g)
    ///     g   = Σ_i α_i ê_i / ‖Σ_i α_i ê_i‖
    ///
    /// a_i is the row mean of the seeds' self-attention logits ê_i · ê_j (scaled dot-product
    /// attention, Vaswani et al. 2017, with the seeds as queries and keys), so a seed weighs by how
    /// typical it is of the whole set; computing it through m costs O(n·d) instead of O(n²·d).
    /// RALM's global attention unit has the same shape with a learned projection,
    /// softmax(tanh(E_s^T W)); without training, τ_g is the one parameter. τ_g → ∞ gives the plain
    /// mean of the unit seeds. In Double, then rounded to Float.
    ///
    /// - Returns: g (unit; the first point when the weighted sum is 0) and the weights α.
    public static func selfAttentionPooling(
        points: [Float], count n: Int, dimension d: Int, temperature: Double
    ) -> (vector: [Float], weights: [Double]) {
        precondition(n >= 1 && points.count == n * d, "\(points.count) values for \(n) points of dimension \(d)")
        var mean = [Double](repeating: 0, count: d)
        for i in 0..<n {
            for j in 0..<d { mean[j] += Double(points[i * d + j]) }
        }
        for j in 0..<d { mean[j] /= Double(n) }
        var logits = [Double](repeating: 0, count: n)
        var largest = -Double.infinity
        for i in 0..<n {
            var a = 0.0
            for j in 0..<d { a += Double(points[i * d + j]) * mean[j] }
            logits[i] = a / temperature
            largest = max(largest, logits[i])
        }
        var total = 0.0
        for i in 0..<n {
            logits[i] = PortableMath.exp(logits[i] - largest)
            total += logits[i]
        }
        var pooled = [Double](repeating: 0, count: d)
        for i in 0..<n {
            logits[i] /= total
            for j in 0..<d { pooled[j] += logits[i] * Double(points[i * d + j]) }
        }
        var norm = 0.0
        for v in pooled { norm += v * v }
        norm = norm.squareRoot()
        guard norm > 1e-12 else { return (Array(points[0..<d]), logits) }
        return (pooled.map { Float($0 / norm) }, logits)
    }
}
