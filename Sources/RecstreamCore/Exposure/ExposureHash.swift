/// The hash of an item id that exposure filters store, and the bit positions and fingerprints
/// derived from it.
///
/// h = MurmurHash3 x64 128 (seed 0) of the id's UTF-8 bytes; h1 = its low half, h2 = its high half
/// with the lowest bit forced to 1. Bit i of a filter of m bits is Kirsch–Mitzenmacher double
/// hashing (Kirsch & Mitzenmacher 2006, "Less Hashing, Same Performance: Building a Better Bloom
/// Filter"):
///
///     g_i = (h1 &+ i &* h2) mod m,   i in 0..<k
///
/// with 64-bit wrapping arithmetic before the `mod`. An odd h2 never makes every g_i equal.
///
/// - Important: Persisted and frozen forever. Filters store bits at these positions, so the seed,
///   the halves, the odd bit, the wrapping arithmetic and the `mod m` must never change; golden
///   values in `ExposureHashTests` pin them.
public struct ExposureHash: Hashable, Sendable {
    /// The low half of the 128-bit hash: the first position.
    public let h1: UInt64
    /// The high half of the 128-bit hash with bit 0 set: the stride between positions.
    public let h2: UInt64

    /// The hash of an item id given as bytes (the decoder's id buffer). Cost: one MurmurHash3 pass.
    public init(_ itemID: Span<UInt8>) {
        self.init(MurmurHash3.hash128(itemID, seed: 0))
    }

    /// The hash of an item id's UTF-8 bytes.
    public init(_ itemID: String) {
        self.init(MurmurHash3.hash128(itemID, seed: 0))
    }

    /// The exposure hash of an already computed MurmurHash3 (seed 0) value.
    public init(_ hash: Hash128) {
        h1 = hash.low
        h2 = hash.high | 1
    }

    /// The top `f` bits of h1 (f in 1...32): the fingerprint a ``FingerprintSet`` stores.
    /// Persisted and frozen like ``position(_:bits:)``.
    @inline(__always)
    public func fingerprint(bits f: Int) -> UInt32 {
        UInt32(truncatingIfNeeded: h1 >> UInt64(64 - f))
    }

    /// Bit position `i` (0-based) in a filter of `m` bits: `(h1 &+ i &* h2) mod m`.
    @inline(__always)
    public func position(_ i: Int, bits m: Int) -> Int {
        Int(truncatingIfNeeded: (h1 &+ UInt64(truncatingIfNeeded: i) &* h2) % UInt64(truncatingIfNeeded: m))
    }
}
