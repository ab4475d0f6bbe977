import RecstreamCore
import Testing

@Suite("Embeddings: training runs")
struct EmbeddingTrainerTests {
    static let day: Int64 = 86_400_000

    @Test func sameSeedGivesIdenticalBytesAndAnotherSeedDoesNot() throws {
        let seed: UInt64 = 21
        print("determinism: stream seed \(seed)")
        let stream = embeddingStream(seed: seed, users: 60, items: 80, engagements: 1_200)
        let window = windowCovering(stream)
        let a = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: window, configuration: smallEmbeddingConfiguration())
        let b = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: window, configuration: smallEmbeddingConfiguration())
        #expect(a.encode() == b.encode())
        let c = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: window, configuration: smallEmbeddingConfiguration(seed: 2))
        #expect(a.encode() != c.encode())
        // An incremental on top is deterministic too.
        let more = embeddingStream(seed: seed + 1, users: 60, items: 80, engagements: 300).map {
            Engagement(user: $0.user, item: $0.item, type: $0.type, time: EventTime(millis: $0.time.millis + Self.day))
        }
        let ia = try EmbeddingTrainer.incremental(served: a, engagements: more, configuration: smallEmbeddingConfiguration())
        let ib = try EmbeddingTrainer.incremental(served: b, engagements: more, configuration: smallEmbeddingConfiguration())
        #expect(ia.encode() == ib.encode())
    }

    @Test func trainingLowersTheLossAndRanksCommunityItemsFirst() throws {
        let seed: UInt64 = 22
        print("training sanity: stream seed \(seed)")
        let stream = embeddingStream(seed: seed, users: 120, items: 120, engagements: 3_000, communities: 3)
        var c = smallEmbeddingConfiguration()
        c.epochs = 6
        let model = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c)
        let m = model.metadata.metrics
        print("  loss \(m.firstEpochLoss) -> \(m.lastEpochLoss), \(m.examples) examples")
        #expect(m.lastEpochLoss < m.firstEpochLoss * 0.95)
        // Users score the items they engaged above random items more often than not.
        var wins = 0
        var trials = 0
        var random = Xoshiro256StarStar(seed: seed)
        for e in stream.prefix(600) {
            let other = Int32(random.next() % 120)
            guard let s = model.score(user: e.user, item: e.item), let t = model.score(user: e.user, item: other) else {
                continue
            }
            trials += 1
            if s > t { wins += 1 }
        }
        print("  engaged item above a random item in \(wins) of \(trials)")
        #expect(Double(wins) > 0.75 * Double(trials))
    }

    @Test func fullAndIncrementalVersionsAndLineage() throws {
        let stream = embeddingStream(seed: 23, users: 50, items: 60, engagements: 800)
        let c = smallEmbeddingConfiguration()
        let full1 = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c, logPosition: 7)
        #expect(full1.metadata.version == EmbeddingModelVersion(major: 1, minor: 0))
        #expect(full1.metadata.kind == .full && full1.metadata.parent == nil && full1.metadata.logPosition == 7)
        let later = stream.map {
            Engagement(user: $0.user, item: $0.item, type: $0.type, time: EventTime(millis: $0.time.millis + Self.day))
        }
        let inc1 = try EmbeddingTrainer.incremental(
            served: full1, engagements: later.prefix(100), configuration: c, logPosition: 8)
        #expect(inc1.metadata.version == EmbeddingModelVersion(major: 1, minor: 1))
        #expect(inc1.metadata.kind == .incremental && inc1.metadata.parent == full1.metadata.version)
        let inc2 = try EmbeddingTrainer.incremental(served: inc1, engagements: later.dropFirst(100).prefix(100), configuration: c)
        #expect(inc2.metadata.version == EmbeddingModelVersion(major: 1, minor: 2))
        #expect(inc2.metadata.trainedThrough >= inc1.metadata.trainedThrough)
        // A full refresh starts from the previous full model, never from an incremental one.
        #expect(throws: EmbeddingTrainingError.self) {
            try EmbeddingTrainer.fullRefresh(
                parent: inc2, engagements: later, window: windowCovering(later), configuration: c)
        }
        let full2 = try EmbeddingTrainer.fullRefresh(
            parent: full1, engagements: stream + later, window: windowCovering(later), configuration: c)
        #expect(full2.metadata.version == EmbeddingModelVersion(major: 2, minor: 0))
        #expect(full2.metadata.parent == full1.metadata.version)
        var other = c
        other.dimension = 24
        #expect(throws: EmbeddingTrainingError.self) {
            try EmbeddingTrainer.incremental(served: full1, engagements: later, configuration: other)
        }
    }

    @Test func incrementalUpdatesUsersAndRecentItemsOnly() throws {
        let stream = embeddingStream(seed: 24, users: 50, items: 60, engagements: 900)
        let c = smallEmbeddingConfiguration()
        let full = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c)
        let t = stream.last?.time.millis ?? 0
        // New engagements: users 0 and 1 on items 2 and 3; item 1000 is new (2 engagements: it
        // reaches the threshold of 2 and gets a vector), user 500 is new with one engagement.
        let fresh = [
            Engagement(user: 0, item: 2, type: .click, time: EventTime(millis: t + 1_000)),
            Engagement(user: 1, item: 3, type: .like, time: EventTime(millis: t + 2_000)),
            Engagement(user: 0, item: 1_000, type: .click, time: EventTime(millis: t + 3_000)),
            Engagement(user: 1, item: 1_000, type: .click, time: EventTime(millis: t + 4_000)),
            Engagement(user: 500, item: 2, type: .click, time: EventTime(millis: t + 5_000)),
            Engagement(user: 1, item: 4, type: .exposure, time: EventTime(millis: t + 6_000)),
        ]
        #expect(full.users.hasVector(0) && full.users.hasVector(1))
        let inc = try EmbeddingTrainer.incremental(served: full, engagements: fresh, configuration: c)
        for item in full.items.idsWithVectors where ![2, 3, 1_000].contains(item) {
            #expect(inc.items.vector(item) == full.items.vector(item), "item \(item) changed")
            #expect(inc.items.accumulator(item) == full.items.accumulator(item))
        }
        for item: Int32 in [2, 3] { #expect(inc.items.vector(item) != full.items.vector(item)) }
        #expect(inc.items.hasVector(1_000) && !full.items.hasVector(1_000))
        for user: Int32 in [0, 1] { #expect(inc.users.vector(user) != full.users.vector(user)) }
        for user in full.users.idsWithVectors where user > 1 {
            #expect(inc.users.vector(user) == full.users.vector(user), "user \(user) changed")
        }
        // The exposure is no engagement: item 4's count is unchanged.
        #expect(inc.items.engagements(4) == full.items.engagements(4))
        #expect(inc.items.engagements(2) == full.items.engagements(2) + 2)
        // User 500: below the threshold, served by its engaged item's vector.
        #expect(!inc.users.hasVector(500))
        #expect(inc.fallbackItems(user: 500) == [2])
        let q = try #require(inc.queryVector(user: 500))
        #expect(q.source == .engagedItemsMean)
        let v = try #require(inc.items.unitVector(2))
        for k in 0..<c.dimension { #expect((q.vector[k] - v[k]).magnitude < 1e-6) }
        #expect(inc.metadata.metrics.newItems == 1 && inc.metadata.metrics.trainedItems == 3)
        #expect(inc.metadata.metrics.trainedUsers == 2)
    }

    @Test func idsUnseenForTheEvictionWindowAreEvicted() throws {
        var c = smallEmbeddingConfiguration()
        c.evictionWindowMillis = 7 * Self.day
        let t0: Int64 = 1_793_491_200_000
        var first: [Engagement] = []
        for u in Int32(0)..<6 {
            for i in Int32(0)..<4 { first.append(Engagement(user: u, item: i, type: .click, time: EventTime(millis: t0 + Int64(u * 10 + i)))) }
        }
        first.append(Engagement(user: 9, item: 0, type: .click, time: EventTime(millis: t0 + 100)))
        let full = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: first, window: CooccurrenceWindow(end: EventTime(millis: t0 + 100), lengthMillis: 7 * Self.day),
            configuration: c)
        #expect(full.users.vectorCount == 6 && full.items.vectorCount == 4)
        #expect(full.fallbackItems(user: 9) == [0])
        // Eight days later only user 0 and items 0, 1 are seen again.
        let t1 = t0 + 8 * Self.day
        let second = [
            Engagement(user: 0, item: 0, type: .click, time: EventTime(millis: t1)),
            Engagement(user: 0, item: 1, type: .click, time: EventTime(millis: t1 + 1)),
        ]
        let inc = try EmbeddingTrainer.incremental(served: full, engagements: second, configuration: c)
        #expect(inc.users.idsWithVectors == [0])
        #expect(inc.items.idsWithVectors == [0, 1])
        #expect(inc.users.engagements(3) == 0 && inc.users.lastSeen(3) == nil)
        #expect(inc.items.engagements(2) == 0)
        #expect(inc.fallbackItems(user: 9).isEmpty)
        #expect(inc.metadata.metrics.evictedUsers == 6 && inc.metadata.metrics.evictedItems == 2)
        // The kept ids keep their vectors' history (the evicted rows were compacted away).
        #expect(inc.users.vector(0) != nil && inc.items.vector(1) != nil)
    }

    @Test func fallbackChainOwnVectorThenItemsThenPopularity() throws {
        let stream = embeddingStream(seed: 25, users: 40, items: 50, engagements: 700)
        let c = smallEmbeddingConfiguration()
        let model = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c)
        let retriever = EmbeddingRetriever(model: model)
        let known = try #require(model.users.idsWithVectors.first)
        let r = retriever.retrieve(user: known, k: 5)
        #expect(r.source == .userVector && r.items.count == 5)
        let unknown = retriever.retrieve(user: 99_999, k: 3, excluding: { $0 == 0 })
        #expect(unknown.source == .popularity && unknown.items.count == 3)
        #expect(!unknown.items.contains { $0.item == 0 })
        let counts = unknown.items.map(\.score)
        #expect(counts == counts.sorted(by: >))
    }
}

@Suite("Embeddings: persisted form")
struct EmbeddingCodingTests {
    static func model() throws -> EmbeddingModel {
        var stream = embeddingStream(seed: 31, users: 40, items: 50, engagements: 600)
        let t = stream.last?.time.millis ?? 0
        // Two users below the threshold, with fallback lists.
        for (k, (user, item)) in [(Int32(70), Int32(3)), (70, 9), (71, 4)].enumerated() {
            stream.append(Engagement(user: user, item: item, type: .click, time: EventTime(millis: t + Int64(k) + 1)))
        }
        var c = smallEmbeddingConfiguration()
        c.minEngagements = 4
        c.ivfLists = 5
        return try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: windowCovering(stream), configuration: c, logPosition: 99)
    }

    @Test func encodeDecodeRoundTrip() throws {
        let model = try Self.model()
        #expect(model.fallbackUserCount > 0)
        let bytes = model.encode()
        let decoded = try EmbeddingModel.decode(bytes)
        #expect(decoded.metadata == model.metadata)
        #expect(decoded.configuration == model.configuration)
        #expect(decoded.users == model.users)
        #expect(decoded.items == model.items)
        #expect(decoded.encode() == bytes)
        #expect(decoded == model)
    }

    @Test func corruptedOrTruncatedBlobsAreRefused() throws {
        let bytes = try Self.model().encode()
        let seed: UInt64 = 32
        print("corruption positions: seed \(seed)")
        var random = Xoshiro256StarStar(seed: seed)
        for _ in 0..<200 {
            var bad = bytes
            let at = Int(random.next() % UInt64(bytes.count))
            bad[at] ^= UInt8(1 << (random.next() % 8))
            #expect(throws: StateDecodingError.self) { try EmbeddingModel.decode(bad) }
        }
        for cut in [0, 5, bytes.count / 2, bytes.count - 1] {
            #expect(throws: StateDecodingError.self) { try EmbeddingModel.decode(Array(bytes.prefix(cut))) }
        }
        #expect(throws: StateDecodingError.self) { try EmbeddingModel.decode(bytes + [0]) }
    }
}
