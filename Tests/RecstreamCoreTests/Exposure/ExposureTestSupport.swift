import RecstreamCore

/// Event-time helpers and generated item ids for the exposure tests.
enum ExposureTime {
    static let day: Int64 = 86_400_000
    /// 2026-11-01T00:00:00Z, a whole number of days (and of 1-day slices) since the epoch.
    static let day0: Int64 = 1_793_491_200_000

    static func at(days: Double) -> EventTime { EventTime(millis: day0 + Int64(days * Double(day))) }
}

/// Hashes of 8-byte item ids: SplitMix64's mixer of a counter. Members use counters below 2^63,
/// non-members (probes) counters with the top bit set; the mixer is a bijection, so the two never
/// collide.
struct ItemIDs {
    private var bytes = [UInt8](repeating: 0, count: 8)

    mutating func member(_ n: UInt64) -> ExposureHash { hash(SplitMix64.mix(n & ~(1 << 63))) }
    mutating func nonMember(_ n: UInt64) -> ExposureHash { hash(SplitMix64.mix(n | 1 << 63)) }

    private mutating func hash(_ value: UInt64) -> ExposureHash {
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
        return ExposureHash(bytes.span)
    }
}

/// The fraction of `probes` non-members that `contains` answers true for.
func measuredFalsePositiveRate(probes: Int, offset: UInt64 = 0, _ contains: (ExposureHash) -> Bool) -> Double {
    var ids = ItemIDs()
    var hits = 0
    for n in 0..<UInt64(probes) where contains(ids.nonMember(offset + n)) { hits += 1 }
    return Double(hits) / Double(probes)
}

/// Formats a rate as a percentage with three decimals.
func percent(_ rate: Double) -> String {
    let scaled = Int((rate * 100_000).rounded())
    let fraction = String(scaled % 1000)
    return "\(scaled / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)%"
}

/// Formats a number with two decimals.
func twoDecimals(_ value: Double) -> String {
    let scaled = Int((value * 100).rounded())
    let fraction = String(scaled % 100)
    return "\(scaled / 100).\(fraction.count == 1 ? "0" : "")\(fraction)"
}
