import RecstreamStorage
import Testing

@Suite struct KeyBuilderTests {
    /// Sorted numerically; the encoded keys must come out sorted bytewise too.
    static let signed64: [Int64] = [.min, .min + 1, -1 << 40, -256, -2, -1, 0, 1, 2, 255, 256, 1 << 40, .max - 1, .max]
    static let unsigned64: [UInt64] = [0, 1, 255, 256, 65_535, 1 << 32, 1 << 63, .max - 1, .max]
    static let signed32: [Int32] = [.min, -65_536, -1, 0, 1, 65_536, .max]
    static let unsigned32: [UInt32] = [0, 1, 255, 256, 1 << 31, .max]

    @Test func signed64BitKeysSortLikeTheirNumbers() {
        let keys = Self.signed64.map { v in
            var b = KeyBuilder()
            b.append(bigEndian: v)
            return b.bytes
        }
        #expect(keys.allSatisfy { $0.count == 8 })
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func unsigned64BitKeysSortLikeTheirNumbers() {
        let keys = Self.unsigned64.map { v in
            var b = KeyBuilder()
            b.append(bigEndian: v)
            return b.bytes
        }
        #expect(keys == keys.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func thirtyTwoBitKeysSortLikeTheirNumbers() {
        let signed = Self.signed32.map { v in
            var b = KeyBuilder()
            b.append(bigEndian: v)
            return b.bytes
        }
        let unsigned = Self.unsigned32.map { v in
            var b = KeyBuilder()
            b.append(bigEndian: v)
            return b.bytes
        }
        #expect(signed.allSatisfy { $0.count == 4 } && unsigned.allSatisfy { $0.count == 4 })
        #expect(signed == signed.sorted { $0.lexicographicallyPrecedes($1) })
        #expect(unsigned == unsigned.sorted { $0.lexicographicallyPrecedes($1) })
    }

    @Test func knownEncodings() {
        var b = KeyBuilder()
        b.append(0x07)
        b.append(bigEndian: UInt32(0x0102_0304))
        b.append(bigEndian: Int32(-1))  // 0xFFFFFFFF with the sign bit flipped: 7F FF FF FF
        b.append(bigEndian: Int64(0))  // 80 00 .. 00
        b.append(bytes: [0xAA, 0xBB])
        #expect(
            b.bytes == [
                0x07, 0x01, 0x02, 0x03, 0x04, 0x7F, 0xFF, 0xFF, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xAA, 0xBB,
            ])
    }

    @Test func readerDecodesWhatTheBuilderWrote() throws {
        var b = KeyBuilder()
        b.append(3)
        b.append(bigEndian: UInt16(513))
        b.append(bigEndian: UInt32.max)
        b.append(bigEndian: Int32.min)
        b.append(bigEndian: UInt64(1) << 50)
        b.append(bigEndian: Int64(-123_456_789))
        b.append(bytes: "i977".utf8)
        var r = KeyReader(b.bytes)
        #expect(try r.readByte() == 3)
        #expect(try r.readUInt16() == 513)
        #expect(try r.readUInt32() == .max)
        #expect(try r.readInt32() == .min)
        #expect(try r.readUInt64() == 1 << 50)
        #expect(try r.readInt64() == -123_456_789)
        #expect(Array(r.readRest()) == Array("i977".utf8))
        #expect(r.isAtEnd)
    }

    @Test func readingPastTheEndIsCorruption() {
        var r = KeyReader([1, 2, 3])
        #expect(throws: StorageError.self) { try r.readUInt32() }
        do throws(StorageError) {
            _ = try r.readUInt64()
            Issue.record("a 3-byte key yielded a UInt64")
        } catch {
            #expect(error.kind == .corruption)
            #expect(error.message.contains("needs 8 bytes"))
        }
        #expect(r.offset == 0, "a failed read consumes nothing")
    }

    @Test(
        arguments: [
            ([UInt8](), nil),
            ([0x01], [0x02]),
            ([0x01, 0xFF], [0x02]),
            ([0x01, 0x02, 0xFF, 0xFF], [0x01, 0x03]),
            ([0xFF, 0xFF], nil),
        ] as [([UInt8], [UInt8]?)])
    func prefixEndIsTheFirstKeyAfterThePrefix(prefix: [UInt8], end: [UInt8]?) {
        #expect(KeyBuilder.prefixEnd(prefix) == end)
    }
}
