/// A scalable Bloom filter (Almeida, Baquero, Preguiça & Hutchison 2007, "Scalable Bloom Filters"):
/// a list of sub-filters that grows with the set, with a false-positive rate bounded at any size.
/// Items go into the newest sub-filter until it reaches its capacity; then a new one is added.
/// Sub-filter i is sized for error
///
///     P_i = P · (1 − r) · r^i        so that    Σ_i P_i ≤ P · (1 − r) / (1 − r) = P
///
/// by the union bound (P = ``Parameters/errorBound``, r = ``Parameters/tightening``). A lookup is
/// the OR of the sub-filters.
///
/// One generalization, measured to pay off: from sub-filter t = ``Parameters/laterTighteningFrom``
/// (2) on, the remaining budget P · r^t is spread with a second ratio r₂
/// (``Parameters/laterTightening``):
///
///     P_i = P · r^t · (1 − r₂) · r₂^(i−t)   for i ≥ t,    still Σ_i P_i = P(1 − r^t) + P·r^t = P.
///
/// A slice sized from its history rarely needs more than two sub-filters, and for those r = 0.5
/// is cheapest; a burst that ramps through a dozen sub-filters would pay about 1.44 bits per item
/// per step at r = 0.5, and r₂ = 0.8 cuts that to about 0.3. With r₂ = r this is Almeida's
/// schedule exactly.
///
/// Sub-filters: each is a ``BloomFilter`` or, where that is smaller for its capacity and error, a
/// ``FingerprintSet`` (see ``SubFilter/sized(capacity:errorRate:)``). Small Bloom filters with
/// double hashing need several times the textbook bits to keep their rate (see ``BloomFilter``),
/// and small exact fingerprint sets beat them below about a hundred items; they also grow with
/// the items stored instead of being allocated for a capacity.
///
/// Capacities: Almeida's schedule is c_i = c₀ · g^i (g = ``Parameters/growth``). This type takes an
/// optional capacity hint for each new sub-filter (``ExposureFilter`` passes an estimate of the
/// items still to come) and clamps it to [c₀ · g^(i−1), g · c_(i−1)]: never more than Almeida's
/// growth step, never so little that the number of sub-filters stops being logarithmic in the set
/// size. Without a hint the capacity is g · c_(i−1) (c₀ for the first), which is Almeida's
/// schedule. The error schedule, the part that gives the bound, is unchanged by hints.
///
/// An insert first checks every sub-filter and adds nothing if the item already answers true
/// (as RedisBloom does), so repeats cost no capacity.
///
/// Parameters are not stored: they govern only the sub-filters added next, so the owner passes
/// them in (a shard holds them once in its configuration instead of once per user). Each
/// sub-filter records its own sizes, which is all a lookup needs.
///
/// Limits: at most ``maximumFilterCount`` sub-filters of at most ``BloomFilter/maximumCapacity``
/// items; past that (more than 10⁹ items) inserts go into the last sub-filter beyond its
/// capacity: still no false negatives, but the error bound no longer holds.
public struct ScalableBloomFilter: Sendable, Hashable {
    /// How new sub-filters are sized.
    public struct Parameters: Sendable, Hashable {
        /// P: the bound on the whole filter's false-positive rate, in (0, 1).
        public var errorBound: Double
        /// c₀: the capacity of the first sub-filter without a hint, and the smallest of any.
        public var initialCapacity: Int
        /// g: each sub-filter holds at most g times the previous one (g > 1).
        public var growth: Double
        /// r: each of the first ``laterTighteningFrom`` sub-filters' error is r times the
        /// previous one's (0 < r < 1).
        public var tightening: Double
        /// r₂: the same ratio from sub-filter ``laterTighteningFrom`` on.
        public var laterTightening: Double

        /// The first sub-filter index that uses ``laterTightening``.
        public static let laterTighteningFrom = 2

        /// `laterTightening` defaults to `tightening`: Almeida's schedule.
        public init(
            errorBound: Double, initialCapacity: Int, growth: Double = 2, tightening: Double = 0.5,
            laterTightening: Double? = nil
        ) {
            self.errorBound = errorBound
            self.initialCapacity = initialCapacity
            self.growth = growth
            self.tightening = tightening
            self.laterTightening = laterTightening ?? tightening
        }

        /// P_i = P · (1 − r) · r^i below t = ``laterTighteningFrom``, P · r^t · (1 − r₂) · r₂^(i−t)
        /// from t on.
        public func errorRate(ofFilter i: Int) -> Double {
            let t = Self.laterTighteningFrom
            if i < t {
                var rate = errorBound * (1 - tightening)
                for _ in 0..<i { rate *= tightening }
                return rate
            }
            var rate = errorBound * (1 - laterTightening)
            for _ in 0..<t { rate *= tightening }
            for _ in t..<i { rate *= laterTightening }
            return rate
        }

        /// Problems with these parameters, empty when they are usable.
        public func validate() -> [String] {
            var problems: [String] = []
            if !(errorBound > 0 && errorBound < 1) { problems.append("error bound \(errorBound) must be in (0, 1)") }
            if !(1...BloomFilter.maximumCapacity).contains(initialCapacity) {
                problems.append("initial capacity \(initialCapacity) must be in 1...\(BloomFilter.maximumCapacity)")
            }
            if !(growth >= 1.25 && growth <= 16) { problems.append("growth \(growth) must be in 1.25...16") }
            if !(tightening >= 0.05 && tightening <= 0.95) {
                problems.append("tightening \(tightening) must be in 0.05...0.95")
            }
            if !(laterTightening >= 0.05 && laterTightening <= 0.95) {
                problems.append("later tightening \(laterTightening) must be in 0.05...0.95")
            }
            // Double hashing's floor (see BloomFilter) needs m ≥ √(12n/p): if errors shrank faster
            // than capacities grow, later sub-filters would need ever more bits per item.
            if growth * tightening < 1 || growth * laterTightening < 1 {
                problems.append(
                    "growth × tightening (\(growth * tightening)) and growth × later tightening "
                        + "(\(growth * laterTightening)) must be at least 1")
            }
            return problems
        }
    }

    /// One sub-filter: a Bloom filter or a fingerprint set.
    public enum SubFilter: Sendable, Hashable {
        case bloom(BloomFilter)
        case fingerprints(FingerprintSet)

        /// The kind and sizes of a sub-filter, before anything is allocated.
        public enum Shape: Sendable, Hashable {
            case bloom(bitCount: Int, hashCount: Int, capacity: Int)
            case fingerprints(width: Int, capacity: Int)
        }

        /// The smaller of a ``FingerprintSet`` and a ``BloomFilter`` for `capacity` items at
        /// `errorRate`, compared at full capacity (capacity · f bits against m bits).
        ///
        /// - Important: `capacity` must be in 1...``BloomFilter/maximumCapacity`` and `errorRate`
        ///   in (0, 1), as for ``BloomFilter/init(capacity:errorRate:)``.
        public static func shape(capacity: Int, errorRate: Double) -> Shape {
            precondition(
                capacity >= 1 && capacity <= BloomFilter.maximumCapacity,
                "sub-filter capacity \(capacity) is outside 1...\(BloomFilter.maximumCapacity)")
            precondition(errorRate > 0 && errorRate < 1, "sub-filter error rate \(errorRate) is outside (0, 1)")
            let width = FingerprintSet.width(capacity: capacity, errorRate: errorRate)
            let bloom = BloomFilter.sizing(capacity: capacity, errorRate: errorRate)
            if width <= FingerprintSet.maximumWidth && capacity <= FingerprintSet.maximumCapacity
                && capacity * width <= bloom.bitCount
            {
                return .fingerprints(width: width, capacity: capacity)
            }
            return .bloom(bitCount: bloom.bitCount, hashCount: bloom.hashCount, capacity: bloom.capacity)
        }

        /// An empty sub-filter of ``shape(capacity:errorRate:)``.
        public static func sized(capacity: Int, errorRate: Double) -> SubFilter {
            switch shape(capacity: capacity, errorRate: errorRate) {
            case .fingerprints:
                .fingerprints(FingerprintSet(capacity: capacity, errorRate: errorRate))
            case .bloom(let bitCount, let hashCount, let capacity):
                .bloom(BloomFilter(bitCount: bitCount, hashCount: hashCount, capacity: capacity))
            }
        }

        public var capacity: Int {
            switch self {
            case .bloom(let f): f.capacity
            case .fingerprints(let f): f.capacity
            }
        }

        public var count: Int {
            switch self {
            case .bloom(let f): f.count
            case .fingerprints(let f): f.count
            }
        }

        public var isFull: Bool { count >= capacity }

        public func contains(_ hash: ExposureHash) -> Bool {
            switch self {
            case .bloom(let f): f.contains(hash)
            case .fingerprints(let f): f.contains(hash)
            }
        }

        /// Adds the item; returns whether anything changed.
        @discardableResult
        public mutating func insert(_ hash: ExposureHash) -> Bool {
            // Parking an allocation-free value in self while the payload is mutated leaves the
            // payload's words uniquely referenced, so they are updated in place, not copied.
            switch self {
            case .bloom(var f):
                self = Self.parked
                defer { self = .bloom(f) }
                return f.insert(hash)
            case .fingerprints(var f):
                self = Self.parked
                defer { self = .fingerprints(f) }
                return f.insert(hash)
            }
        }

        private static let parked = SubFilter.fingerprints(FingerprintSet.empty)

        /// The rate the sub-filter was sized for, reached when it is full: the Bloom filter's
        /// FPR(m, k, capacity), or capacity / 2^f.
        public var designFalsePositiveRate: Double {
            switch self {
            case .bloom(let f): f.predictedFalsePositiveRate(insertions: f.capacity)
            case .fingerprints(let f):
                (0..<f.fingerprintBits).reduce(Double(f.capacity)) { rate, _ in rate / 2 }
            }
        }

        /// The rate as the sub-filter is now.
        public var estimatedFalsePositiveRate: Double {
            switch self {
            case .bloom(let f): f.estimatedFalsePositiveRate
            case .fingerprints(let f): f.estimatedFalsePositiveRate
            }
        }

        /// Bytes of bits or fingerprints held in memory.
        public var byteCount: Int {
            switch self {
            case .bloom(let f): f.byteCount
            case .fingerprints(let f): f.byteCount
            }
        }

        /// Heap bytes held (the payload's arrays), not counting the enum's own inline size.
        var heapBytes: Int {
            switch self {
            case .bloom(let f): f.approximateBytes - MemoryLayout<BloomFilter>.stride
            case .fingerprints(let f): f.approximateBytes - MemoryLayout<FingerprintSet>.stride
            }
        }

        /// A kind byte (0 Bloom, 1 fingerprints), then the payload's encoding.
        public func encode(into writer: inout BinaryWriter) {
            switch self {
            case .bloom(let f):
                writer.append(0)
                f.encode(into: &writer)
            case .fingerprints(let f):
                writer.append(1)
                f.encode(into: &writer)
            }
        }

        public var encodedByteCount: Int {
            switch self {
            case .bloom(let f): 1 + f.encodedByteCount
            case .fingerprints(let f): 1 + f.encodedByteCount
            }
        }

        public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> SubFilter {
            switch try reader.readByte() {
            case 0: .bloom(try BloomFilter.decode(from: &reader))
            case 1: .fingerprints(try FingerprintSet.decode(from: &reader))
            case let kind: throw StateDecodingError("sub-filter kind \(kind)")
            }
        }
    }

    /// The most sub-filters a filter adds (see the type's limits).
    public static let maximumFilterCount = 64

    /// The sub-filters, oldest first.
    public private(set) var filters: [SubFilter] = []

    public init() {}

    /// A filter of the given sub-filters, oldest first (for ``ExposureFilters/filter(of:)``).
    init(filters: [SubFilter]) { self.filters = filters }

    public var isEmpty: Bool { filters.isEmpty }

    /// Distinct insertions over all sub-filters.
    public var count: Int { filters.reduce(0) { $0 + $1.count } }

    /// Whether the next insert of a new item adds a sub-filter (none yet, or the newest is full):
    /// the moment a capacity hint is used.
    public var needsNewFilter: Bool {
        guard let last = filters.last else { return true }
        return last.isFull && filters.count < Self.maximumFilterCount
    }

    /// True for every inserted item; for others with probability at most the error bound.
    public func contains(_ hash: ExposureHash) -> Bool {
        // Newest first: a recent item is most likely there.
        var i = filters.count
        while i > 0 {
            i -= 1
            if filters[i].contains(hash) { return true }
        }
        return false
    }

    /// Adds the item unless it already answers true. Returns whether bits were set.
    ///
    /// `capacityHint` sizes a sub-filter added by this call (clamped as the type describes); it
    /// is ignored when the newest sub-filter has room.
    @discardableResult
    public mutating func insert(_ hash: ExposureHash, parameters: Parameters, capacityHint: Int? = nil) -> Bool {
        if contains(hash) { return false }
        if needsNewFilter {
            let i = filters.count
            let capacity = Self.capacity(
                ofFilter: i, after: filters.last?.capacity, hint: capacityHint, parameters: parameters)
            filters.append(.sized(capacity: capacity, errorRate: parameters.errorRate(ofFilter: i)))
        }
        return filters[filters.count - 1].insert(hash)
    }

    /// The capacity of sub-filter `i` whose predecessor holds `previous` items: the hint clamped
    /// to [c₀ · g^(i−1), g · previous] (c₀ and up for the first), or g · previous without a hint.
    public static func capacity(ofFilter i: Int, after previous: Int?, hint: Int?, parameters: Parameters) -> Int {
        let limit = Double(BloomFilter.maximumCapacity)
        let c0 = Double(parameters.initialCapacity)
        let capacity: Double
        if let previous, i > 0 {
            var lower = c0
            for _ in 1..<i where lower < limit { lower *= parameters.growth }
            let upper = (Double(previous) * parameters.growth).rounded(.up)
            let wanted = hint.map { Double($0) } ?? upper
            capacity = min(max(wanted, lower), max(upper, lower))
        } else {
            capacity = max(c0, Double(hint ?? 0))
        }
        return Int(min(capacity, limit))
    }

    /// Bytes of bits over all sub-filters.
    public var byteCount: Int { filters.reduce(0) { $0 + $1.byteCount } }

    /// Heap and inline bytes held.
    public var approximateBytes: Int {
        MemoryLayout<ScalableBloomFilter>.stride + (filters.capacity == 0 ? 0 : arrayHeaderBytes)
            + filters.capacity * MemoryLayout<SubFilter>.stride + filters.reduce(0) { $0 + $1.heapBytes }
    }

    /// The false-positive rate as the bits are now: 1 − Π(1 − fill_i^k_i).
    public var estimatedFalsePositiveRate: Double {
        1 - filters.reduce(1.0) { $0 * (1 - $1.estimatedFalsePositiveRate) }
    }

    // MARK: Persistence

    /// Appends the sub-filter count (varint) and each ``BloomFilter``.
    public func encode(into writer: inout BinaryWriter) {
        writer.appendVarint(UInt64(filters.count))
        for filter in filters { filter.encode(into: &writer) }
    }

    /// The size of ``encode(into:)``'s output.
    public var encodedByteCount: Int {
        varintLength(UInt64(filters.count)) + filters.reduce(0) { $0 + $1.encodedByteCount }
    }

    /// Reads what ``encode(into:)`` wrote.
    ///
    /// - Throws: ``StateDecodingError`` when truncated or malformed.
    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> ScalableBloomFilter {
        let n = try reader.readVarint()
        guard n <= UInt64(maximumFilterCount) else { throw StateDecodingError("\(n) sub-filters") }
        var result = ScalableBloomFilter()
        result.filters.reserveCapacity(Int(n))
        for _ in 0..<Int(n) { result.filters.append(try SubFilter.decode(from: &reader)) }
        return result
    }
}
