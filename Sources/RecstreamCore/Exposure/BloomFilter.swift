/// A Bloom filter (Bloom 1970): m bits in 64-bit words and k bit positions per item, taken from an
/// ``ExposureHash`` by Kirsch–Mitzenmacher double hashing. No false negatives.
///
/// False-positive rate after n distinct insertions, as this type models it:
///
///     FPR(m, k, n) = f^k + (4n / m²) · (1 + 2·Σ_{j=1}^{k−1} f^j),    f = 1 − e^(−kn/m)
///
/// The first term is the textbook rate for independent positions. The second is what double
/// hashing adds: the positions (h1 + i·h2) mod m of two items coincide in k − |j| places when
/// h2 ≡ ±h2′ and h1 differs by j·h2 (mod m), which for m a power of two has probability about
/// (2/m)·(1/m) per sign; the remaining |j| positions are set with probability f^|j|. It is
/// negligible for large filters but dominates small ones: measured on 128 bits holding 8 items
/// at k = 10, the textbook predicts 0.05 % and double hashing gives 0.5 %. (Non-power-of-two m
/// do better, because the 64-bit wrap-around of h1 + i·h2 scrambles the progression, but not
/// enough to rely on.)
///
/// Sizing for a capacity n and an error rate p: the textbook optimum
///
///     m₀ = ⌈−n·ln p / ln²2⌉,   k = max(1, round(m₀/n · ln 2))
///
/// then m = the smallest multiple of 64 bits ≥ m₀ with FPR(m, k, n) ≤ p, and ``capacity`` = the
/// largest n with FPR(m, k, n) ≤ p (so the word rounding's slack is used, not wasted). For large
/// filters m is m₀ rounded to a word; for small ones it is several times m₀, which is why
/// ``ScalableBloomFilter`` uses a ``FingerprintSet`` instead where that is smaller.
///
/// ``count`` counts insertions that set at least one new bit: a repeated item (or one that is
/// already a false positive) adds no bits, so it does not use up capacity either.
///
/// Cost: insert and lookup compute at most k positions (one 64-bit `mod` each); lookup stops at
/// the first clear bit. Memory: ⌈m/64⌉ words plus 24 bytes inline.
public struct BloomFilter: Sendable, Hashable {
    /// The largest capacity one filter is sized for (16.7 million items; at an error rate of
    /// 10⁻¹⁸ that is 96 MiB of bits). Larger sets belong in several filters.
    public static let maximumCapacity = 1 << 24

    /// The bits, position p at bit `p & 63` of word `p >> 6`.
    public private(set) var words: [UInt64]
    private var bits: UInt32
    private var capacityValue: UInt32
    private var inserted: UInt32
    private var hashes: UInt8

    /// An empty filter for `capacity` items at `errorRate`.
    ///
    /// - Important: `capacity` must be in 1...``maximumCapacity`` and `errorRate` in (0, 1); other
    ///   values are programmer errors and trap.
    public init(capacity: Int, errorRate: Double) {
        precondition(
            capacity >= 1 && capacity <= Self.maximumCapacity,
            "BloomFilter capacity \(capacity) is outside 1...\(Self.maximumCapacity)")
        precondition(errorRate > 0 && errorRate < 1, "BloomFilter error rate \(errorRate) is outside (0, 1)")
        let sizing = Self.sizing(capacity: capacity, errorRate: errorRate)
        self.init(bitCount: sizing.bitCount, hashCount: sizing.hashCount, capacity: sizing.capacity)
    }

    /// An empty filter with explicit parameters. `bitCount` must be a positive multiple of 64 that
    /// fits in 32 bits, `hashCount` in 1...255, `capacity` at least 1.
    public init(bitCount: Int, hashCount: Int, capacity: Int) {
        precondition(
            bitCount > 0 && bitCount % 64 == 0 && bitCount <= Int(UInt32.max),
            "BloomFilter bit count \(bitCount) is not a positive multiple of 64 below 2^32")
        precondition(hashCount >= 1 && hashCount <= 255, "BloomFilter hash count \(hashCount) is outside 1...255")
        precondition(capacity >= 1, "BloomFilter capacity \(capacity) is below 1")
        words = Array(repeating: 0, count: bitCount / 64)
        bits = UInt32(bitCount)
        capacityValue = UInt32(clamping: capacity)
        inserted = 0
        hashes = UInt8(hashCount)
    }

    init(words: [UInt64], bits: UInt32, capacity: UInt32, inserted: UInt32, hashes: UInt8) {
        self.words = words
        self.bits = bits
        self.capacityValue = capacity
        self.inserted = inserted
        self.hashes = hashes
    }

    /// m: the number of bits.
    public var bitCount: Int { Int(bits) }
    /// k: the number of positions per item.
    public var hashCount: Int { Int(hashes) }
    /// The number of distinct insertions at which the predicted false-positive rate reaches the
    /// error rate the filter was sized for.
    public var capacity: Int { Int(capacityValue) }
    /// Insertions that set at least one new bit (saturating at 2³² − 1).
    public var count: Int { Int(inserted) }
    /// Whether ``count`` has reached ``capacity``.
    public var isFull: Bool { inserted >= capacityValue }

    /// Sets the item's k bits. Returns whether any bit was new (the item was not already present or
    /// a false positive); only then does ``count`` grow.
    @discardableResult
    public mutating func insert(_ hash: ExposureHash) -> Bool {
        let m = Int(bits)
        var changed = false
        for i in 0..<Int(hashes) {
            let p = hash.position(i, bits: m)
            let mask = UInt64(1) << UInt64(p & 63)
            if words[p >> 6] & mask == 0 {
                words[p >> 6] |= mask
                changed = true
            }
        }
        if changed && inserted < UInt32.max { inserted += 1 }
        return changed
    }

    /// Whether all k bits of the item are set: always true for an inserted item.
    public func contains(_ hash: ExposureHash) -> Bool {
        let m = Int(bits)
        for i in 0..<Int(hashes) {
            let p = hash.position(i, bits: m)
            if words[p >> 6] & (UInt64(1) << UInt64(p & 63)) == 0 { return false }
        }
        return true
    }

    /// The number of set bits. Cost: one pass over the words.
    public var setBitCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The fraction of bits set.
    public var fillRatio: Double { Double(setBitCount) / Double(bits) }

    /// The false-positive rate of this filter as it is now: ``falsePositiveRate(bitCount:hashCount:insertions:)``
    /// with the measured fill ratio in place of f.
    public var estimatedFalsePositiveRate: Double {
        Self.rate(fill: fillRatio, bitCount: bitCount, hashCount: hashCount, insertions: count)
    }

    /// The predicted false-positive rate after `insertions` distinct items.
    public func predictedFalsePositiveRate(insertions: Int) -> Double {
        Self.falsePositiveRate(bitCount: bitCount, hashCount: hashCount, insertions: insertions)
    }

    /// FPR(m, k, n) of the type's documentation.
    public static func falsePositiveRate(bitCount m: Int, hashCount k: Int, insertions n: Int) -> Double {
        let fill = -PortableMath.expm1(-Double(k) * Double(n) / Double(m))
        return rate(fill: fill, bitCount: m, hashCount: k, insertions: n)
    }

    static func rate(fill f: Double, bitCount m: Int, hashCount k: Int, insertions n: Int) -> Double {
        var overlap = 1.0
        var term = 1.0
        for _ in 1..<max(k, 1) {
            term *= f
            overlap += 2 * term
        }
        let bits = Double(m)
        return power(f, k) + 4 * Double(n) / (bits * bits) * overlap
    }

    /// Bytes of bits (the serialized and in-memory payload).
    public var byteCount: Int { words.count * 8 }

    /// Heap and inline bytes held, counting the array header.
    public var approximateBytes: Int { MemoryLayout<BloomFilter>.stride + arrayHeaderBytes + words.capacity * 8 }

    // MARK: Sizing

    /// m, k and the capacity for `capacity` items at `errorRate` (see the type's documentation).
    /// Deterministic on every platform: the logarithms are ``PortableMath``'s.
    public static func sizing(capacity n: Int, errorRate p: Double) -> (bitCount: Int, hashCount: Int, capacity: Int) {
        let ln2 = 0.693_147_180_559_945_3
        let textbookBits = (Double(n) * -PortableMath.log(p) / (ln2 * ln2)).rounded(.up)
        let k = min(255, max(1, Int((textbookBits / Double(n) * ln2).rounded())))
        // The smallest word count whose m meets p at n: double the step until it does, then bisect.
        func meets(_ words: Int) -> Bool { falsePositiveRate(bitCount: 64 * words, hashCount: k, insertions: n) <= p }
        let maximumWords = Int(UInt32.max) / 64
        var low = max(1, Int((textbookBits / 64).rounded(.up)))
        var high = low
        var step = 1
        while !meets(high) {
            precondition(
                high < maximumWords,
                "a Bloom filter for \(n) items at error \(p) needs more than 2^32 bits (double hashing's floor)")
            low = high + 1
            high = min(high + step, maximumWords)
            step *= 2
        }
        while low < high {
            let mid = (low + high) / 2
            if meets(mid) { high = mid } else { low = mid + 1 }
        }
        let m = 64 * high
        return (m, k, min(largestCapacity(bitCount: m, hashCount: k, errorRate: p), Int(UInt32.max)))
    }

    /// The largest n with FPR(m, k, n) ≤ p (FPR grows with n; the textbook closed form
    /// −(m/k)·ln(1 − p^(1/k)) bounds it from above).
    static func largestCapacity(bitCount m: Int, hashCount k: Int, errorRate p: Double) -> Int {
        let root = PortableMath.exp(PortableMath.log(p) / Double(k))
        let textbook = -(Double(m) / Double(k)) * PortableMath.log1p(-root)
        var low = 0
        var high = textbook.isFinite && textbook < Double(Int32.max) ? Int(textbook.rounded(.down)) + 1 : Int(Int32.max)
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if falsePositiveRate(bitCount: m, hashCount: k, insertions: mid) <= p { low = mid } else { high = mid }
        }
        return low
    }

    /// x^n by repeated multiplication (n ≤ 255): exact to rounding and identical on every platform.
    static func power(_ x: Double, _ n: Int) -> Double {
        var result = 1.0
        for _ in 0..<n { result *= x }
        return result
    }

    // MARK: Persistence

    /// Appends m, k, capacity and count as varints (k as one byte), then the ⌈m/64⌉ words
    /// little-endian.
    public func encode(into writer: inout BinaryWriter) {
        writer.appendVarint(UInt64(bits))
        writer.append(hashes)
        writer.appendVarint(UInt64(capacityValue))
        writer.appendVarint(UInt64(inserted))
        for word in words { writer.appendLittleEndian(word) }
    }

    /// The size of ``encode(into:)``'s output.
    public var encodedByteCount: Int {
        varintLength(UInt64(bits)) + 1 + varintLength(UInt64(capacityValue)) + varintLength(UInt64(inserted))
            + words.count * 8
    }

    /// Reads what ``encode(into:)`` wrote.
    ///
    /// - Throws: ``StateDecodingError`` when the record is truncated or its parameters are out of
    ///   range (checked before anything is allocated).
    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> BloomFilter {
        let (m, k, capacity, count) = try decodeParameters(from: &reader)
        let wordCount = Int(m / 64)
        guard wordCount <= reader.remaining / 8 else {
            throw StateDecodingError("Bloom filter of \(wordCount) words, \(reader.remaining) bytes left")
        }
        var words = [UInt64]()
        words.reserveCapacity(wordCount)
        for _ in 0..<wordCount { words.append(try reader.readLittleEndianUInt64()) }
        return BloomFilter(words: words, bits: m, capacity: capacity, inserted: count, hashes: k)
    }

    /// Reads and checks the parameters ``encode(into:)`` writes before the bits: m (a positive
    /// multiple of 64), k ≥ 1, the capacity ≥ 1 and the insertion count. Shared with the
    /// per-slice records of ``ExposureFilters``.
    static func decodeParameters(from reader: inout BinaryReader) throws(StateDecodingError) -> (
        bits: UInt32, hashes: UInt8, capacity: UInt32, count: UInt32
    ) {
        let m = try reader.readVarint()
        guard m > 0, m % 64 == 0, m <= UInt64(UInt32.max) else {
            throw StateDecodingError("Bloom filter bit count \(m)")
        }
        let k = try reader.readByte()
        guard k >= 1 else { throw StateDecodingError("Bloom filter hash count 0") }
        let capacity = try reader.readVarint()
        guard capacity >= 1, capacity <= UInt64(UInt32.max) else {
            throw StateDecodingError("Bloom filter capacity \(capacity)")
        }
        let count = try reader.readVarint()
        guard count <= UInt64(UInt32.max) else { throw StateDecodingError("Bloom filter count \(count)") }
        return (UInt32(m), k, UInt32(capacity), UInt32(count))
    }
}

/// Bytes of a Swift array's heap header on 64-bit platforms (object header, count, capacity).
let arrayHeaderBytes = 32

/// The length of `value` as a LEB128 varint.
func varintLength(_ value: UInt64) -> Int {
    var n = 1
    var v = value
    while v >= 0x80 {
        v >>= 7
        n += 1
    }
    return n
}
