/// UTF-8 well-formedness as the Unicode Standard defines it (table 3-7, "Well-Formed UTF-8 Byte
/// Sequences"): no overlong forms, no encoded surrogates (U+D800...U+DFFF), nothing above
/// U+10FFFF, no stray continuation bytes and no truncated sequence.
enum UTF8Validation {
    /// The offset of the first byte that does not start a well-formed sequence, or nil when
    /// `bytes[range]` is entirely valid UTF-8.
    ///
    /// Cost: one branch-free OR over the range (the common all-ASCII case), then a byte-wise walk
    /// only when a byte >= 0x80 is present.
    static func firstInvalidByte(in bytes: Span<UInt8>, _ range: Range<Int>) -> Int? {
        let window = bytes.extracting(range)
        var union: UInt8 = 0
        for i in window.indices {
            union |= window[i]
        }
        if union < 0x80 { return nil }
        if let offset = firstInvalidByteSlow(window) { return range.lowerBound + offset }
        return nil
    }

    private static func firstInvalidByteSlow(_ bytes: Span<UInt8>) -> Int? {
        let count = bytes.count
        var i = 0
        while i < count {
            let lead = bytes[i]
            if lead < 0x80 {
                i += 1
                continue
            }
            // The allowed range of the second byte depends on the lead byte; the remaining
            // continuation bytes are always 0x80...0xBF.
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF:
                length = 2
            case 0xE0:
                length = 3
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF:
                length = 3
            case 0xED:
                length = 3
                high = 0x9F
            case 0xF0:
                length = 4
                low = 0x90
            case 0xF1...0xF3:
                length = 4
            case 0xF4:
                length = 4
                high = 0x8F
            default:
                // 0x80...0xC1 (continuation or overlong two-byte lead) and 0xF5...0xFF.
                return i
            }
            guard i + length <= count else { return i }
            let second = bytes[i + 1]
            guard second >= low && second <= high else { return i }
            var k = 2
            while k < length {
                guard bytes[i + k] & 0xC0 == 0x80 else { return i }
                k += 1
            }
            i += length
        }
        return nil
    }
}
