/// Everything that shapes the look-alike family (RALM, Liu et al., KDD 2019): the seed lists, the
/// periodic seed summaries and the online score. Validate once at start with ``validate()``;
/// docs/lookalike.md derives each formula and cost.
public struct LookalikeConfiguration: Hashable, Sendable {
    /// S: the most recent distinct users kept per item (its seeds). Cost: memory of about 20 bytes
    /// per seed (see ``SeedLists``) and a summary over up to S vectors. Default 500.
    public var seedsPerItem = 500

    /// Seeds whose last engagement is at or before the seed lists' watermark minus this are
    /// dropped, in event-time milliseconds. Default 30 days.
    public var seedExpiryMillis: Int64 = 30 * 86_400_000

    /// The cold-start gate: an item is scored only once it has at least this many seeds (and a
    /// summary built from at least this many seeds with a user vector). Default 100.
    public var minimumSeeds = 100

    /// k of the k-means clustering of an item's seeds: the cluster centres the local attention
    /// attends over. An item with fewer distinct seed vectors gets fewer clusters. Default 20.
    public var clusters = 20

    /// The most Lloyd iterations of a summary's k-means; it stops earlier once no seed changes
    /// cluster. Cost per item: about (iterations + 1) · n · k · d multiply-adds. Default 10.
    public var kMeansIterations = 10

    /// Seed of the k-means++ draws; mixed with the item index, so an item's clusters are a pure
    /// function of its seed vectors, this seed and the item. Default 0x5EED_1A7E.
    public var kMeansSeed: UInt64 = 0x5EED_1A7E

    /// τ_g, the temperature of the global self-attention pooling:
    /// α_i = softmax_i(ê_i · m / τ_g) with m the mean of the unit seed vectors. Large values tend to
    /// the plain mean of the seeds; small values to the seeds nearest the seeds' consensus.
    /// Default 0.1.
    public var globalTemperature = 0.1

    /// τ, the temperature of the local attention of the user over the cluster centres:
    /// w_c ∝ n_c · exp(ê_u · μ_c / τ). Default 0.1.
    public var localTemperature = 0.1

    /// β of the score cos(e_u, β · global + (1 − β) · local(u)) (unit global and local vectors).
    /// 1 ignores the local attention, 0 the global embedding. Default 0.3.
    public var beta = 0.3

    /// How often the runtime should run the summary job, in milliseconds of wall time (the core
    /// has no clock; this is the runtime's schedule). Only items whose seeds changed are rebuilt.
    /// Default 60 s.
    public var summaryIntervalMillis: Int64 = 60_000

    /// The most items one score request may name. Default 1,000.
    public var maximumScoredItems = 1_000

    /// The largest k an audience expansion may ask for. Default 10,000.
    public var maximumExpansion = 10_000

    public init() {}

    /// The defaults the issue gives: S = 500, 30 days, 100 seeds, k = 20, every 60 s.
    public static let `default` = LookalikeConfiguration()

    /// One line per setting out of range; empty when the configuration is usable.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ ok: Bool, _ message: @autoclosure () -> String) {
            if !ok { problems.append(message()) }
        }
        check(
            seedsPerItem >= 1 && seedsPerItem <= 100_000, "seedsPerItem is \(seedsPerItem); it must be in 1...100000")
        check(
            seedExpiryMillis >= 60_000 && seedExpiryMillis <= 366 * 86_400_000,
            "seedExpiryMillis is \(seedExpiryMillis); it must be in 60000...\(366 * 86_400_000)")
        check(
            minimumSeeds >= 1 && minimumSeeds <= seedsPerItem,
            "minimumSeeds is \(minimumSeeds); it must be in 1...seedsPerItem (\(seedsPerItem))")
        check(clusters >= 1 && clusters <= 1_000, "clusters is \(clusters); it must be in 1...1000")
        check(
            kMeansIterations >= 0 && kMeansIterations <= 1_000,
            "kMeansIterations is \(kMeansIterations); it must be in 0...1000")
        check(
            globalTemperature.isFinite && globalTemperature >= 1e-3 && globalTemperature <= 1e3,
            "globalTemperature is \(globalTemperature); it must be in 0.001...1000")
        check(
            localTemperature.isFinite && localTemperature >= 1e-3 && localTemperature <= 1e3,
            "localTemperature is \(localTemperature); it must be in 0.001...1000")
        check(beta.isFinite && beta >= 0 && beta <= 1, "beta is \(beta); it must be in 0...1")
        check(
            summaryIntervalMillis >= 1_000,
            "summaryIntervalMillis is \(summaryIntervalMillis); it must be at least 1000")
        check(
            maximumScoredItems >= 1 && maximumScoredItems <= 100_000,
            "maximumScoredItems is \(maximumScoredItems); it must be in 1...100000")
        check(
            maximumExpansion >= 1 && maximumExpansion <= 1_000_000,
            "maximumExpansion is \(maximumExpansion); it must be in 1...1000000")
        return problems
    }
}
