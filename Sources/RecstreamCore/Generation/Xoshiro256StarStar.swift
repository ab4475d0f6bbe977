/// xoshiro256** 1.0 (Blackman & Vigna 2018, "Scrambled linear pseudorandom number generators"):
/// 256 bits of state, period 2^256 − 1, passes BigCrush; the generator behind every synthetic
/// stream in recstream.
///
/// Deterministic: the state is seeded from four outputs of ``SplitMix64`` (the seeding the authors
/// recommend), so a `UInt64` seed fixes the whole sequence on every platform and version; golden
/// values in the tests pin it. Cost: a few shifts, xors and two multiplies per value; no allocation.
public struct Xoshiro256StarStar: RandomNumberGenerator, Sendable, Hashable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// A generator whose state is the next four outputs of `SplitMix64(seed: seed)`.
    public init(seed: UInt64) {
        var seeder = SplitMix64(seed: seed)
        s0 = seeder.next()
        s1 = seeder.next()
        s2 = seeder.next()
        s3 = seeder.next()
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 - k))
    }

    public mutating func next() -> UInt64 {
        let result = Self.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = Self.rotl(s3, 45)
        return result
    }
}

extension RandomNumberGenerator {
    /// A uniform double in [0, 1): the top 53 bits of one output times 2^-53.
    ///
    /// Part of the frozen stream definition, so it does not use the standard library's
    /// `Double.random(in:using:)`, whose algorithm may change between Swift versions.
    @inline(__always)
    mutating func unitInterval() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A uniform integer in `0..<bound` (Lemire 2019, "Fast random integer generation in an
    /// interval", with rejection, so exactly uniform). Frozen like ``unitInterval()``.
    ///
    /// - Important: `bound` must be positive.
    @inline(__always)
    mutating func below(_ bound: UInt64) -> UInt64 {
        var product = next().multipliedFullWidth(by: bound)
        if product.low < bound {
            let threshold = (0 &- bound) % bound
            while product.low < threshold {
                product = next().multipliedFullWidth(by: bound)
            }
        }
        return product.high
    }

    /// A uniform integer in `range`.
    @inline(__always)
    mutating func uniform(in range: ClosedRange<Int64>) -> Int64 {
        range.lowerBound + Int64(bitPattern: below(UInt64(range.upperBound - range.lowerBound) + 1))
    }

    /// True with probability `p` (one draw whatever `p` is, so the stream does not depend on it).
    @inline(__always)
    mutating func chance(_ p: Double) -> Bool {
        unitInterval() < p
    }

    /// An exponentially distributed value with the given mean, by inversion: −mean · ln(1 − U).
    @inline(__always)
    mutating func exponential(mean: Double) -> Double {
        -mean * PortableMath.log(1 - unitInterval())
    }
}
