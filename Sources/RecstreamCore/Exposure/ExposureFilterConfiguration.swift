/// How exposure filters remember and forget, and how much they may err. Validated once at start
/// (``validate()``); see docs/exposure-filter.md for the measurements behind the defaults.
public struct ExposureFilterConfiguration: Sendable, Hashable {
    /// How sub-filters after the first of a slice are sized.
    public enum CapacityPolicy: String, Sendable, Hashable, CaseIterable {
        /// Sized to the exposures the slice is expected to receive next: the previous slice's
        /// rate times the time left for a new slice, the slice's own rate so far for a full one,
        /// clamped to Almeida's growth step. The default: measured 7 % smaller than geometric at
        /// 10 exposures a day and 39–59 % smaller at 100–10,000 a day.
        case adaptive
        /// Almeida's schedule: c₀, c₀·g, c₀·g², … in every slice.
        case geometric
    }

    /// N: an exposure is remembered while the watermark is less than N days after it. Default 30.
    public var retentionDays: Int
    /// s: slices per retention period; slice length L = ⌈N days / s⌉. An exposure is forgotten
    /// at most L after it leaves the retention, and a check ORs up to s + 1 slices. Default 6
    /// (5-day slices), the smallest measured memory per retained exposure.
    public var sliceCount: Int
    /// The bound on a whole check's false-positive rate (the OR of every live slice). Default 0.01.
    public var targetFalsePositiveRate: Double
    /// c₀: items in a slice's first sub-filter when there is no history to size it from (a new
    /// or returning user), and the smallest sub-filter. Default 8: at the default error that is a
    /// set of 14-bit fingerprints, so a user with one exposure costs 13 bytes serialized.
    public var initialCapacity: Int
    /// g: a slice's sub-filters grow by at most this factor. Default 2.
    public var growth: Double
    /// r: the second sub-filter of a slice gets r times the first one's error. Default 0.5
    /// (measured against 0.8: smaller with adaptive sizing, which rarely needs more than two).
    public var tightening: Double
    /// r₂: the ratio from a slice's third sub-filter on (see ``ScalableBloomFilter``). Default
    /// 0.8: a burst of 50,000 exposures in one day measured 4.1 bytes per exposure with it and
    /// 8.7 with 0.5 throughout; steady loads measured the same either way.
    public var laterTightening: Double
    /// Default ``CapacityPolicy/adaptive``.
    public var capacityPolicy: CapacityPolicy
    /// Users whose expired slices ``ExposureFilters`` sweeps per recorded exposure (round robin),
    /// so that idle users' records are deleted without a full scan. Default 2.
    public var sweepUsersPerExposure: Int

    public init(
        retentionDays: Int = 30,
        sliceCount: Int = 6,
        targetFalsePositiveRate: Double = 0.01,
        initialCapacity: Int = 8,
        growth: Double = 2,
        tightening: Double = 0.5,
        laterTightening: Double = 0.8,
        capacityPolicy: CapacityPolicy = .adaptive,
        sweepUsersPerExposure: Int = 2
    ) {
        self.retentionDays = retentionDays
        self.sliceCount = sliceCount
        self.targetFalsePositiveRate = targetFalsePositiveRate
        self.initialCapacity = initialCapacity
        self.growth = growth
        self.tightening = tightening
        self.laterTightening = laterTightening
        self.capacityPolicy = capacityPolicy
        self.sweepUsersPerExposure = sweepUsersPerExposure
    }

    public static let millisPerDay: Int64 = 86_400_000
    /// The longest retention accepted (10 years).
    public static let maximumRetentionDays = 3650
    /// The most slices per retention accepted.
    public static let maximumSliceCount = 1024

    /// N in milliseconds.
    public var retentionMillis: Int64 { Int64(retentionDays) * Self.millisPerDay }

    /// L = ⌈N / s⌉ in milliseconds.
    public var sliceLengthMillis: Int64 { Self.sliceLengthMillis(retentionDays: retentionDays, sliceCount: sliceCount) }

    static func sliceLengthMillis(retentionDays: Int, sliceCount: Int) -> Int64 {
        let retention = Int64(retentionDays) * millisPerDay
        let s = Int64(sliceCount)
        return (retention + s - 1) / s
    }

    /// The error bound of one slice for a filter of `sliceCount` slices: a check ORs at most
    /// s + 1 slices, so target / (s + 1) per slice keeps the whole check under the target by the
    /// union bound (which holds however the slices' false positives correlate).
    public func sliceErrorBound(sliceCount s: Int) -> Double { targetFalsePositiveRate / Double(s + 1) }

    /// The scalable-filter parameters of one slice for a filter of `sliceCount` slices.
    public func sliceParameters(sliceCount s: Int) -> ScalableBloomFilter.Parameters {
        ScalableBloomFilter.Parameters(
            errorBound: sliceErrorBound(sliceCount: s), initialCapacity: initialCapacity, growth: growth,
            tightening: tightening, laterTightening: laterTightening)
    }

    /// Problems with this configuration, one sentence each; empty when it is usable.
    public func validate() -> [String] {
        var problems: [String] = []
        if !(1...Self.maximumRetentionDays).contains(retentionDays) {
            problems.append("exposure retention_days \(retentionDays) must be in 1...\(Self.maximumRetentionDays)")
        }
        if !(1...Self.maximumSliceCount).contains(sliceCount) {
            problems.append("exposure slice_count \(sliceCount) must be in 1...\(Self.maximumSliceCount)")
        }
        if !(targetFalsePositiveRate >= 1e-6 && targetFalsePositiveRate <= 0.5) {
            problems.append("exposure target_false_positive_rate \(targetFalsePositiveRate) must be in 1e-6...0.5")
        }
        if sweepUsersPerExposure < 0 || sweepUsersPerExposure > 1024 {
            problems.append("exposure sweep_users_per_exposure \(sweepUsersPerExposure) must be in 0...1024")
        }
        let s = (1...Self.maximumSliceCount).contains(sliceCount) ? sliceCount : 1
        for problem in sliceParameters(sliceCount: s).validate() where !problem.hasPrefix("error bound") {
            problems.append("exposure " + problem)
        }
        return problems
    }
}
