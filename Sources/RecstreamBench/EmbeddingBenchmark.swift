import Foundation
import RecstreamCore
import RecstreamTraining

/// Throughput and latency of the embedding job, for a `recstream bench embeddings` command and the
/// figures in docs/embeddings.md. Run it from a release build (a debug build is 10 to 50 times
/// slower).
///
/// What it measures, on the co-occurrence benchmark's standard stream (12 users per 1,000
/// engagements with about 47 distinct items each, 50,000 items in 50 communities):
/// - a full refresh from nothing on the first `engagements` engagements, for each thread count:
///   preparation, training (examples/s = positives × epochs / training wall seconds) and the IVF
///   build;
/// - an incremental update on the next `incrementalEngagements`, from the one-thread full model;
/// - retrieval (top 100) for `queries` users with a vector: p50/p99 latency through the IVF at
///   the default nprobe and by brute force, IVF recall@100 against brute force and the speedup;
/// - the model blob's size and encode/decode times.
public enum EmbeddingBenchmark {
    public static func report(
        engagements count: Int = 1_000_000, incrementalEngagements: Int = 50_000, threads: [Int] = [1, 2],
        queries: Int = 2_000, configuration: EmbeddingConfiguration = .default, seed: UInt64 = 7,
        progress: ((String) -> Void)? = nil
    ) -> [String] {
        let all = CooccurrenceBenchmark.standardStream(engagements: count + incrementalEngagements, seed: seed)
        let stream = Array(all.prefix(count))
        let fresh = Array(all.dropFirst(count))
        let window = CooccurrenceWindow(
            end: stream.last?.time ?? EventTime(millis: 0), lengthMillis: configuration.evictionWindowMillis)
        var lines = [
            "embedding benchmark: \(ReportFormat.grouped(Double(count))) engagements (standard stream, seed \(seed)), "
                + "d \(configuration.dimension), batch \(configuration.batchSize) + \(configuration.randomNegatives) "
                + "random negatives, \(configuration.epochs) epochs (incremental \(configuration.incrementalEpochs)), "
                + "\(ProcessInfo.processInfo.activeProcessorCount) cores"
        ]
        var baseModel: EmbeddingModel? = nil
        for t in threads {
            progress?("full refresh, \(t) thread(s)")
            let clock = Stopwatch()
            let prepared = Stopwatch()
            guard
                var run = try? EmbeddingTrainingRun.fullRefresh(
                    parent: nil, engagements: stream, window: window, configuration: configuration)
            else {
                return lines + ["configuration refused: \(configuration.validate())"]
            }
            let prepareSeconds = prepared.wallSeconds
            let training = Stopwatch()
            ParallelEmbeddingTrainer.train(&run, threads: t)
            let trainSeconds = training.wallSeconds
            let trainCPU = training.cpuSeconds
            let model = run.finish()
            let (_, indexSeconds) = Stopwatch.time { EmbeddingRetriever(model: model) }
            let total = clock.wallSeconds
            let m = model.metadata.metrics
            let examples = Double(m.examples * m.epochs)
            lines.append(
                "full refresh, \(t) thread(s): \(ReportFormat.fixed(total, 1)) s wall (prepare \(ReportFormat.fixed(prepareSeconds, 2)) s, "
                    + "train \(ReportFormat.fixed(trainSeconds, 1)) s, IVF build \(ReportFormat.fixed(indexSeconds, 2)) s); "
                    + "\(ReportFormat.grouped(examples / trainSeconds)) examples/s "
                    + "(\(ReportFormat.grouped(examples / trainCPU)) per CPU second); "
                    + "\(m.examples) positives × \(m.epochs) epochs, \(m.batches) batches, loss "
                    + "\(ReportFormat.fixed(m.firstEpochLoss, 3)) → \(ReportFormat.fixed(m.lastEpochLoss, 3)); "
                    + "\(model.users.vectorCount) users, \(model.items.vectorCount) items with vectors")
            if baseModel == nil { baseModel = model }
        }
        guard let base = baseModel else { return lines }
        for t in threads {
            progress?("incremental, \(t) thread(s)")
            let clock = Stopwatch()
            guard
                let inc = try? ParallelEmbeddingTrainer.incremental(
                    served: base, engagements: fresh, configuration: configuration, threads: t)
            else { continue }
            let seconds = clock.wallSeconds
            let m = inc.metadata.metrics
            lines.append(
                "incremental, \(ReportFormat.grouped(Double(fresh.count))) engagements, \(t) thread(s): "
                    + "\(ReportFormat.fixed(seconds, 2)) s wall; \(m.examples) positives × \(m.epochs) epochs; "
                    + "\(m.trainedUsers) users and \(m.trainedItems) items updated, \(m.newUsers) new users, "
                    + "\(m.newItems) new items")
        }

        progress?("retrieval")
        let (retriever, buildSeconds) = Stopwatch.time { EmbeddingRetriever(model: base) }
        let sizes = retriever.index.listSizes
        let users = base.users.idsWithVectors
        var random = Xoshiro256StarStar(seed: seed ^ 0xBE7C)
        let sample = (0..<min(queries, users.count)).map { _ in users[Int(random.next() % UInt64(users.count))] }
        var ivfLatency: [Double] = []
        var exactLatency: [Double] = []
        var recall = 0.0
        for user in sample {
            let (approx, a) = Stopwatch.time { retriever.retrieve(user: user, k: 100) }
            let (exact, e) = Stopwatch.time { retriever.retrieve(user: user, k: 100, exact: true) }
            ivfLatency.append(a)
            exactLatency.append(e)
            let truth = Set(exact.items.map(\.item))
            recall += Double(approx.items.filter { truth.contains($0.item) }.count) / Double(max(truth.count, 1))
        }
        recall /= Double(max(sample.count, 1))
        let meanIVF = ivfLatency.reduce(0, +) / Double(max(ivfLatency.count, 1))
        let meanExact = exactLatency.reduce(0, +) / Double(max(exactLatency.count, 1))
        lines.append(
            "IVF: \(retriever.index.listCount) lists (sizes \(sizes.min() ?? 0)–\(sizes.max() ?? 0)), "
                + "nprobe \(configuration.ivfProbes), built in \(ReportFormat.fixed(buildSeconds, 2)) s over "
                + "\(retriever.index.itemCount) items; recall@100 vs brute force \(ReportFormat.fixed(recall, 4)) "
                + "over \(sample.count) users")
        lines.append(
            "retrieve top 100: IVF p50 \(ReportFormat.fixed(BenchmarkReport.quantile(ivfLatency, 0.5) * 1e6, 0)) µs, "
                + "p99 \(ReportFormat.fixed(BenchmarkReport.quantile(ivfLatency, 0.99) * 1e6, 0)) µs; brute force p50 "
                + "\(ReportFormat.fixed(BenchmarkReport.quantile(exactLatency, 0.5) * 1e6, 0)) µs, p99 "
                + "\(ReportFormat.fixed(BenchmarkReport.quantile(exactLatency, 0.99) * 1e6, 0)) µs; speedup "
                + "\(ReportFormat.fixed(meanExact / meanIVF, 1))× (mean latency)")

        progress?("model blob")
        let (bytes, encodeSeconds) = Stopwatch.time { base.encode(index: retriever.index) }
        let inPlace = ModelBytes(copying: bytes)
        let (_, openSeconds) = Stopwatch.time { try? EmbeddingModel.open(inPlace) }
        let (_, decodeSeconds) = Stopwatch.time { try? EmbeddingModel.decode(bytes) }
        lines.append(
            "model blob (format \(EmbeddingModel.formatVersion)): \(ReportFormat.grouped(Double(bytes.count))) bytes "
                + "(\(ReportFormat.fixed(Double(bytes.count) / Double(max(base.users.vectorCount + base.items.vectorCount, 1)), 1)) per id with a vector); "
                + "encode \(ReportFormat.fixed(encodeSeconds, 2)) s, open in place \(ReportFormat.fixed(openSeconds, 3)) s "
                + "(checksum included), decode into the heap \(ReportFormat.fixed(decodeSeconds, 2)) s; "
                + "heap model \(ReportFormat.grouped(Double(base.approximateBytes))) bytes")
        return lines
    }
}
