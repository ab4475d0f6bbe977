import Foundation
import RecstreamCore

/// Throughput and latency of the look-alike core, behind `recstream bench lookalike` and the figures
/// in docs/lookalike.md. Timing lives here, not in RecstreamCore, which has no clock. Run it from a
/// release build. CPU rates are per second of the calling thread's CPU time (unaffected by other
/// processes taking turns on the core); latencies are wall time.
public enum LookalikeBenchmark {
    public struct Options: Sendable {
        /// Engagements applied to the seed lists. Default 3,000,000.
        public var engagements = 3_000_000
        /// Items summarised to time the summary job (the figure is scaled to 10,000). Default 1,000.
        public var summaryItems = 1_000
        /// d of the user vectors. Default 64.
        public var dimension = 64
        /// Score requests timed (each for ``itemsPerRequest`` items). Default 2,000.
        public var requests = 2_000
        public var itemsPerRequest = 1_000
        /// Users with vectors, for the scoring and the brute-force expansion. Default 100,000.
        public var users = 100_000
        public var configuration = LookalikeConfiguration()
        public var seed: UInt64 = 11

        public init() {}
    }

    /// The report lines.
    public static func report(_ options: Options = Options()) -> [String] {
        let c = options.configuration
        var lines = [
            "look-alike benchmark: S = \(c.seedsPerItem), k = \(c.clusters), \(c.kMeansIterations) Lloyd iterations at most, "
                + "d = \(options.dimension), one thread"
        ]
        lines.append(seedUpdates(options))
        let (summaryLine, summaries) = summaryJob(options)
        lines.append(contentsOf: summaryLine)
        lines.append(contentsOf: scoring(options, summaries: summaries))
        return lines
    }

    /// Seed-list updates per CPU second on a synthetic stream (50,000 items, 200,000 users, Zipf
    /// item popularity, 20% repeats): most popular items' lists sit at the cap and evict.
    static func seedUpdates(_ options: Options) -> String {
        var s = SyntheticEngagementConfiguration()
        s.seed = options.seed
        s.users = 200_000
        s.items = 50_000
        s.communities = 50
        s.itemsPerCommunity = 2_000
        s.engagements = options.engagements
        let stream = Array(SyntheticEngagements(s))
        var seeds = SeedLists(configuration: options.configuration)
        var watermark = EventTime(millis: 0)
        let wallStart = ContinuousClock.now
        let cpuStart = Stopwatch.threadCPUSeconds()
        for e in stream {
            if e.time > watermark { watermark = e.time }
            seeds.apply(e, watermark: watermark)
        }
        let cpu = Stopwatch.threadCPUSeconds() - cpuStart
        let wall = seconds(ContinuousClock.now - wallStart)
        var changes = FamilyChanges()
        let drainStart = Stopwatch.threadCPUSeconds()
        seeds.drainChanges(into: &changes)
        let drain = Stopwatch.threadCPUSeconds() - drainStart
        let bytes = changes.records.reduce(0) { $0 + $1.key.count + ($1.value?.count ?? 0) }
        let counters = seeds.counters
        return "seed lists: \(format(Double(stream.count) / cpu)) updates/s of CPU time (\(format(cpu * 1e9 / Double(stream.count))) ns each; "
            + "\(format(Double(stream.count) / wall)) per wall second) over \(stream.count) engagements, "
            + "\(seeds.itemCount) items, \(counters.evicted) evictions; \(seeds.approximateBytes / 1_048_576) MiB held "
            + "(\(format(Double(seeds.approximateBytes) / Double(max(seeds.totalSeeds, 1)))) bytes per seed); "
            + "draining all \(changes.records.count) records: \(format(drain * 1e3)) ms, \(bytes / 1_048_576) MiB"
    }

    /// Planted community vectors for `users` users: 20 random unit centroids plus N(0, I/d) noise.
    static func communityVectors(_ options: Options) -> DenseUserVectors {
        var random = HarnessRandom(seed: options.seed)
        let d = options.dimension
        let centroids = (0..<20).map { _ in random.gaussianVector(d) }
        var vectors = DenseUserVectors(dimension: d, version: 1, userCount: options.users)
        for user in 0..<options.users {
            let centroid = centroids[user % 20]
            let z = random.gaussianVector(d)
            vectors.set(user: Int32(user), (0..<d).map { centroid[$0] + z[$0] })
        }
        return vectors
    }

    /// The summary job on `summaryItems` items with full seed lists (S seeds each, from two or three
    /// communities), scaled to 10,000 items.
    static func summaryJob(_ options: Options) -> ([String], SeedSummaries) {
        let c = options.configuration
        let vectors = communityVectors(options)
        var random = HarnessRandom(seed: options.seed ^ 0x5A)
        var seeds = SeedLists(configuration: c)
        var time: Int64 = 1_793_491_200_000
        for item in 0..<Int32(options.summaryItems) {
            let communities = [random.index(20), random.index(20), random.index(20)]
            for _ in 0..<c.seedsPerItem {
                let community = communities[random.index(3)]
                let user = Int32(community + 20 * random.index(options.users / 20))
                time += 1
                seeds.apply(Engagement(user: user, item: item, type: .click, time: EventTime(millis: time)))
            }
        }
        let batch = seeds.summaryBatch()
        let builder = SeedSummaryBuilder(configuration: c)
        let cpuStart = Stopwatch.threadCPUSeconds()
        let wallStart = ContinuousClock.now
        let outcomes = builder.run(batch, vectors: vectors)
        let cpu = Stopwatch.threadCPUSeconds() - cpuStart
        let wall = seconds(ContinuousClock.now - wallStart)
        var summaries = SeedSummaries()
        summaries.apply(outcomes)
        let seedsPerItem = Double(batch.tasks.reduce(0) { $0 + $1.users.count }) / Double(max(batch.tasks.count, 1))
        let scale = 10_000 / Double(max(batch.tasks.count, 1))
        // The same job once more at the gate's minimum, 100 seeds per item.
        var small = c
        small.seedsPerItem = c.minimumSeeds
        let smallBatch = SeedSummaryBatch(
            builtAt: batch.builtAt,
            tasks: batch.tasks.map {
                SeedSummaryTask(
                    item: $0.item, seedCount: c.minimumSeeds, users: Array($0.users.prefix(c.minimumSeeds)),
                    changeStamp: $0.changeStamp)
            })
        let smallStart = Stopwatch.threadCPUSeconds()
        _ = builder.run(smallBatch, vectors: vectors)
        let smallCPU = Stopwatch.threadCPUSeconds() - smallStart
        var bytes = 0
        var changes = FamilyChanges()
        summaries.drainChanges(into: &changes)
        for r in changes.records { bytes += r.key.count + (r.value?.count ?? 0) }
        return (
            [
                "summary job: \(format(cpu * scale)) s of CPU per 10,000 changed items with \(format(seedsPerItem)) seeds each "
                    + "(measured on \(batch.tasks.count) items: \(format(cpu)) s CPU, \(format(wall)) s wall; "
                    + "\(format(cpu * 1e3 / Double(max(batch.tasks.count, 1)))) ms per item); "
                    + "\(format(smallCPU * scale)) s per 10,000 items at \(c.minimumSeeds) seeds; "
                    + "summary record \(bytes / max(changes.records.count, 1)) bytes, held in memory "
                    + "\(summaries.approximateBytes / max(summaries.count, 1)) bytes per item"
            ], summaries
        )
    }

    /// Latency of score requests for `itemsPerRequest` summarised items, and of a brute-force
    /// audience expansion over every user.
    static func scoring(_ options: Options, summaries: SeedSummaries) -> [String] {
        let c = options.configuration
        let vectors = communityVectors(options)
        // Seed lists that pass the gate for every summarised item (the scorer checks the count).
        var seeds = SeedLists(configuration: c)
        var time: Int64 = 1_793_491_200_000
        let itemCount = min(options.summaryItems, options.itemsPerRequest)
        for item in 0..<Int32(itemCount) {
            for user in 0..<Int32(c.minimumSeeds) {
                time += 1
                seeds.apply(Engagement(user: user, item: item, type: .click, time: EventTime(millis: time)))
            }
        }
        var items = (0..<Int32(itemCount)).map { $0 }
        while items.count < options.itemsPerRequest { items.append(items[items.count % itemCount]) }
        var scorer = LookalikeScorer(configuration: c)
        var results: [LookalikeScore] = []
        results.reserveCapacity(items.count)
        var random = HarnessRandom(seed: options.seed ^ 0x77)
        var latencies: [Double] = []
        latencies.reserveCapacity(options.requests)
        var checksum: Float = 0
        let users = (0..<options.requests).map { _ in vectors.vector(user: Int32(random.index(options.users))) ?? [] }
        for warmUp in 0..<min(50, users.count) {
            scorer.score(user: users[warmUp], items: items, seeds: seeds, summaries: summaries, into: &results)
        }
        let clock = ContinuousClock()
        var cpuLatencies: [Double] = []
        cpuLatencies.reserveCapacity(options.requests)
        for user in users {
            let cpuStart = Stopwatch.threadCPUSeconds()
            let start = clock.now
            scorer.score(user: user, items: items, seeds: seeds, summaries: summaries, into: &results)
            latencies.append(seconds(clock.now - start))
            cpuLatencies.append(Stopwatch.threadCPUSeconds() - cpuStart)
            checksum += results[0].score
        }
        latencies.sort()
        cpuLatencies.sort()
        func percentile(_ values: [Double], _ p: Double) -> String {
            format(values[min(values.count - 1, Int(Double(values.count) * p))] * 1e3)
        }
        let scored = results.filter { $0.status == .scored }.count
        var lines = [
            "scoring: \(options.itemsPerRequest) items per request (\(scored) scored), \(options.requests) requests: "
                + "wall p50 \(percentile(latencies, 0.5)) ms, p99 \(percentile(latencies, 0.99)) ms, "
                + "max \(format(latencies.last.map { $0 * 1e3 } ?? 0)) ms; thread CPU p50 \(percentile(cpuLatencies, 0.5)) ms, "
                + "p99 \(percentile(cpuLatencies, 0.99)) ms (checksum \(format(Double(checksum))))"
        ]
        if let summary = summaries.summary(of: 0) {
            let seedSet = Set(seeds.seedUsers(of: 0))
            let start = clock.now
            let top = AudienceExpansion.expandExactly(
                summary: summary, seeds: seedSet, k: 1_000, vectors: vectors, configuration: c)
            let elapsed = seconds(clock.now - start)
            lines.append(
                "audience expansion, brute force: top \(top.count) of \(options.users) users in \(format(elapsed * 1e3)) ms (wall)")
        }
        return lines
    }

    static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }

    static func format(_ x: Double) -> String {
        if x >= 100 { return String(Int(x.rounded())) }
        return String(format: "%.3g", x)
    }
}
