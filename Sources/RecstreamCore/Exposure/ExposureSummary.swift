/// What one user's exposure filter holds at a watermark: its live slices with their time ranges,
/// estimated counts, bytes and estimated false-positive rates. A read-only copy for status and
/// admin output.
public struct ExposureSummary: Sendable, Hashable {
    /// One live slice.
    public struct Slice: Sendable, Hashable {
        /// The slice covers event time [start, end).
        public var start: EventTime
        public var end: EventTime
        /// Distinct insertions (repeats of an item within the slice are not counted).
        public var estimatedCount: Int
        /// The items its sub-filters are sized for together.
        public var capacity: Int
        public var subFilterCount: Int
        /// Bytes of bits.
        public var byteCount: Int
        /// The slice's false-positive rate as its bits are now.
        public var estimatedFalsePositiveRate: Double

        public init(
            start: EventTime, end: EventTime, estimatedCount: Int, capacity: Int, subFilterCount: Int, byteCount: Int,
            estimatedFalsePositiveRate: Double
        ) {
            self.start = start
            self.end = end
            self.estimatedCount = estimatedCount
            self.capacity = capacity
            self.subFilterCount = subFilterCount
            self.byteCount = byteCount
            self.estimatedFalsePositiveRate = estimatedFalsePositiveRate
        }
    }

    public var retentionDays: Int
    public var sliceLengthMillis: Int64
    /// Live slices, oldest first.
    public var slices: [Slice]
    /// The sum of the slices' counts.
    public var estimatedCount: Int
    /// Bytes of bits over the live slices.
    public var byteCount: Int
    /// A whole check's false-positive rate as the bits are now: 1 − Π(1 − slice rate).
    public var estimatedFalsePositiveRate: Double

    public init(
        retentionDays: Int, sliceLengthMillis: Int64, slices: [Slice], estimatedCount: Int, byteCount: Int,
        estimatedFalsePositiveRate: Double
    ) {
        self.retentionDays = retentionDays
        self.sliceLengthMillis = sliceLengthMillis
        self.slices = slices
        self.estimatedCount = estimatedCount
        self.byteCount = byteCount
        self.estimatedFalsePositiveRate = estimatedFalsePositiveRate
    }
}
