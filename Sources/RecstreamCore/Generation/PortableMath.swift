/// `exp`, `log`, `expm1` and `log1p` written with IEEE-754 basic operations only, so their results
/// are bit-identical on every platform. The C library's versions differ in the last bit between
/// glibc and Darwin (and between versions), which would let a synthetic stream drift across
/// machines; RecstreamCore also uses no C.
///
/// Accuracy: within about 2 ulp over the ranges used (tested against the platform libm).
/// Cost: a range reduction and a polynomial of degree at most 14.
enum PortableMath {
    // ln 2 split so that k · ln2Hi is exact for |k| < 2^11 (fdlibm's constants).
    private static let ln2Hi = 6.931_471_803_691_238_164_90e-01
    private static let ln2Lo = 1.908_214_929_270_587_700_02e-10
    private static let invLn2 = 1.442_695_040_888_963_387_00
    private static let sqrt2 = 1.414_213_562_373_095_145_47

    /// e^x. Overflows to +∞ above about 709.78 and underflows to 0 below about −745.13.
    static func exp(_ x: Double) -> Double {
        if x.isNaN { return x }
        if x > 709.782_712_893_384 { return .infinity }
        if x < -745.133_219_101_941_1 { return 0 }
        // x = k·ln2 + r with |r| <= ln2/2; e^x = 2^k · e^r.
        let k = (x * invLn2).rounded()
        let r = (x - k * ln2Hi) - k * ln2Lo
        return Double(sign: .plus, exponent: Int(k), significand: taylorExp(r))
    }

    /// e^x − 1, accurate for small |x| where `exp(x) - 1` would cancel.
    static func expm1(_ x: Double) -> Double {
        if x.magnitude < 0.346_6 {
            return taylorExpMinusOne(x)
        }
        return exp(x) - 1
    }

    /// The natural logarithm; −∞ at 0 and NaN below it.
    static func log(_ x: Double) -> Double {
        if x.isNaN || x < 0 { return .nan }
        if x == 0 { return -.infinity }
        if x.isInfinite { return x }
        // x = m · 2^e with m in [√2/2, √2]; log m = 2 atanh(f), f = (m − 1)/(m + 1), |f| <= 0.1716.
        var e = Double(Int(x.exponent))
        var m = x.significand
        if m > sqrt2 {
            m /= 2
            e += 1
        }
        let f = (m - 1) / (m + 1)
        let f2 = f * f
        // 2f · Σ_{j>=0} f^{2j}/(2j+1); f2^12/25 < 1e-19, so 12 terms are exact to rounding.
        var series = 1.0 / 25
        for j in stride(from: 11, through: 0, by: -1) {
            series = 1.0 / Double(2 * j + 1) + f2 * series
        }
        return e * ln2Hi + (2 * f * series + e * ln2Lo)
    }

    /// ln(1 + x), accurate for small |x| (Goldberg 1991: log(u) · x / (u − 1) with u = 1 + x).
    static func log1p(_ x: Double) -> Double {
        let u = 1 + x
        if u == 1 { return x }
        if u.isInfinite { return u }
        return log(u) * (x / (u - 1))
    }

    /// e^r for |r| <= ln2/2 by its Taylor series to degree 14 (remainder < 1e-17).
    private static func taylorExp(_ r: Double) -> Double {
        1 + taylorExpMinusOne(r)
    }

    /// e^r − 1 = r(1 + r/2(1 + r/3(1 + …))) to degree 14, for |r| <= ln2/2.
    private static func taylorExpMinusOne(_ r: Double) -> Double {
        var p = 1.0
        for n in stride(from: 14, through: 2, by: -1) {
            p = 1 + r / Double(n) * p
        }
        return r * p
    }
}
