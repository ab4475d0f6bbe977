/// A fixed share of (user, item) pairs that training never uses as positives, so that any two
/// models trained with it can be compared on the same engagements, none of which either saw.
///
/// A pair is held out when SplitMix64(key ⊕ salt) mod `modulus` = 0, key = user << 32 | item (the
/// instance's dense indices): a pure function of the pair, so every full refresh and every
/// incremental update of an instance, whatever their seed or lineage, hold out the same pairs.
/// Held-out engagements are still counted (thresholds, popularity, eviction).
public struct ValidationSplit: Sendable, Hashable {
    /// One pair in `modulus` is held out.
    public let modulus: UInt64
    let salt: UInt64

    public init(modulus: UInt64, salt: UInt64) {
        precondition(modulus >= 2, "a validation split of 1 in \(modulus) pairs holds out everything")
        self.modulus = modulus
        self.salt = salt
    }

    /// One pair in 32 (3.1 %). The salt is fixed: changing it would let a served model have trained
    /// on the pairs a new one is compared on.
    public static let standard = ValidationSplit(modulus: 32, salt: 0x6A09_E667_F3BC_C908)

    @inline(__always)
    public func holdsOut(user: Int32, item: Int32) -> Bool {
        let key = UInt64(UInt32(bitPattern: user)) << 32 | UInt64(UInt32(bitPattern: item))
        return SplitMix64.mix(key ^ salt) % modulus == 0
    }
}

/// The most recent held-out engagements of a log, by user: what the publish gate scores a new
/// model and the served one on.
///
/// Cost: O(n) over the engagements plus a sort of the held-out pairs; memory: one entry per
/// distinct held-out pair until the cut to `maxPairs`.
public struct HeldOutEngagements: Sendable, Hashable {
    /// Test users, ascending.
    public let users: [Int32]
    /// By user (same order): the held-out items, ascending.
    public let items: [[Int32]]
    /// Distinct (user, item) pairs over all users.
    public let pairCount: Int

    /// The `maxPairs` newest distinct pairs `split` holds out among `engagements` of an engagement
    /// type (weight > 0); a pair's time is its newest engagement, ties broken by (user, item).
    public init(
        recent engagements: some Sequence<Engagement>, split: ValidationSplit, weights: EngagementWeights, maxPairs: Int
    ) {
        var newest: [UInt64: Int64] = [:]
        for e in engagements where weights[e.type] > 0 && split.holdsOut(user: e.user, item: e.item) {
            let key = UInt64(UInt32(bitPattern: e.user)) << 32 | UInt64(UInt32(bitPattern: e.item))
            newest[key] = max(newest[key] ?? .min, e.time.millis)
        }
        let kept = newest.sorted { a, b in a.value != b.value ? a.value > b.value : a.key < b.key }.prefix(max(maxPairs, 0))
        var byUser: [Int32: [Int32]] = [:]
        for (key, _) in kept {
            byUser[Int32(bitPattern: UInt32(key >> 32)), default: []].append(Int32(bitPattern: UInt32(truncatingIfNeeded: key)))
        }
        users = byUser.keys.sorted()
        items = users.map { (byUser[$0] ?? []).sorted() }
        pairCount = kept.count
    }

    /// Per test user (same order as ``users``): recall@k = |top k ∩ held-out items| / |held-out
    /// items|, the top k as served (``EmbeddingRetriever/retrieve(user:k:excluding:probes:exact:)``
    /// at the configured nprobe: own vector, engaged-items mean, else popularity).
    ///
    /// Cost: one retrieval per test user.
    public func recalls(_ retriever: EmbeddingRetriever, k: Int) -> [Double] {
        zip(users, items).map { user, truth in
            var hits = 0
            for scored in retriever.retrieve(user: user, k: k).items where truth.contains(scored.item) { hits += 1 }
            return Double(hits) / Double(truth.count)
        }
    }
}
