/// SplitMix64 (Steele, Lea & Flood 2014; Vigna's public-domain `splitmix64.c`): a 64-bit state
/// advanced by the golden-ratio increment and passed through a bijective mixer.
///
/// Deterministic: the same seed gives the same sequence on every platform and version (golden
/// values in the tests pin it to the reference). Cost: one add, two multiplies, three shifts per
/// value. Used to seed ``Xoshiro256StarStar`` and to hash small integers; not for bulk streams.
public struct SplitMix64: RandomNumberGenerator, Sendable, Hashable {
    /// The current state; the next output is a function of `state + 0x9E3779B97F4A7C15`.
    public private(set) var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return Self.mix(state)
    }

    /// The SplitMix64 output function: a bijection on `UInt64` with good avalanche, usable as a
    /// stateless hash of an integer.
    @inline(__always)
    public static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
