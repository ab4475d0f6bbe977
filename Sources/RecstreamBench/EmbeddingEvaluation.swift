import Foundation
import RecstreamCore
import RecstreamTraining

/// The offline evaluation of the embedding job (docs/evaluation.md), for a `recstream evaluate
/// embeddings` command.
///
/// Stream: ``EventGenerator`` with planted user communities (each user draws most exposures from
/// its community's list), `days` days of event time, no late or duplicated events. Days 0 ..<
/// days − 1 train; the last day is held out. For every test user (at least one training
/// engagement and at least one held-out engagement of an item not exposed to it during training)
/// each method ranks the items not exposed to the user during training (as the exposure filter
/// would drop them) and recall@50 = |top 50 ∩ held-out items| / |held-out items|, averaged over
/// users. Methods:
/// - (a) a full refresh on the training days;
/// - (b) a stale full refresh on the first `staleDays` days, then one incremental update per
///   remaining training day;
/// - (c) incremental updates only, one per training day, from an empty model (a cold start);
/// - popularity: the most engaged items of the training days;
/// - ItemCF: Σ of exact ItemCF similarities (top 200 neighbours per item) to the user's training items.
/// Embedding methods retrieve through the IVF index at the configured nprobe; the IVF row compares
/// it with brute force on model (a).
public enum EmbeddingEvaluation {
    public struct Settings: Sendable {
        public var generator: GeneratorConfiguration
        public var days = 8
        public var staleDays = 4
        public var k = 50
        public var embedding = EmbeddingConfiguration()
        public var threads = 1

        /// 20,000 users, 10,000 items in 20 communities of 500, 4,000,000 events over 8 days
        /// (about 370,000 engagements), seed 42.
        public init() {
            var g = GeneratorConfiguration()
            g.seed = 42
            g.users = 20_000
            g.items = 10_000
            g.communities = 20
            g.itemsPerCommunity = 500
            g.events = 4_000_000
            g.lateFraction = 0
            g.duplicateFraction = 0
            generator = g
        }
    }

    public static func run(_ settings: Settings = Settings(), progress: ((String) -> Void)? = nil) -> EvaluationTable {
        let day = EngagementLog.dayMillis
        var g = settings.generator
        g.eventsPerSecond = Double(g.events) / Double(settings.days * 86_400)
        let start = g.startTime.millis
        progress?("generating \(g.events) events")
        // Engagements by day; exposures and engagements of the training days as (user, item) keys.
        var byDay = [[Engagement]](repeating: [], count: settings.days)
        var seenKeys: [UInt64] = []
        for event in EventGenerator(g) {
            guard let user = Int32(event.userID.dropFirst()), let item = Int32(event.itemID.dropFirst()) else { continue }
            let d = Int((event.time.millis - start) / day)
            guard d >= 0 && d < settings.days else { continue }
            let e = Engagement(user: user - 1, item: item - 1, type: event.type, time: event.time)
            if d < settings.days - 1 { seenKeys.append(key(e.user, e.item)) }
            if settings.embedding.weights[event.type] > 0 { byDay[d].append(e) }
        }
        let exposed = KeySet(seenKeys)
        let trainDays = settings.days - 1
        let training = Array(byDay[0..<trainDays].joined())
        let trainEnd = EventTime(millis: start + Int64(trainDays) * day - 1)

        // Test users and their held-out items.
        var heldOut: [Int32: Set<Int32>] = [:]
        var trained = Set<Int32>()
        for e in training { trained.insert(e.user) }
        for e in byDay[trainDays] where trained.contains(e.user) && !exposed.contains(e.user, e.item) {
            heldOut[e.user, default: []].insert(e.item)
        }
        let testUsers = heldOut.keys.sorted()
        var table = EvaluationTable(
            settings: settings, engagements: byDay.map(\.count), testUsers: testUsers.count,
            heldOutItems: heldOut.values.reduce(0) { $0 + $1.count })

        func recall(_ rank: (Int32, (Int32) -> Bool) -> [Int32]) -> Double {
            var total = 0.0
            for user in testUsers {
                let truth = heldOut[user] ?? []
                let top = rank(user) { exposed.contains(user, $0) }
                total += Double(top.prefix(settings.k).filter { truth.contains($0) }.count) / Double(truth.count)
            }
            return total / Double(max(testUsers.count, 1))
        }

        func embeddingRow(_ name: String, _ model: EmbeddingModel, seconds: Double) {
            let retriever = EmbeddingRetriever(model: model)
            let r = recall { user, excluded in
                retriever.retrieve(user: user, k: settings.k, excluding: excluded).items.map(\.item)
            }
            var sources = [0, 0, 0]
            for user in testUsers { sources[Int(retriever.retrieve(user: user, k: 1).source.rawValue)] += 1 }
            table.rows.append(
                EvaluationTable.Row(
                    method: name, recall: r, trainSeconds: seconds,
                    note: "model \(model.metadata.version) (\(model.metadata.kind)); \(model.users.vectorCount) users, "
                        + "\(model.items.vectorCount) items with vectors; test users served by own vector "
                        + "\(sources[0]), engaged-items mean \(sources[1]), popularity \(sources[2])"))
        }

        let c = settings.embedding
        let window = CooccurrenceWindow(end: trainEnd, lengthMillis: Int64(trainDays) * day)
        progress?("(a) full refresh")
        let (fullModel, fullSeconds) = Stopwatch.time {
            try? ParallelEmbeddingTrainer.fullRefresh(
                parent: nil, engagements: training, window: window, configuration: c, threads: settings.threads)
        }
        guard let full = fullModel else { return table }
        let m = full.metadata.metrics
        progress?(
            "(a) \(m.examples) positives, \(m.batches) batches, mean loss \(ReportFormat.fixed(m.firstEpochLoss, 3)) "
                + "(first epoch) → \(ReportFormat.fixed(m.lastEpochLoss, 3)) (last)")
        embeddingRow("(a) full refresh, days 0–\(trainDays - 1)", full, seconds: fullSeconds)

        progress?("(b) stale full + incrementals")
        let staleClock = Stopwatch()
        let staleEnd = EventTime(millis: start + Int64(settings.staleDays) * day - 1)
        var stale = try? ParallelEmbeddingTrainer.fullRefresh(
            parent: nil, engagements: byDay[0..<settings.staleDays].joined(),
            window: CooccurrenceWindow(end: staleEnd, lengthMillis: Int64(settings.staleDays) * day), configuration: c,
            threads: settings.threads)
        for d in settings.staleDays..<trainDays {
            guard let served = stale else { break }
            stale = try? ParallelEmbeddingTrainer.incremental(
                served: served, engagements: byDay[d], configuration: c, threads: settings.threads)
        }
        if let stale {
            embeddingRow(
                "(b) full on days 0–\(settings.staleDays - 1) + \(trainDays - settings.staleDays) daily incrementals",
                stale, seconds: staleClock.wallSeconds)
        }

        progress?("(c) incrementals from a cold start")
        let coldClock = Stopwatch()
        var cold: EmbeddingModel? = EmbeddingModel(configuration: c)
        for d in 0..<trainDays {
            guard let served = cold else { break }
            cold = try? ParallelEmbeddingTrainer.incremental(
                served: served, engagements: byDay[d], configuration: c, threads: settings.threads)
        }
        if let cold {
            embeddingRow("(c) \(trainDays) daily incrementals from a cold start", cold, seconds: coldClock.wallSeconds)
        }

        progress?("baselines")
        var counts: [Int32: Int] = [:]
        for e in training { counts[e.item, default: 0] += 1 }
        let popular = counts.keys.sorted { (counts[$0] ?? 0, $1) > (counts[$1] ?? 0, $0) }
        func byPopularity(_ excluded: (Int32) -> Bool) -> [Int32] {
            var out: [Int32] = []
            for item in popular where !excluded(item) {
                out.append(item)
                if out.count == settings.k { break }
            }
            return out
        }
        table.rows.append(
            EvaluationTable.Row(
                method: "popularity (training days)", recall: recall { _, excluded in byPopularity(excluded) },
                trainSeconds: 0, note: "most engaged items, exposed ones dropped"))

        let (exact, itemCFSeconds) = Stopwatch.time { () -> ExactSimilarities in
            var cc = CooccurrenceConfiguration()
            cc.computesSwing = false
            cc.windowMillis = Int64(trainDays) * day
            return ExactSimilarities.compute(
                engagements: training, window: CooccurrenceWindow(end: trainEnd, lengthMillis: cc.windowMillis),
                configuration: cc)
        }
        var histories: [Int32: Set<Int32>] = [:]
        for e in training { histories[e.user, default: []].insert(e.item) }
        let itemCF = recall { user, excluded in
            var scores: [Int32: Double] = [:]
            for seed in (histories[user] ?? []).sorted() {
                for n in exact.similar(item: seed, method: .itemCF, k: 200) { scores[n.item, default: 0] += n.score }
            }
            let ranked = scores.filter { !excluded($0.key) }.sorted { a, b in
                a.value != b.value ? a.value > b.value : a.key < b.key
            }.map(\.key)
            return ranked.count >= settings.k ? ranked : ranked + byPopularity { excluded($0) || ranked.contains($0) }
        }
        table.rows.append(
            EvaluationTable.Row(
                method: "ItemCF (exact, training days)", recall: itemCF, trainSeconds: itemCFSeconds,
                note: "Σ sim(i, j) over the user's training items, top 200 neighbours each; popularity fills up"))

        progress?("IVF against brute force")
        let retriever = EmbeddingRetriever(model: full)
        var ivfRecall = 0.0
        var ivfTime = 0.0
        var exactTime = 0.0
        var n = 0
        for user in testUsers where full.users.hasVector(user) {
            let (a, ta) = Stopwatch.time { retriever.retrieve(user: user, k: 100) }
            let (b, tb) = Stopwatch.time { retriever.retrieve(user: user, k: 100, exact: true) }
            let truth = Set(b.items.map(\.item))
            ivfRecall += Double(a.items.filter { truth.contains($0.item) }.count) / Double(max(truth.count, 1))
            ivfTime += ta
            exactTime += tb
            n += 1
        }
        table.ivfRecallAt100 = ivfRecall / Double(max(n, 1))
        table.ivfSpeedup = exactTime / max(ivfTime, 1e-12)
        table.ivfLists = retriever.index.listCount
        table.ivfProbes = c.ivfProbes
        table.ivfItems = retriever.index.itemCount
        table.ivfQueries = n
        return table
    }

    @inline(__always) static func key(_ user: Int32, _ item: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: user)) << 32 | UInt64(UInt32(bitPattern: item))
    }

    /// A sorted set of (user, item) keys: 8 bytes per pair, a binary search per lookup.
    struct KeySet {
        let keys: [UInt64]
        init(_ unsorted: [UInt64]) {
            var k = unsorted.sorted()
            var w = 0
            for r in k.indices where r == 0 || k[r] != k[r - 1] {
                k[w] = k[r]
                w += 1
            }
            k.removeLast(k.count - w)
            keys = k
        }
        func contains(_ user: Int32, _ item: Int32) -> Bool {
            let x = EmbeddingEvaluation.key(user, item)
            var lo = 0
            var hi = keys.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if keys[mid] < x { lo = mid + 1 } else { hi = mid }
            }
            return lo < keys.count && keys[lo] == x
        }
    }
}

/// The evaluation's results and their rendering as docs/evaluation.md's table.
public struct EvaluationTable: Sendable {
    public struct Row: Sendable {
        public var method: String
        /// Mean recall@k over the test users.
        public var recall: Double
        /// Wall seconds to train (all runs of the method).
        public var trainSeconds: Double
        public var note: String
    }

    public var settings: EmbeddingEvaluation.Settings
    /// Engagements per day.
    public var engagements: [Int]
    public var testUsers: Int
    public var heldOutItems: Int
    public var rows: [Row] = []
    public var ivfRecallAt100 = 0.0
    public var ivfSpeedup = 0.0
    public var ivfLists = 0
    public var ivfProbes = 0
    public var ivfItems = 0
    public var ivfQueries = 0

    init(settings: EmbeddingEvaluation.Settings, engagements: [Int], testUsers: Int, heldOutItems: Int) {
        self.settings = settings
        self.engagements = engagements
        self.testUsers = testUsers
        self.heldOutItems = heldOutItems
    }

    /// Markdown: the setting, the recall table and the IVF line.
    public var lines: [String] {
        let g = settings.generator
        let c = settings.embedding
        var out = [
            "stream: EventGenerator seed \(g.seed), \(g.users) users, \(g.items) items, \(g.communities) communities of "
                + "\(g.itemsPerCommunity), \(g.events) events over \(settings.days) days; engagements per day "
                + engagements.map(String.init).joined(separator: ", "),
            "held out: day \(settings.days - 1); \(testUsers) test users, \(heldOutItems) held-out (user, item) pairs; "
                + "exposed items dropped",
            "embeddings: d \(c.dimension), τ \(c.temperature), batch \(c.batchSize) + \(c.randomNegatives) random, "
                + "\(c.epochs) epochs (incremental \(c.incrementalEpochs)), η \(c.learningRate), log-Q \(c.logQCorrection), "
                + "min engagements \(c.minEngagements), seed \(c.seed), \(settings.threads) thread(s)",
            "",
            "| method | recall@\(settings.k) | train (s) | notes |",
            "|---|---|---|---|",
        ]
        for r in rows {
            out.append(
                "| \(r.method) | \(ReportFormat.fixed(r.recall, 4)) | \(ReportFormat.fixed(r.trainSeconds, 1)) | \(r.note) |")
        }
        out.append("")
        out.append(
            "IVF on model (a): \(ivfItems) items, \(ivfLists) lists, nprobe \(ivfProbes): recall@100 vs brute force "
                + "\(ReportFormat.fixed(ivfRecallAt100, 4)) over \(ivfQueries) users, speedup "
                + "\(ReportFormat.fixed(ivfSpeedup, 1))×")
        return out
    }
}
