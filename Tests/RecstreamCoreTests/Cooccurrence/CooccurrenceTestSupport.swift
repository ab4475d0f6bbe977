import RecstreamCore
import RecstreamTesting

/// 2026-11-01T00:00:00Z, a UTC day boundary.
let cooccurrenceDay0: Int64 = 1_793_491_200_000

/// An engagement at `day0 + seconds`.
func engagement(_ user: Int32, _ item: Int32, at seconds: Int64, _ type: EventType = .click) -> Engagement {
    Engagement(user: user, item: item, type: type, time: EventTime(millis: cooccurrenceDay0 + seconds * 1000))
}

/// Feeds `engagements` in order, each with the running maximum time as the watermark.
func feed(_ state: inout CooccurrenceState, _ engagements: some Sequence<Engagement>) {
    var watermark = state.watermark ?? EventTime(millis: 0)
    for e in engagements {
        watermark = max(watermark, e.time)
        state.apply(e, watermark: watermark)
    }
}

/// The window ending at the last engagement's time.
func windowEnding(_ engagements: [Engagement], configuration: CooccurrenceConfiguration) -> CooccurrenceWindow {
    CooccurrenceWindow(
        end: engagements.map(\.time).max() ?? EventTime(millis: 0), lengthMillis: configuration.windowMillis)
}

/// |a − b| <= tolerance · max(1, |b|).
func close(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool {
    (a - b).magnitude <= tolerance * max(1, b.magnitude)
}

/// A synthetic stream of users with about `history` distinct items each.
func syntheticStream(seed: UInt64, users: Int, items: Int, history: Int, communities: Int = 8) -> [Engagement] {
    var c = SyntheticEngagementConfiguration()
    c.seed = seed
    c.users = users
    c.items = items
    c.communities = communities
    c.itemsPerCommunity = min(items, max(20, items / communities * 2))
    // Repeats (rate 0.2) and draws of an item the user already has: about 1.75 engagements per
    // distinct item.
    c.engagements = users * history * 7 / 4
    return Array(SyntheticEngagements(c))
}

/// The share of `incremental`'s top list whose items belong to the exact top `k` (counting, at the
/// boundary, every item tied with the exact k-th score as a member).
func topOverlap(_ incremental: [ScoredItem], exact: [ScoredItem], exactScores: [Int32: Double], k: Int) -> Double {
    guard exact.count >= k else { return 1 }
    let threshold = exact[k - 1].score
    let hits = incremental.prefix(k).filter { (exactScores[$0.item] ?? 0) >= threshold * (1 - 1e-12) }.count
    return Double(hits) / Double(k)
}
