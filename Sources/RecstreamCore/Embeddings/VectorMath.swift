/// Arithmetic on vectors stored as consecutive `SIMD8<Float>` chunks: a d-dimensional row at
/// offset `o` of an array is the chunks `o ..< o + d/8`. Keeping rows in SIMD chunks gives vector
/// instructions through safe array indexing (one bounds check per 8 floats, no unsafe pointers).
///
/// Every function here is deterministic: the same inputs give the same bits on every platform
/// (no fused multiply-add, no C library).
enum VectorMath {
    /// Σ a·b over one row of each.
    @inline(__always)
    static func dot(_ a: [SIMD8<Float>], _ ao: Int, _ b: [SIMD8<Float>], _ bo: Int, chunks: Int) -> Float {
        if chunks == 4 {
            // The default dimension, 32: one unrolled expression.
            let s = a[ao] * b[bo] + a[ao + 1] * b[bo + 1] + (a[ao + 2] * b[bo + 2] + a[ao + 3] * b[bo + 3])
            return s.sum()
        }
        var acc = SIMD8<Float>()
        for k in 0..<chunks { acc += a[ao + k] * b[bo + k] }
        return acc.sum()
    }

    /// y[yo...] += s · x[xo...].
    @inline(__always)
    static func axpy(_ s: Float, _ x: [SIMD8<Float>], _ xo: Int, _ y: inout [SIMD8<Float>], _ yo: Int, chunks: Int) {
        let v = SIMD8<Float>(repeating: s)
        for k in 0..<chunks { y[yo + k] += v * x[xo + k] }
    }

    /// 1/|x| of a row, 0 for the zero row.
    @inline(__always)
    static func inverseNorm(_ x: [SIMD8<Float>], _ o: Int, chunks: Int) -> Float {
        let n2 = dot(x, o, x, o, chunks: chunks)
        return n2 > 0 ? 1 / n2.squareRoot() : 0
    }

    /// Converts `[Float]` (count a multiple of 8) to chunks.
    static func chunked(_ values: [Float]) -> [SIMD8<Float>] {
        precondition(values.count % 8 == 0, "a vector of \(values.count) floats is not a whole number of chunks")
        var out: [SIMD8<Float>] = []
        out.reserveCapacity(values.count / 8)
        var i = 0
        while i < values.count {
            out.append(SIMD8<Float>(values[i..<(i + 8)]))
            i += 8
        }
        return out
    }

    /// The floats of one row.
    static func floats(_ x: [SIMD8<Float>], _ o: Int, chunks: Int) -> [Float] {
        var out: [Float] = []
        out.reserveCapacity(chunks * 8)
        for k in 0..<chunks {
            let c = x[o + k]
            for j in 0..<8 { out.append(c[j]) }
        }
        return out
    }

    /// e^x for x <= 0 (softmax arguments after the maximum is subtracted), to about 1e-9 relative,
    /// deterministic: x = k·ln 2 + r with |r| <= ln2/2, e^r by its Taylor polynomial to degree 9,
    /// 2^k by the exponent bits. 0 below −745.
    @inline(__always)
    static func expNonPositive(_ x: Double) -> Double {
        if !(x > -745) { return 0 }
        let k = (x * 1.442_695_040_888_963_4).rounded()
        let r = (x - k * 6.931_471_803_691_238_2e-01) - k * 1.908_214_929_270_587_7e-10
        var p = 1 + r / 9
        p = 1 + r / 8 * p
        p = 1 + r / 7 * p
        p = 1 + r / 6 * p
        p = 1 + r / 5 * p
        p = 1 + r / 4 * p
        p = 1 + r / 3 * p
        p = 1 + r / 2 * p
        p = 1 + r * p
        let e = Int64(k) + 1023
        if e <= 0 {
            // Subnormal result: scale in two steps.
            return p * Double(bitPattern: UInt64(e + 600) << 52) * 0x1p-600
        }
        return p * Double(bitPattern: UInt64(e) << 52)
    }

    /// ln x for x > 0 (the platform-independent ``PortableMath/log(_:)``).
    @inline(__always)
    static func log(_ x: Double) -> Double { PortableMath.log(x) }
}
