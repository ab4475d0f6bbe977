/// Adagrad (Duchi, Hazan & Singer 2011), per coordinate:
///
///     G ← G + g²,   w ← w − η · g / (√G + ε)
///
/// G starts at ``EmbeddingConfiguration/adagradInitialAccumulator``. Every vector carries its own
/// accumulator of the same dimension (so the state doubles a vector's memory; see
/// docs/embeddings.md for the per-id cost).
public enum Adagrad {
    /// One step on a chunk of 8 coordinates.
    @inline(__always)
    static func step(
        _ w: inout SIMD8<Float>, _ g2: inout SIMD8<Float>, gradient g: SIMD8<Float>, learningRate: Float,
        epsilon: Float
    ) {
        g2 += g * g
        w -= SIMD8<Float>(repeating: learningRate) * g / (g2.squareRoot() + SIMD8<Float>(repeating: epsilon))
    }

    /// One step on whole vectors (the count a multiple of 8), with the same arithmetic the trainer
    /// uses; for tests and tools.
    public static func step(
        weights: inout [Float], accumulator: inout [Float], gradient: [Float], learningRate: Float, epsilon: Float
    ) {
        precondition(
            weights.count == accumulator.count && weights.count == gradient.count && weights.count % 8 == 0,
            "Adagrad.step needs equal counts, a multiple of 8: \(weights.count), \(accumulator.count), \(gradient.count)")
        var w = VectorMath.chunked(weights)
        var a = VectorMath.chunked(accumulator)
        let g = VectorMath.chunked(gradient)
        for k in w.indices { step(&w[k], &a[k], gradient: g[k], learningRate: learningRate, epsilon: epsilon) }
        weights = VectorMath.floats(w, 0, chunks: w.count)
        accumulator = VectorMath.floats(a, 0, chunks: a.count)
    }
}
