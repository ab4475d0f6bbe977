/// The range check JSON numbers get: RFC 8259 lets a parser limit numbers, and recstream, like
/// Foundation's JSONSerialization and most parsers that map numbers to IEEE 754 binary64, refuses a
/// number that would round to infinity as a double. Underflow (1e-400) rounds to zero and is fine.
enum JSONDoubleRange {
    /// The decimal exponent of the largest finite double, 1.797...e308.
    static let maxDecimalExponent = 308

    /// The decimal digits of 2^1024 - 2^970, halfway between the largest finite double
    /// (2^1024 - 2^971) and 2^1024: a value at or above it rounds to infinity (at the tie,
    /// round-half-to-even picks 2^1024, whose significand is even).
    static let overflowThreshold: [UInt8] = Array(
        ("17976931348623158079372897140530341507993413271003782693617377898044496829276475"
            + "09466490179775872070963302864166928879109465555478519404026306574886715058206819"
            + "08902000708383676273854845817711531764475730270069855571366959622842914819860834"
            + "936475292719074168444365510704342711559699508093042880177904174497792").utf8)

    /// Whether the number token `input[token]` (already known to match the RFC 8259 grammar) is
    /// finite as a double. Cost: linear in the token; called only for tokens with an exponent or
    /// more than 308 integer digits.
    static func isFinite(_ input: Span<UInt8>, _ token: Range<Int>) -> Bool {
        let end = token.upperBound
        var i = token.lowerBound
        if input[i] == JSONByte.minus { i += 1 }
        let integerStart = i
        while i < end && isDigit(input[i]) { i += 1 }
        let integerEnd = i
        var fractionStart = i
        var fractionEnd = i
        if i < end && input[i] == JSONByte.dot {
            i += 1
            fractionStart = i
            while i < end && isDigit(input[i]) { i += 1 }
            fractionEnd = i
        }
        var exponent = 0
        if i < end {
            // 'e' or 'E', an optional sign, digits. Clamped: beyond 10^9 only the sign matters.
            i += 1
            var negative = false
            if input[i] == JSONByte.minus || input[i] == JSONByte.plus {
                negative = input[i] == JSONByte.minus
                i += 1
            }
            while i < end {
                if exponent < 1_000_000_000 { exponent = exponent * 10 + Int(input[i] - JSONByte.zero) }
                i += 1
            }
            if negative { exponent = -exponent }
        }

        // The first significant digit and its power of ten.
        var lead = -1
        var leadPower = 0
        for k in integerStart..<integerEnd where input[k] != JSONByte.zero {
            lead = k
            leadPower = integerEnd - 1 - k
            break
        }
        if lead < 0 {
            for k in fractionStart..<fractionEnd where input[k] != JSONByte.zero {
                lead = k
                leadPower = -(k - fractionStart + 1)
                break
            }
        }
        if lead < 0 { return true }  // zero
        let power = leadPower + exponent
        if power != maxDecimalExponent { return power < maxDecimalExponent }

        // Same order of magnitude as the threshold: compare the significant digits.
        let threshold = overflowThreshold
        var k = lead
        var t = 0
        while true {
            if k == integerEnd && fractionStart > integerEnd { k = fractionStart }
            let hasDigit = k < max(integerEnd, fractionEnd) && k >= integerStart
            if !hasDigit {
                // The token's remaining digits are zeros: below the threshold iff the threshold has
                // a non-zero digit left.
                while t < threshold.count {
                    if threshold[t] != JSONByte.zero { return true }
                    t += 1
                }
                return false
            }
            if t == threshold.count { return false }  // equal so far and the threshold ends: >= it
            let digit = input[k]
            if digit != threshold[t] { return digit < threshold[t] }
            k += 1
            t += 1
        }
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- JSONByte.zero <= 9 }
}
