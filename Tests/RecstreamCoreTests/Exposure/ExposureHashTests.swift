import RecstreamCore
import Testing

@Suite("ExposureHash")
struct ExposureHashTests {
    /// 128 bytes: the longest id the wire format accepts.
    static let longID = String(repeating: "0123456789abcdef", count: 8)

    /// Golden values, computed once (and cross-checked against an independent MurmurHash3 x64 128
    /// implementation). Exposure filters are persisted with bits at these positions: these values
    /// must never change.
    @Test(
        arguments: [
            (
                "i1", 0x1391_6937_3a1f_ae29, 0x6bc1_f1a3_ed8a_51e5, [4393, 142, 5491, 4824, 573, 9506, 5255],
                [41, 14, 115, 88], [1252, 328_296_759]
            ),
            (
                "i977", 0x69cd_9a18_b8bc_e5a6, 0x278a_0a71_61cf_8d69, [2470, 3215, 3960, 4705, 9034, 179, 924],
                [38, 15, 120, 97], [6771, 1_775_082_008]
            ),
            ("", 0x0, 0x1, [0, 1, 2, 3, 4, 5, 6], [0, 1, 2, 3], [0, 0]),
            (
                longID, 0xe06e_27b7_b14e_03bc, 0x78a4_92d1_ef32_cec9, [5052, 3461, 7886, 6295, 1120, 9129, 3954],
                [60, 5, 78, 23], [14363, 3_765_315_511]
            ),
        ] as [(String, UInt64, UInt64, [Int], [Int], [UInt32])])
    func goldenValuesAreFrozen(
        id: String, h1: UInt64, h2: UInt64, positions9600: [Int], positions128: [Int], fingerprints: [UInt32]
    ) {
        let hash = ExposureHash(id)
        #expect(hash.h1 == h1)
        #expect(hash.h2 == h2)
        #expect((0..<7).map { hash.position($0, bits: 9600) } == positions9600)
        #expect((0..<4).map { hash.position($0, bits: 128) } == positions128)
        #expect([hash.fingerprint(bits: 14), hash.fingerprint(bits: 32)] == fingerprints)
    }

    @Test func bytesAndStringGiveTheSameHash() {
        for id in ["i1", "i977", "", Self.longID, "ü-item"] {
            let bytes = Array(id.utf8)
            #expect(ExposureHash(bytes.span) == ExposureHash(id))
        }
    }

    @Test func halvesAreMurmurHash3WithTheStrideForcedOdd() {
        for id in ["i1", "i977", "", Self.longID] {
            let murmur = MurmurHash3.hash128(id, seed: 0)
            let hash = ExposureHash(id)
            #expect(hash.h1 == murmur.low)
            #expect(hash.h2 == murmur.high | 1)
            #expect(hash.h2 & 1 == 1)
        }
    }

    @Test func positionsAreInRangeForAnyBitCount() {
        var ids = ItemIDs()
        var outOfRange = 0
        for n in 0..<200 as Range<UInt64> {
            let hash = ids.member(n)
            for m in [1, 64, 9600, 1 << 20, Int(UInt32.max) - 63] {
                for i in 0..<40 where !(0..<m).contains(hash.position(i, bits: m)) { outOfRange += 1 }
            }
        }
        #expect(outOfRange == 0)
    }
}
