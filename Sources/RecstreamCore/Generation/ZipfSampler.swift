/// Draws ranks 1...`ranks` with P(k) = k^−s / Σ_{j=1}^{n} j^−s (a Zipf distribution with exponent
/// `s` > 0; s = 1 included) by rejection-inversion (Hörmann & Derflinger 1996, "Rejection-inversion
/// to generate variates from monotone discrete distributions", ACM TOMACS 6(3)), in the form of
/// Apache Commons RNG's `RejectionInversionZipfSampler`.
///
/// Method: the continuous hat h(x) = x^−s over [0.5, n + 0.5] is inverted through its integral
/// H(x) = (x^{1−s} − 1)/(1 − s) (log x at s = 1, computed without a special case as
/// expm1((1−s)·log x)/(1−s)); a uniform point under the hat maps to x, rounded to k, and is accepted
/// when it lies under the step of height k^−s. The acceptance rate is above 90% for every s, so a
/// draw costs O(1) expected time with no table: a few `exp`/`log` evaluations, no allocation.
///
/// Deterministic: draws use ``PortableMath`` and a frozen uniform, so a seeded generator yields the
/// same ranks on every platform.
public struct ZipfSampler: Sendable, Hashable {
    /// The number of ranks n; draws are in 1...n.
    public let ranks: Int
    /// The exponent s.
    public let exponent: Double

    private let hIntegralX1: Double
    private let hIntegralN: Double
    private let squeeze: Double

    /// A sampler over 1...`ranks` with exponent `exponent`.
    ///
    /// - Important: Traps unless `ranks >= 1` and `exponent` is finite and positive.
    public init(ranks: Int, exponent: Double) {
        precondition(ranks >= 1, "ZipfSampler needs at least one rank, got \(ranks)")
        precondition(exponent.isFinite && exponent > 0, "ZipfSampler exponent must be > 0, got \(exponent)")
        self.ranks = ranks
        self.exponent = exponent
        hIntegralX1 = Self.hIntegral(1.5, exponent) - 1
        hIntegralN = Self.hIntegral(Double(ranks) + 0.5, exponent)
        squeeze = 2 - Self.hIntegralInverse(Self.hIntegral(2.5, exponent) - Self.h(2, exponent), exponent)
    }

    /// One rank in 1...``ranks``.
    public func next<G: RandomNumberGenerator>(using generator: inout G) -> Int {
        while true {
            // u is uniform in (hIntegralX1, hIntegralN].
            let u = hIntegralN + generator.unitInterval() * (hIntegralX1 - hIntegralN)
            let x = Self.hIntegralInverse(u, exponent)
            var k = Int((x + 0.5).rounded(.down))
            if k < 1 {
                k = 1
            } else if k > ranks {
                k = ranks
            }
            if Double(k) - x <= squeeze || u >= Self.hIntegral(Double(k) + 0.5, exponent) - Self.h(Double(k), exponent)
            {
                return k
            }
        }
    }

    /// h(x) = x^−s.
    private static func h(_ x: Double, _ s: Double) -> Double {
        PortableMath.exp(-s * PortableMath.log(x))
    }

    /// H(x) = (x^{1−s} − 1)/(1 − s), or log x when s = 1.
    private static func hIntegral(_ x: Double, _ s: Double) -> Double {
        let logX = PortableMath.log(x)
        return expm1OverX((1 - s) * logX) * logX
    }

    /// H⁻¹(y) = (1 + y(1 − s))^{1/(1−s)}, or e^y when s = 1.
    private static func hIntegralInverse(_ y: Double, _ s: Double) -> Double {
        var t = y * (1 - s)
        if t < -1 {
            // Rounding can push t just below −1, where log1p is undefined.
            t = -1
        }
        return PortableMath.exp(log1pOverX(t) * y)
    }

    /// log1p(x)/x, continuous at 0.
    private static func log1pOverX(_ x: Double) -> Double {
        if x.magnitude > 1e-8 {
            return PortableMath.log1p(x) / x
        }
        return 1 - x * (0.5 - x * (1.0 / 3 - 0.25 * x))
    }

    /// expm1(x)/x, continuous at 0.
    private static func expm1OverX(_ x: Double) -> Double {
        if x.magnitude > 1e-8 {
            return PortableMath.expm1(x) / x
        }
        return 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))
    }
}
