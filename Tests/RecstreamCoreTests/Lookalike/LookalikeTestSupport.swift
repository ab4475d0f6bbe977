import RecstreamCore

/// 2026-11-01T00:00:00Z.
let lookalikeDay0: Int64 = 1_793_491_200_000

/// A click of `item` by `user` at `day0 + seconds`.
func seedEngagement(_ user: Int32, _ item: Int32, at seconds: Int64) -> Engagement {
    Engagement(user: user, item: item, type: .click, time: EventTime(millis: lookalikeDay0 + seconds * 1000))
}

/// A configuration small enough to reason about: S = `seeds`, gate `minimum`, expiry `expirySeconds`.
func smallLookalikeConfiguration(seeds: Int = 5, minimum: Int = 3, expirySeconds: Int64 = 3_600) -> LookalikeConfiguration {
    var c = LookalikeConfiguration()
    c.seedsPerItem = seeds
    c.minimumSeeds = minimum
    c.seedExpiryMillis = expirySeconds * 1000
    return c
}

/// |a − b| <= tolerance.
func near(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool { (a - b).magnitude <= tolerance }

/// A deterministic stream of draws for tests (SplitMix64).
struct TestRandom {
    var generator: SplitMix64
    init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    mutating func below(_ n: Int) -> Int { Int(generator.next() % UInt64(n)) }
    /// Uniform in [−1, 1).
    mutating func signed() -> Float { Float(Double(generator.next() >> 11) * 0x1p-53 * 2 - 1) }
    mutating func vector(_ d: Int) -> [Float] { (0..<d).map { _ in signed() } }
}

/// Scales `v` to unit length.
func unitVector(_ v: [Float]) -> [Float] {
    let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return v.map { $0 / n }
}

/// Applies `changes` to an ordered key–value store, as the runtime's write batch would.
func applyChanges(_ changes: FamilyChanges, to store: inout [[UInt8]: [UInt8]]) {
    for record in changes.records {
        if let value = record.value { store[record.key] = value } else { store[record.key] = nil }
    }
}

/// The store's keys in byte order, as a prefix scan yields them.
func orderedKeys(_ store: [[UInt8]: [UInt8]]) -> [[UInt8]] {
    store.keys.sorted { $0.lexicographicallyPrecedes($1) }
}
