/// The few vector kernels the look-alike family needs, in `Float` with no C and no Foundation.
/// Dot products use eight independent partial sums (so the compiler may keep them in one vector
/// register); results can differ from a sequential sum in the last bits.
enum DenseVectorMath {
    /// Σ a[aStart + j] · b[bStart + j] for j < count.
    @inline(__always)
    static func dot(_ a: [Float], _ aStart: Int, _ b: [Float], _ bStart: Int, count: Int) -> Float {
        dot(a.span.extracting(aStart..<(aStart + count)), b.span.extracting(bStart..<(bStart + count)))
    }

    /// Σ a[j] · b[j] over two spans of equal length.
    @inline(__always)
    static func dot(_ a: Span<Float>, _ b: Span<Float>) -> Float {
        let count = a.count
        precondition(b.count == count, "dot product of \(count) and \(b.count) values")
        var s = SIMD8<Float>()
        var j = 0
        while j + 8 <= count {
            let x = SIMD8<Float>(a[j], a[j + 1], a[j + 2], a[j + 3], a[j + 4], a[j + 5], a[j + 6], a[j + 7])
            let y = SIMD8<Float>(b[j], b[j + 1], b[j + 2], b[j + 3], b[j + 4], b[j + 5], b[j + 6], b[j + 7])
            s += x * y
            j += 8
        }
        var total = s.sum()
        while j < count {
            total += a[j] * b[j]
            j += 1
        }
        return total
    }

    /// The dot product of two whole vectors of equal length.
    @inline(__always)
    static func dot(_ a: [Float], _ b: [Float]) -> Float { dot(a, 0, b, 0, count: a.count) }

    /// Scales `v[start..<start + count]` to unit length; returns false (leaving it) when its norm is
    /// 0 or not finite.
    @discardableResult
    static func normalize(_ v: inout [Float], start: Int = 0, count: Int? = nil) -> Bool {
        let n = count ?? v.count - start
        let norm2 = dot(v, start, v, start, count: n)
        guard norm2 > 0, norm2.isFinite else { return false }
        let scale = 1 / norm2.squareRoot()
        for j in start..<(start + n) { v[j] *= scale }
        return true
    }

    /// e^x in single precision, for softmax weights: range reduction x = k · ln 2 + r with
    /// |r| <= ln 2 / 2 and a degree-7 Taylor polynomial of e^r (relative error below 3e-7).
    /// Returns 0 below −87 and +∞ above 88.
    @inline(__always)
    static func exp(_ x: Float) -> Float {
        if x < -87 { return 0 }
        if x > 88 { return .infinity }
        let k = (x * 1.442_695_04).rounded()
        let r = (x - k * 0.693_145_75) - k * 1.428_606_8e-6
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return p * Float(sign: .plus, exponent: Int(k), significand: 1)
    }
}
