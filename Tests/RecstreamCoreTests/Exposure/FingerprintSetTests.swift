import RecstreamCore
import Testing

@Suite("FingerprintSet")
struct FingerprintSetTests {
    /// f = the smallest width with capacity / 2^f ≤ p: 8 items at 0.01/14 need 2^f ≥ 11200,
    /// f = 14 (16384); 64 items need 2^f ≥ 89600, f = 17; one item at 50 % needs f = 1.
    @Test(arguments: [(8, 0.01 / 14, 14), (64, 0.01 / 14, 17), (1, 0.5, 1), (1000, 0.001, 20)] as [(Int, Double, Int)])
    func widthIsTheSmallestThatMeetsTheRate(capacity: Int, p: Double, width: Int) {
        #expect(FingerprintSet.width(capacity: capacity, errorRate: p) == width)
        if capacity <= FingerprintSet.maximumCapacity {
            #expect(FingerprintSet(capacity: capacity, errorRate: p).fingerprintBits == width)
        }
    }

    @Test func membersAreFoundAndTheRateIsCountOverTwoToTheWidth() {
        var set = FingerprintSet(capacity: 64, errorRate: 0.001)
        #expect(set.fingerprintBits == 16)
        var ids = ItemIDs()
        for n in 0..<64 as Range<UInt64> { set.insert(ids.member(n)) }
        var missing = 0
        for n in 0..<64 as Range<UInt64> where !set.contains(ids.member(n)) { missing += 1 }
        #expect(missing == 0)
        #expect(set.isFull)
        let expected = Double(set.count) / 65536
        #expect(set.estimatedFalsePositiveRate == expected)
        let measured = measuredFalsePositiveRate(probes: 1_000_000) { set.contains($0) }
        print("fingerprint set, 64 × 16 bits: measured \(percent(measured)), exact \(percent(expected))")
        #expect(abs(measured - expected) < 0.15 * expected)
    }

    /// Widths that do and do not divide 64, so fingerprints straddle word boundaries.
    @Test(arguments: [7, 14, 17, 23, 32])
    func fingerprintsArePackedAcrossWords(width: Int) {
        // capacity / 2^width ≤ p with capacity 100: p = 100 / 2^width exactly.
        let p = (0..<width).reduce(100.0) { rate, _ in rate / 2 }
        var set = FingerprintSet(capacity: 100, errorRate: p)
        #expect(set.fingerprintBits == width)
        var ids = ItemIDs()
        var added = 0
        for n in 0..<100 as Range<UInt64> where set.insert(ids.member(n)) { added += 1 }
        #expect(set.count == added)
        #expect(set.words.count == (added * width + 63) / 64)
        var missing = 0
        for n in 0..<100 as Range<UInt64> where !set.contains(ids.member(n)) { missing += 1 }
        #expect(missing == 0)
    }

    @Test func aLightUserCostsAFewBytes() {
        var set = FingerprintSet(capacity: 8, errorRate: 0.01 / 14)
        set.insert(ExposureHash("i1"))
        // width 14, capacity 8, count 1, then ⌈14/8⌉ = 2 bytes of fingerprint.
        #expect(set.encodedByteCount == 1 + 1 + 1 + 2)
        #expect(set.byteCount == 8)
    }

    @Test func encodeDecodeRoundTripIsExactAndTruncationsThrow() throws {
        var set = FingerprintSet(capacity: 20, errorRate: 0.0001)
        var ids = ItemIDs()
        for n in 0..<13 as Range<UInt64> { set.insert(ids.member(n)) }
        var writer = BinaryWriter()
        set.encode(into: &writer)
        #expect(writer.bytes.count == set.encodedByteCount)
        var reader = BinaryReader(writer.bytes)
        #expect(try FingerprintSet.decode(from: &reader) == set)
        try reader.expectEnd()
        for length in 0..<writer.bytes.count {
            var truncated = BinaryReader(Array(writer.bytes[0..<length]))
            #expect(throws: StateDecodingError.self) { _ = try FingerprintSet.decode(from: &truncated) }
        }
        // 13 × 18 bits = 234 bits: the last byte's top 6 bits are padding and must be zero.
        var padded = writer.bytes
        padded[padded.count - 1] |= 0x80
        var bad = BinaryReader(padded)
        #expect(throws: StateDecodingError.self) { _ = try FingerprintSet.decode(from: &bad) }
    }
}
