import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamRuntime

/// The look-alike family measured through the runtime's own path (behind `recstream bench
/// lookalike`, next to the core figures of `LookalikeBenchmark`): seed lists fed through
/// ``InstanceState`` (id interning, co-occurrence and seeds, as ingest does), the summary job
/// (``LookalikeSummaryJob``: all items after a model is installed, then only changed ones), and
/// score requests answered by ``LookalikeEngine`` (id lookups under the engine lock, scoring outside
/// it): the server-side time of `POST /v1/lookalike/score` without HTTP and JSON. Run it from a
/// release build; latencies are wall time.
public enum LookalikeRuntimeBenchmark {
    public struct Options: Sendable {
        /// Items with full seed lists (S seeds each, from three of 20 communities). Default 2,000.
        public var items = 2_000
        /// Users with vectors (planted communities). Default 100,000.
        public var users = 100_000
        /// d. Default 64.
        public var dimension = 64
        /// Score requests timed, each for ``itemsPerRequest`` items. Default 2,000.
        public var requests = 2_000
        public var itemsPerRequest = 1_000
        public var configuration = LookalikeConfiguration()
        public var seed: UInt64 = 11

        public init() {}
    }

    /// The report as Markdown lines.
    public static func report(_ options: Options = Options()) async throws -> [String] {
        let c = options.configuration
        var random = SplitMix64(seed: options.seed)
        func index(_ bound: Int) -> Int { Int(random.next() % UInt64(bound)) }
        func gaussian() -> Float {
            let u1 = (Double(random.next() >> 11) + 1) * 0x1p-53
            let u2 = Double(random.next() >> 11) * 0x1p-53
            return Float((-2 * Foundation.log(u1)).squareRoot() * cos(2 * Double.pi * u2))
        }
        let d = options.dimension
        var instance = InstanceState(configuration: .default, lookalike: c)
        // Seeds: item i draws its users from three communities (user % 20 is the community).
        var time: Int64 = 1_793_491_200_000
        var engagements = 0
        let applyStart = ContinuousClock.now
        for item in 0..<options.items {
            let communities = [index(20), index(20), index(20)]
            for _ in 0..<c.seedsPerItem {
                let user = communities[index(3)] + 20 * index(options.users / 20)
                time += 1
                instance.apply(type: .click, time: EventTime(millis: time), userID: "u\(user)", itemID: "i\(item)")
                engagements += 1
            }
        }
        let applySeconds = (ContinuousClock.now - applyStart).seconds
        // Every user gets a vector (interned users by their index; the rest after them).
        var vectors = DenseUserVectors(dimension: d, version: 0, userCount: options.users)
        let centroids = (0..<20).map { _ in (0..<d).map { _ in gaussian() } }
        var userIDs: [String] = []
        for user in 0..<options.users {
            let id = "u\(user)"
            let index = instance.users.lookup(id) ?? Int32(instance.users.count + userIDs.count)
            if instance.users.lookup(id) == nil { userIDs.append(id) }
            vectors.set(user: index, (0..<d).map { centroids[user % 20][$0] + gaussian() })
        }
        let model = EmbeddingModel.withUserVectors(vectors, version: EmbeddingModelVersion(major: 1, minor: 0))
        let models = ServedModelSlot()
        models.install(ServedModel(model: model, retriever: EmbeddingRetriever(model: model)))
        let engine = StateEngine(
            configuration: RecstreamConfiguration(), version: "bench", bootstrapServers: "", instance: instance)
        let lookalike = LookalikeEngine(engine: engine, models: models, configuration: c)
        let job = LookalikeSummaryJob(
            lookalike: lookalike, metricsFactory: NOOPMetricsHandler.instance, logger: Logger(label: "bench"))
        let all = try await job.run()
        // A tenth of the items change: one new engager each.
        let changed = max(1, options.items / 10)
        engine.lock.withLock {
            for item in 0..<changed {
                time += 1
                engine.state.instance.apply(
                    type: .like, time: EventTime(millis: time), userID: "u\(item)", itemID: "i\(item)")
            }
        }
        let some = try await job.run()
        let idle = try await job.run()

        // Score requests: random users, the first itemsPerRequest items (repeated when fewer).
        let itemIDs = (0..<options.itemsPerRequest).map { "i\($0 % options.items)" }
        var latencies: [Double] = []
        var cpuLatencies: [Double] = []
        latencies.reserveCapacity(options.requests)
        cpuLatencies.reserveCapacity(options.requests)
        var scored = 0
        for n in 0..<(options.requests + 50) {
            let user = "u\(c.seedsPerItem > 0 ? index(options.users) : 0)"
            let cpuStart = Stopwatch.threadCPUSeconds()
            let start = ContinuousClock.now
            guard let answer = try? lookalike.score(userID: user, itemIDs: itemIDs) else { continue }
            let elapsed = (ContinuousClock.now - start).seconds
            if n >= 50 {
                latencies.append(elapsed)
                cpuLatencies.append(Stopwatch.threadCPUSeconds() - cpuStart)
            }
            scored = answer.items.filter { $0.status == .scored }.count
        }
        latencies.sort()
        cpuLatencies.sort()
        func percentile(_ p: Double, _ values: [Double]? = nil) -> Double {
            let values = values ?? latencies
            return values.isEmpty ? 0 : values[min(values.count - 1, Int(Double(values.count) * p))] * 1e3
        }

        // Expansion of one item: IVF candidates against the brute force.
        let k = 50
        let ivfStart = ContinuousClock.now
        let viaIndex = try await lookalike.expand(ExpansionRequest(itemID: "i0", seedUserIDs: nil, k: k, exact: false))
        let ivfSeconds = (ContinuousClock.now - ivfStart).seconds
        let exactStart = ContinuousClock.now
        let exact = try await lookalike.expand(ExpansionRequest(itemID: "i0", seedUserIDs: nil, k: k, exact: true))
        let exactSeconds = (ContinuousClock.now - exactStart).seconds
        let recall =
            Double(Set(viaIndex.users.map(\.userID)).intersection(exact.users.map(\.userID)).count)
            / Double(max(exact.users.count, 1))

        func f(_ x: Double, _ digits: Int = 2) -> String { String(format: "%.\(digits)f", x) }
        return [
            "Runtime path (`LookalikeEngine`, `LookalikeSummaryJob`): \(options.items) items with \(c.seedsPerItem) seeds "
                + "each, \(options.users) users with d = \(d) vectors, k = \(c.clusters); wall time on one thread.",
            "",
            "| what | figure |",
            "|---|---|",
            "| engagements through `InstanceState.apply` (interning, co-occurrence, seeds) | \(engagements) in \(f(applySeconds)) s: "
                + "\(f(Double(engagements) / applySeconds / 1e3, 0)) k/s |",
            "| summary job, first run (every item; IVF index over \(options.users) users built) | \(all.items) items: build "
                + "\(f(all.buildSeconds)) s (\(f(all.buildSeconds * 1e3 / Double(max(all.items, 1)))) ms per item, "
                + "\(f(all.buildSeconds * 10_000 / Double(max(all.items, 1)), 1)) s per 10,000), whole run \(f(all.seconds)) s |",
            "| summary job, \(changed) changed items | \(some.items) items rebuilt in \(f(some.buildSeconds)) s "
                + "(\(f(some.buildSeconds * 10_000 / Double(max(some.items, 1)), 1)) s per 10,000 changed items) |",
            "| summary job, nothing changed | \(idle.items) items, \(f(idle.seconds * 1e3)) ms |",
            "| score request, \(options.itemsPerRequest) items (\(scored) scored), \(latencies.count) requests | "
                + "wall p50 \(f(percentile(0.5), 3)) ms, p99 \(f(percentile(0.99), 3)) ms, max \(f(percentile(1), 3)) ms; "
                + "thread CPU p50 \(f(percentile(0.5, cpuLatencies), 3)) ms, p99 \(f(percentile(0.99, cpuLatencies), 3)) ms |",
            "| expansion k = \(k), IVF (\(viaIndex.candidates) candidates) | \(f(ivfSeconds * 1e3, 1)) ms, recall@\(k) "
                + "against exact \(f(recall, 2)) |",
            "| expansion k = \(k), exact (\(exact.candidates) users) | \(f(exactSeconds * 1e3, 1)) ms |",
        ]
    }
}
