import RecstreamCore
import RecstreamTraining
import Testing

@Suite("Parallel embedding trainer")
struct ParallelEmbeddingTrainerTests {
    static func stream(seed: UInt64, engagements: Int, offsetMillis: Int64 = 0) -> [Engagement] {
        var c = SyntheticEngagementConfiguration()
        c.seed = seed
        c.users = 80
        c.items = 100
        c.communities = 4
        c.itemsPerCommunity = 25
        c.engagements = engagements
        c.spacingMillis = 1_000
        c.startTime = EventTime(millis: c.startTime.millis + offsetMillis)
        return Array(SyntheticEngagements(c))
    }

    static func configuration() -> EmbeddingConfiguration {
        var c = EmbeddingConfiguration()
        c.dimension = 16
        c.batchSize = 24
        c.randomNegatives = 8
        c.epochs = 2
        c.minEngagements = 2
        c.seed = 3
        return c
    }

    @Test func oneThreadGivesTheSingleThreadTrainersBytes() throws {
        let seed: UInt64 = 51
        print("parallel == single: stream seed \(seed)")
        let s = Self.stream(seed: seed, engagements: 1_500)
        let window = CooccurrenceWindow(end: s.last?.time ?? EventTime(millis: 0), lengthMillis: 30 * 86_400_000)
        let c = Self.configuration()
        let single = try EmbeddingTrainer.fullRefresh(parent: nil, engagements: s, window: window, configuration: c)
        let parallel = try ParallelEmbeddingTrainer.fullRefresh(
            parent: nil, engagements: s, window: window, configuration: c, threads: 1)
        #expect(single.encode() == parallel.encode())
        let more = Self.stream(seed: seed + 1, engagements: 400, offsetMillis: 86_400_000)
        let a = try EmbeddingTrainer.incremental(served: single, engagements: more, configuration: c)
        let b = try ParallelEmbeddingTrainer.incremental(served: parallel, engagements: more, configuration: c, threads: 1)
        #expect(a.encode() == b.encode())
    }

    @Test func twoThreadsAreDeterministicAndCloseToOne() throws {
        let seed: UInt64 = 52
        print("two threads: stream seed \(seed)")
        let s = Self.stream(seed: seed, engagements: 1_500)
        let window = CooccurrenceWindow(end: s.last?.time ?? EventTime(millis: 0), lengthMillis: 30 * 86_400_000)
        let c = Self.configuration()
        var batches: [Int] = []
        let first = try ParallelEmbeddingTrainer.fullRefresh(
            parent: nil, engagements: s, window: window, configuration: c, threads: 2,
            progress: { done, _ in batches.append(done) })
        let second = try ParallelEmbeddingTrainer.fullRefresh(
            parent: nil, engagements: s, window: window, configuration: c, threads: 2)
        #expect(first.encode() == second.encode())
        #expect(batches == Array(1...first.metadata.metrics.batches))
        let single = try EmbeddingTrainer.fullRefresh(parent: nil, engagements: s, window: window, configuration: c)
        // Same draws, sums in another order: the losses agree closely.
        let a = first.metadata.metrics.lastEpochLoss
        let b = single.metadata.metrics.lastEpochLoss
        #expect((a - b).magnitude < 0.02 * b, "\(a) vs \(b)")
    }
}
