import RecstreamCore
import Testing

@Suite("MurmurHash3 x64 128")
struct HashingTests {
    /// Golden values from the reference implementation (Python mmh3 5.x `hash_bytes`, seeds 0
    /// and 42). Persisted state depends on these: they must never change.
    @Test(arguments: [
        ("", "00000000000000000000000000000000", "23851bfa7da72af0b9cb11da106601d1"),
        ("a", "897859f6655555855a890e51483ab5e6", "b026f6fda49c2528152bf82591caeb25"),
        ("hello", "029bbd41b3a7d8cb191dae486a901e5b", "086faf60c9b3b8c47abcefb075b83423"),
        (
            "The quick brown fox jumps over the lazy dog", "6c1b07bc7bbc4be347939ac4a93c437a",
            "d7d50bfe93cf0d748f5c70ecf46c54c4"
        ),
        ("e-000123", "e94d06f76c8724705213a1f343df8d5e", "703ae3d6fbac35af86ee0c23fd8572f4"),
        ("0123456789abcdef0", "75c0a58587ae24ebca283131b368fb73", "e3631df77322fb66eeee8e976136a3c5"),
        ("i977", "a6e5bcb8189acd69698dcf61710a8a27", "4ad7564f93d4c2fcf4ec290c2681693c"),
    ])
    func matchesReference(input: String, seed0: String, seed42: String) {
        #expect(MurmurHash3.hash128(input).description == seed0)
        #expect(MurmurHash3.hash128(input, seed: 42).description == seed42)
    }
}

@Suite("BinaryWriter and BinaryReader")
struct BinaryCodingTests {
    @Test func varintsAndFixedWidthRoundTrip() throws {
        var w = BinaryWriter()
        let values: [UInt64] = [0, 1, 127, 128, 300, UInt64(UInt32.max), UInt64.max]
        for v in values { w.appendVarint(v) }
        let signed: [Int64] = [0, -1, 1, Int64.min, Int64.max, -300]
        for v in signed { w.appendSignedVarint(v) }
        w.appendBigEndian(Int32(-5))
        w.appendBigEndian(UInt64(42))
        w.appendDouble(0.125)
        var r = BinaryReader(w.bytes)
        for v in values { #expect(try r.readVarint() == v) }
        for v in signed { #expect(try r.readSignedVarint() == v) }
        #expect(try r.readBigEndianInt32() == -5)
        #expect(try r.readBigEndianUInt64() == 42)
        #expect(try r.readDouble() == 0.125)
        try r.expectEnd()
    }

    @Test func bigEndianSignedKeysSortNumerically() {
        let values: [Int32] = [Int32.min, -2, -1, 0, 1, 2, Int32.max]
        let keys = values.map { v -> [UInt8] in
            var w = BinaryWriter()
            w.appendBigEndian(v)
            return w.bytes
        }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func overlongVarintIsRejected() {
        var r = BinaryReader(Array(repeating: 0xff, count: 11))
        #expect(throws: StateDecodingError.self) { _ = try r.readVarint() }
    }
}

@Suite("MurmurHash3 in pieces")
struct StreamingHashTests {
    @Test func piecesOfAnySizeHashAsTheWhole() {
        let seed: UInt64 = 61
        print("streamed hash: seed \(seed)")
        var random = Xoshiro256StarStar(seed: seed)
        for length in [0, 1, 15, 16, 17, 31, 32, 33, 100, 1_000, 4_099] {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            for _ in 0..<5 {
                var stream = MurmurHash3.Stream(seed: 42)
                var at = 0
                while at < length {
                    let piece = min(length - at, Int(random.next() % 40))
                    stream.update(bytes.span.extracting(at..<(at + piece)))
                    at += piece
                }
                #expect(stream.count == length)
                #expect(stream.finish() == MurmurHash3.hash128(bytes.span, seed: 42), "length \(length)")
            }
        }
    }
}
