import RecstreamCore
import Testing

@Suite("Embeddings: held-out pairs for the publish gate")
struct HeldOutEvaluationTests {
    static func key(_ e: Engagement) -> UInt64 { UInt64(UInt32(bitPattern: e.user)) << 32 | UInt64(UInt32(bitPattern: e.item)) }

    @Test func heldOutPairsAreCountedButNeverTrainedOn() throws {
        let seed: UInt64 = 31
        print("held-out split: stream seed \(seed)")
        let stream = embeddingStream(seed: seed, users: 150, items: 200, engagements: 6_000)
        let window = windowCovering(stream)
        let c = smallEmbeddingConfiguration()
        let split = ValidationSplit.standard
        let plain = try EmbeddingTrainer.fullRefresh(parent: nil, engagements: stream, window: window, configuration: c)
        let held = try EmbeddingTrainer.fullRefresh(
            parent: nil, engagements: stream, window: window, configuration: c, holdout: split)

        // About one distinct pair in 32.
        let pairs = Set(stream.map(Self.key))
        let heldPairs = Set(stream.filter { split.holdsOut(user: $0.user, item: $0.item) }.map(Self.key))
        let share = Double(heldPairs.count) / Double(pairs.count)
        #expect(share > 0.02 && share < 0.045, "\(heldPairs.count) of \(pairs.count)")

        // Counted like any engagement: the same ids have vectors, with the same counts.
        #expect(held.metadata.metrics.engagementsUsed == plain.metadata.metrics.engagementsUsed)
        #expect(held.users.vectorCount == plain.users.vectorCount && held.items.vectorCount == plain.items.vectorCount)
        for item in Int32(0)..<200 { #expect(held.items.engagements(item) == plain.items.engagements(item)) }
        // Never a positive: exactly the held-out pairs between ids with vectors are missing.
        let trainable = heldPairs.filter { k in
            plain.users.hasVector(Int32(bitPattern: UInt32(k >> 32)))
                && plain.items.hasVector(Int32(bitPattern: UInt32(truncatingIfNeeded: k)))
        }
        #expect(trainable.count > 0)
        #expect(held.metadata.metrics.examples == plain.metadata.metrics.examples - trainable.count)
        // Nor in a fallback list.
        for user in Int32(0)..<150 {
            for item in held.fallbackItems(user: user) { #expect(!split.holdsOut(user: user, item: item)) }
        }
    }

    @Test func theNewestHeldOutPairsAreKeptByUser() {
        let stream = embeddingStream(seed: 32, users: 80, items: 100, engagements: 4_000)
        let split = ValidationSplit(modulus: 4, salt: 9)
        let weights = EngagementWeights()
        let heldOut = HeldOutEngagements(recent: stream, split: split, weights: weights, maxPairs: 50)

        // Brute force: the newest time of every held-out pair, newest first, ties by key.
        var newest: [UInt64: Int64] = [:]
        for e in stream where weights[e.type] > 0 && split.holdsOut(user: e.user, item: e.item) {
            newest[Self.key(e)] = max(newest[Self.key(e)] ?? .min, e.time.millis)
        }
        let expected = newest.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(50).map(\.key)
        let got = zip(heldOut.users, heldOut.items).flatMap { user, items in
            items.map { UInt64(UInt32(bitPattern: user)) << 32 | UInt64(UInt32(bitPattern: $0)) }
        }
        #expect(heldOut.pairCount == 50)
        #expect(got.sorted() == expected.sorted())
        #expect(heldOut.users == heldOut.users.sorted() && heldOut.items.allSatisfy { $0 == $0.sorted() })
    }
}
