/// Everything that shapes the embedding model, its training and its IVF index. Training is a pure
/// function of this value, the parent model and the engagements (one thread; see
/// ``EmbeddingTrainer``).
///
/// The defaults are the values docs/embeddings.md and docs/evaluation.md were measured with.
public struct EmbeddingConfiguration: Hashable, Sendable {
    /// Dimension d of every user and item vector: a multiple of 8 (vectors are stored as
    /// `SIMD8<Float>` chunks) in 8...512. Default 32.
    public var dimension = 32

    /// Temperature τ of the softmax over cosine similarities: logits are cos(u, v) / τ. Default 0.2
    /// (recall@50 on the evaluation's stream, η 0.3: τ 0.2 0.208, 0.15 0.195, 0.1 0.165, 0.07 0.136;
    /// see docs/embeddings.md).
    public var temperature: Float = 0.2

    /// Adagrad learning rate η. Default 0.3 (with 0.05, the earlier default, and τ 0.1 a 5-epoch full
    /// refresh was under-trained: recall@50 0.101; see docs/embeddings.md for the sweep).
    public var learningRate: Float = 0.3

    /// Adagrad ε, added to the root of the accumulator. Default 1e-8.
    public var adagradEpsilon: Float = 1e-8

    /// The value every coordinate's Adagrad accumulator starts at (TensorFlow's default). Default 0.1.
    public var adagradInitialAccumulator: Float = 0.1

    /// Random negatives drawn per batch by popularity^``samplingExponent`` and shared by every
    /// positive of the batch: each positive is contrasted with the batch's other positives' items
    /// (in-batch negatives) plus these. Default 64.
    public var randomNegatives = 64

    /// Exponent applied to an item's engagement count for the random negatives (word2vec's 0.75).
    public var samplingExponent = 0.75

    /// Positives per mini-batch; also the in-batch negatives each positive sees (minus one).
    /// Default 128.
    public var batchSize = 128

    /// Passes over the examples in a full refresh. Default 5.
    public var epochs = 5

    /// Passes over the new examples in an incremental update. Default 2.
    public var incrementalEpochs = 2

    /// Subtract log Q(j), the expected number of times item j is a candidate of a positive, from
    /// every logit (Yi et al. 2019). Default true.
    public var logQCorrection = true

    /// Weigh each positive's loss by its strongest engagement type's weight (``weights``);
    /// otherwise every positive weighs 1. Default true.
    public var weighsEngagementTypes = true

    /// Engagement type weights; a type with weight 0 is no engagement (exposures never are).
    public var weights = EngagementWeights()

    /// Engagements (events of a type with weight above 0) an id needs before it gets its own vector;
    /// below it, a user is served by the fallback and an item is not retrievable. Default 3.
    public var minEngagements = 3

    /// An id unseen (no engagement) for this long, in event time, loses its vector and its counts.
    /// Default 30 days, the engagement log's retention.
    public var evictionWindowMillis: Int64 = 30 * 86_400_000

    /// Seed of every random choice: initial vectors, shuffles, negatives, k-means++. Default 1.
    public var seed: UInt64 = 1

    /// Number of IVF lists (k-means regions); nil: √(items with a vector), rounded, at least 1.
    public var ivfLists: Int? = nil

    /// Lists scanned per query. Default 48: recall@100 against brute force 0.998 on the evaluation's
    /// model (88 lists; 24 probes give 0.979 there, but gave 0.876 under the earlier, under-trained
    /// defaults) and 0.998 on the benchmark's (194 lists; see docs/evaluation.md and
    /// docs/benchmarks.md).
    public var ivfProbes = 48

    /// Lloyd iterations of the IVF's k-means. Default 10.
    public var kMeansIterations = 10

    /// k-means is fitted on at most this many points per list (a deterministic sample), then every
    /// item is assigned. Default 64.
    public var kMeansPointsPerList = 64

    public init() {}

    public static let `default` = EmbeddingConfiguration()

    /// Lists the index uses for `items` vectors.
    public func listCount(items: Int) -> Int {
        guard items > 0 else { return 1 }
        if let lists = ivfLists { return max(1, min(lists, items)) }
        return max(1, Int(Double(items).squareRoot().rounded()))
    }

    /// One line per setting out of range; empty when usable.
    public func validate() -> [String] {
        var p: [String] = []
        if dimension < 8 || dimension > 512 || dimension % 8 != 0 {
            p.append("dimension is \(dimension); it must be a multiple of 8 in 8...512")
        }
        if !(temperature.isFinite && temperature >= 0.01 && temperature <= 10) {
            p.append("temperature is \(temperature); it must be in 0.01...10")
        }
        if !(learningRate.isFinite && learningRate > 0 && learningRate <= 10) {
            p.append("learningRate is \(learningRate); it must be in (0, 10]")
        }
        if !(adagradEpsilon.isFinite && adagradEpsilon >= 0 && adagradEpsilon <= 1) {
            p.append("adagradEpsilon is \(adagradEpsilon); it must be in 0...1")
        }
        if !(adagradInitialAccumulator.isFinite && adagradInitialAccumulator >= 0) {
            p.append("adagradInitialAccumulator is \(adagradInitialAccumulator); it must be >= 0")
        }
        if adagradEpsilon == 0 && adagradInitialAccumulator == 0 {
            p.append("adagradEpsilon and adagradInitialAccumulator are both 0: the first step would divide by 0")
        }
        if randomNegatives < 0 || randomNegatives > 65_536 {
            p.append("randomNegatives is \(randomNegatives); it must be in 0...65536")
        }
        if !(samplingExponent.isFinite && samplingExponent >= 0 && samplingExponent <= 2) {
            p.append("samplingExponent is \(samplingExponent); it must be in 0...2")
        }
        if batchSize < 1 || batchSize > 65_536 { p.append("batchSize is \(batchSize); it must be in 1...65536") }
        if batchSize + randomNegatives < 2 {
            p.append("batchSize + randomNegatives is \(batchSize + randomNegatives); a positive needs a negative")
        }
        if epochs < 0 || epochs > 1_000 { p.append("epochs is \(epochs); it must be in 0...1000") }
        if incrementalEpochs < 0 || incrementalEpochs > 1_000 {
            p.append("incrementalEpochs is \(incrementalEpochs); it must be in 0...1000")
        }
        for type in [EventType.click, .like, .collect, .share, .comment] {
            let w = weights[type]
            if !(w.isFinite && w >= 0 && w <= 1_000) { p.append("weights.\(type) is \(w); it must be in 0...1000") }
        }
        if minEngagements < 1 || minEngagements > 1_000 {
            p.append("minEngagements is \(minEngagements); it must be in 1...1000")
        }
        if evictionWindowMillis < 86_400_000 || evictionWindowMillis > 3_650 * 86_400_000 {
            p.append("evictionWindowMillis is \(evictionWindowMillis); it must be 1 to 3650 days")
        }
        if let lists = ivfLists, lists < 1 || lists > 1 << 20 {
            p.append("ivfLists is \(lists); it must be in 1...\(1 << 20)")
        }
        if ivfProbes < 1 { p.append("ivfProbes is \(ivfProbes); it must be >= 1") }
        if kMeansIterations < 0 || kMeansIterations > 1_000 {
            p.append("kMeansIterations is \(kMeansIterations); it must be in 0...1000")
        }
        if kMeansPointsPerList < 1 || kMeansPointsPerList > 100_000 {
            p.append("kMeansPointsPerList is \(kMeansPointsPerList); it must be in 1...100000")
        }
        return p
    }
}
