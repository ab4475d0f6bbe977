import Foundation
import RecstreamCore

/// The look-alike evaluation behind `recstream evaluate lookalike` and docs/evaluation.md
/// ("Look-alike"): on a generated stream with planted user communities, hold out each item's latest
/// engagers, build seeds and summaries from the rest, and measure how well each method ranks the
/// held-out engagers above random non-engagers (AUC), against two baselines: the cosine to the mean
/// seed embedding, and item popularity.
public enum LookalikeEvaluation {
    /// Where the user vectors come from (the embedding job is not used: the harness builds them).
    public enum Embedding: Sendable, Hashable, CustomStringConvertible {
        /// Planted: e_u = c_{community(u)} + σ·z_u with c a random unit vector per community and
        /// z_u ~ N(0, I/d); the within-community cosine is about 1 / (1 + σ²).
        case community(noise: Double)
        /// Behavioural, learned from the training engagements only: every item gets a random code
        /// r_i ~ N(0, I/d) and a user's vector is Σ r_i over their distinct training items (random
        /// indexing, a random projection of the user–item matrix). Users with no training
        /// engagement have no vector.
        case randomIndexing
        /// The embedding job's own model: a full refresh (``EmbeddingTrainer``, default
        /// ``EmbeddingConfiguration`` at d = ``Options/dimension``, one thread) trained on the training
        /// engagements only, its user vectors as the runtime serves them (users below the engagement
        /// threshold have none).
        case trained

        public var description: String {
            switch self {
            case .community(let noise): "planted community vectors, noise σ = \(noise)"
            case .randomIndexing: "random indexing of training engagements"
            case .trained: "the embedding job's full refresh on the training engagements"
            }
        }
    }

    public struct Options: Sendable {
        /// Events generated (engagements are about 9% of them). Default 10,000,000.
        public var events = 10_000_000
        /// The generator's seed (its other settings are the defaults: 100,000 users, 20,000 items,
        /// 20 communities of 500 items, affinity 0.6). Default 42.
        public var seed: UInt64 = 42
        /// d of the user vectors. Default 32.
        public var dimension = 32
        /// The share of each item's distinct engagers held out, the latest by first engagement
        /// (at least one). Default 0.1.
        public var holdOutFraction = 0.1
        /// Negatives drawn per positive, for each of the two negative sets. Default 4.
        public var negativesPerPositive = 4
        public var embeddings: [Embedding] = [.community(noise: 1.0), .randomIndexing, .trained]
        /// The look-alike configuration (its β is the headline row; ``extraBetas`` add rows).
        public var configuration = LookalikeConfiguration()
        /// Further β values reported as ablations (1: global only, 0: local only).
        public var extraBetas: [Double] = [1, 0]
        /// Seed of the vectors and of the negative draws. Default 7.
        public var samplingSeed: UInt64 = 7

        public init() {}
    }

    /// One method's AUCs.
    public struct Row: Sendable {
        public var method: String
        /// Positives against negatives (random user, random evaluated item): across items.
        public var pooledAUC: Double
        /// Per item, positives against negatives (random non-engager, same item), averaged over items.
        public var perItemAUC: Double
    }

    /// The results for one embedding.
    public struct Table: Sendable {
        public var embedding: Embedding
        public var items: Int
        public var positives: Int
        public var rows: [Row]
        public var summarySeconds: Double
    }

    public struct Report: Sendable {
        public var description: [String]
        public var tables: [Table]
        /// The report as Markdown lines (what docs/evaluation.md shows).
        public var lines: [String]
    }

    /// Runs the evaluation. `progress` receives a line per phase.
    public static func run(_ options: Options = Options(), progress: (String) -> Void = { _ in }) -> Report {
        let c = options.configuration
        precondition(c.validate().isEmpty, "invalid configuration: \(c.validate())")
        var generator = GeneratorConfiguration(seed: options.seed, events: options.events)
        generator.seed = options.seed
        progress("generating \(options.events) events (seed \(options.seed))")
        let data = InternedEngagements(generator)

        // Distinct engagers per item in order of first engagement; hold out the latest.
        var engagers = [[Int32]](repeating: [], count: data.itemCount)
        var engaged = Set<Int64>()
        for e in data.engagements where engaged.insert(pairKey(e.item, e.user)).inserted {
            engagers[Int(e.item)].append(e.user)
        }
        var heldOut = Set<Int64>()
        var heldOutByItem = [[Int32]](repeating: [], count: data.itemCount)
        for item in engagers.indices where engagers[item].count >= 2 {
            let list = engagers[item]
            let h = max(1, Int(Double(list.count) * options.holdOutFraction))
            for user in list.suffix(h) {
                heldOut.insert(pairKey(Int32(item), user))
                heldOutByItem[item].append(user)
            }
        }
        var seeds = SeedLists(configuration: c)
        var trainItems = [[Int32]](repeating: [], count: data.userCount)
        var popularity = [Double](repeating: 0, count: data.itemCount)
        var seenTrain = Set<Int64>()
        var trainEngagements: [Engagement] = []
        for e in data.engagements where !heldOut.contains(pairKey(e.item, e.user)) {
            seeds.apply(e)
            trainEngagements.append(e)
            if seenTrain.insert(pairKey(e.item, e.user)).inserted {
                trainItems[Int(e.user)].append(e.item)
                popularity[Int(e.item)] += 1
            }
        }
        let description = [
            "stream: EventGenerator seed \(options.seed), \(data.events) events, \(data.engagements.count) engagements, "
                + "\(data.userCount) users and \(data.itemCount) items with an engagement, "
                + "\(generator.communities) planted communities",
            "hold-out: the latest \(Int(options.holdOutFraction * 100))% of each item's distinct engagers (at least one); "
                + "\(heldOut.count) (user, item) pairs held out, the rest fed to the seed lists in stream order",
            "look-alike: S = \(c.seedsPerItem), minimum seeds \(c.minimumSeeds), k = \(c.clusters), "
                + "\(c.kMeansIterations) Lloyd iterations, τ_g = \(c.globalTemperature), τ = \(c.localTemperature), "
                + "β = \(c.beta); d = \(options.dimension)",
        ]
        progress(description.joined(separator: "\n"))

        var tables: [Table] = []
        for embedding in options.embeddings {
            let vectors = makeVectors(
                embedding, data: data, trainItems: trainItems, trainEngagements: trainEngagements, generator: generator,
                options: options)
            tables.append(
                evaluate(
                    vectors: vectors, embedding: embedding, seeds: seeds, engaged: engaged,
                    heldOutByItem: heldOutByItem, popularity: popularity, options: options))
            progress("\(embedding): done")
        }
        var lines = description.map { "- \($0)" }
        for table in tables {
            lines.append("")
            lines.append(
                "User vectors: \(table.embedding). \(table.items) items pass the gate and have a held-out engager "
                    + "with a vector; \(table.positives) positives, \(options.negativesPerPositive) negatives per "
                    + "positive in each set; summaries of those items built in \(format(table.summarySeconds, 2)) s.")
            lines.append("")
            lines.append("| method | pooled AUC (negatives: random user, random item) | mean per-item AUC (negatives: random non-engagers of the item) |")
            lines.append("|---|---|---|")
            for row in table.rows {
                lines.append("| \(row.method) | \(format(row.pooledAUC, 4)) | \(format(row.perItemAUC, 4)) |")
            }
        }
        return Report(description: description, tables: tables, lines: lines)
    }

    @inline(__always) static func pairKey(_ item: Int32, _ user: Int32) -> Int64 {
        Int64(item) << 32 | Int64(UInt32(bitPattern: user))
    }

    static func makeVectors(
        _ embedding: Embedding, data: InternedEngagements, trainItems: [[Int32]], trainEngagements: [Engagement],
        generator: GeneratorConfiguration, options: Options
    ) -> DenseUserVectors {
        let d = options.dimension
        var random = HarnessRandom(seed: options.samplingSeed ^ 0xE3BE_DD16)
        var vectors = DenseUserVectors(dimension: d, version: 1, userCount: data.userCount)
        switch embedding {
        case .community(let noise):
            let centroids = (0..<generator.communities).map { _ in
                var v = random.gaussianVector(d)
                let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
                for j in v.indices { v[j] /= norm }
                return v
            }
            for user in 0..<data.userCount {
                let centroid = centroids[plantedCommunity(rank: data.userRanks[user], configuration: generator)]
                let z = random.gaussianVector(d)
                vectors.set(user: Int32(user), (0..<d).map { centroid[$0] + Float(noise) * z[$0] })
            }
        case .randomIndexing:
            let codes = (0..<data.itemCount).map { _ in random.gaussianVector(d) }
            for user in 0..<data.userCount where !trainItems[user].isEmpty {
                var v = [Float](repeating: 0, count: d)
                for item in trainItems[user] {
                    for j in 0..<d { v[j] += codes[Int(item)][j] }
                }
                vectors.set(user: Int32(user), v)
            }
        case .trained:
            var configuration = EmbeddingConfiguration()
            configuration.dimension = d
            let end = (trainEngagements.map(\.time.millis).max() ?? 0) + 1
            let start = trainEngagements.map(\.time.millis).min() ?? 0
            guard
                let model = try? EmbeddingTrainer.fullRefresh(
                    parent: nil, engagements: trainEngagements,
                    window: CooccurrenceWindow(end: EventTime(millis: end), lengthMillis: end - start + 1),
                    configuration: configuration)
            else { preconditionFailure("the default embedding configuration trains") }
            for user in 0..<data.userCount {
                if let v = model.users.vector(Int32(user)) { vectors.set(user: Int32(user), v) }
            }
        }
        return vectors
    }

    static func evaluate(
        vectors: DenseUserVectors, embedding: Embedding, seeds: SeedLists, engaged: Set<Int64>,
        heldOutByItem: [[Int32]], popularity: [Double], options: Options
    ) -> Table {
        let c = options.configuration
        let d = options.dimension
        // The summary job, as the runtime runs it.
        let batch = seeds.summaryBatch()
        let clock = ContinuousClock()
        let start = clock.now
        var summaries = SeedSummaries()
        summaries.apply(SeedSummaryBuilder(configuration: c).run(batch, vectors: vectors))
        let summarySeconds = seconds(clock.now - start)

        let withVector = (0..<Int32(vectors.userCount)).filter { vectors.hasVector(user: $0) }
        func unit(_ user: Int32) -> [Float]? {
            guard var v = vectors.vector(user: user) else { return nil }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { return nil }
            for j in v.indices { v[j] /= norm }
            return v
        }
        // Items evaluated: a summary, and a held-out engager with a vector.
        var items: [Int32] = []
        var meanSeed: [Int32: [Float]] = [:]
        for task in batch.tasks where summaries.summary(of: task.item) != nil {
            guard heldOutByItem[Int(task.item)].contains(where: { vectors.hasVector(user: $0) }) else { continue }
            items.append(task.item)
            var mean = [Float](repeating: 0, count: d)
            for user in task.users {
                guard let v = unit(user) else { continue }
                for j in 0..<d { mean[j] += v[j] }
            }
            meanSeed[task.item] = mean
        }

        var random = HarnessRandom(seed: options.samplingSeed)
        func nonEngager(of item: Int32) -> Int32 {
            while true {
                let user = withVector[random.index(withVector.count)]
                if !engaged.contains(pairKey(item, user)) { return user }
            }
        }
        // (user, item) pairs: positives, same-item negatives, random-item negatives.
        var positives: [(Int32, Int32)] = []
        var sameItem: [(Int32, Int32)] = []
        var randomItem: [(Int32, Int32)] = []
        for item in items {
            for user in heldOutByItem[Int(item)] where vectors.hasVector(user: user) {
                positives.append((user, item))
                for _ in 0..<options.negativesPerPositive {
                    sameItem.append((nonEngager(of: item), item))
                    let other = items[random.index(items.count)]
                    randomItem.append((nonEngager(of: other), other))
                }
            }
        }

        var methods: [(String, (Int32, Int32) -> Double)] = []
        for beta in [c.beta] + options.extraBetas {
            var config = c
            config.beta = beta
            var scorer = LookalikeScorer(configuration: config)
            let label =
                beta == c.beta
                ? "look-alike score (β = \(beta))"
                : beta == 1 ? "ablation: global self-attention only (β = 1)"
                : beta == 0 ? "ablation: local attention only (β = 0)" : "look-alike score (β = \(beta))"
            methods.append(
                (
                    label,
                    { user, item in
                        guard let u = unit(user), let s = summaries.summary(of: item) else { return -2 }
                        return Double(scorer.score(unitUser: u, summary: s))
                    }
                ))
        }
        methods.append(
            (
                "baseline: cosine to the mean seed embedding",
                { user, item in
                    guard let u = unit(user), let m = meanSeed[item] else { return -2 }
                    let norm = m.reduce(0) { $0 + $1 * $1 }.squareRoot()
                    return norm > 0 ? Double(zip(u, m).reduce(0) { $0 + $1.0 * $1.1 } / norm) : 0
                }
            ))
        methods.append(("baseline: item popularity (training engagers)", { _, item in popularity[Int(item)] }))

        var rows: [Row] = []
        for (name, score) in methods {
            let p = positives.map { score($0.0, $0.1) }
            let pooled = areaUnderCurve(positives: p, negatives: randomItem.map { score($0.0, $0.1) })
            // Per item: the item's positives against its own negatives.
            var byItemPositive: [Int32: [Double]] = [:]
            var byItemNegative: [Int32: [Double]] = [:]
            for (pair, s) in zip(positives, p) { byItemPositive[pair.1, default: []].append(s) }
            for pair in sameItem { byItemNegative[pair.1, default: []].append(score(pair.0, pair.1)) }
            var total = 0.0
            for item in items {
                total += areaUnderCurve(positives: byItemPositive[item] ?? [], negatives: byItemNegative[item] ?? [])
            }
            rows.append(Row(method: name, pooledAUC: pooled, perItemAUC: total / Double(max(items.count, 1))))
        }
        return Table(
            embedding: embedding, items: items.count, positives: positives.count, rows: rows,
            summarySeconds: summarySeconds)
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }

    static func format(_ x: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", x) }
}
