import Foundation
import RecstreamCore

/// Random draws the harness needs beyond RecstreamCore's generators: Gaussian vectors (Box–Muller)
/// and uniform indices, from a seeded Xoshiro256** stream.
struct HarnessRandom {
    private var generator: Xoshiro256StarStar

    init(seed: UInt64) { generator = Xoshiro256StarStar(seed: seed) }

    /// Uniform in 0..<bound.
    mutating func index(_ bound: Int) -> Int { Int(generator.next() % UInt64(bound)) }

    /// Uniform in (0, 1].
    mutating func unit() -> Double { (Double(generator.next() >> 11) + 1) * 0x1p-53 }

    /// A standard normal draw.
    mutating func gaussian() -> Double {
        let u1 = unit()
        let u2 = unit()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    /// A vector of `d` independent N(0, 1/d) draws (expected squared norm 1).
    mutating func gaussianVector(_ d: Int) -> [Float] {
        let scale = 1 / Double(d).squareRoot()
        return (0..<d).map { _ in Float(gaussian() * scale) }
    }
}

/// The engagements of a generated stream, interned the way the runtime interns ids, with each
/// user's generator rank (which decides the user's planted community).
struct InternedEngagements {
    var engagements: [Engagement] = []
    var userRanks: [Int] = []
    var itemCount = 0
    var events = 0

    init(_ configuration: GeneratorConfiguration) {
        var users = IdInterner(expectedCount: 1 << 16)
        var items = IdInterner(expectedCount: 1 << 14)
        for event in EventGenerator(configuration) {
            events += 1
            guard event.type.isEngagement else { continue }
            let user = users.intern(event.userID)
            if user.isNew { userRanks.append(Int(event.userID.dropFirst()) ?? 0) }
            let item = items.intern(event.itemID).index
            engagements.append(Engagement(user: user.index, item: item, type: event.type, time: event.time))
        }
        itemCount = items.count
    }

    var userCount: Int { userRanks.count }
}

/// The planted community of each user rank, as ``EventGenerator`` assigns it: a SplitMix64 hash of
/// the rank, salted with the first draw of the generator's layout stream, modulo the community
/// count (EventGenerator.swift, `init` and `planSession`).
func plantedCommunity(rank: Int, configuration: GeneratorConfiguration) -> Int {
    var layout = SplitMix64(seed: configuration.seed ^ 0xC0_33_0A_17_1E_5C_0F_FE)
    let salt = layout.next()
    return Int(SplitMix64.mix(UInt64(rank) ^ salt) % UInt64(configuration.communities))
}

/// The area under the ROC curve: the probability that a random positive scores above a random
/// negative, ties counting one half (Mann–Whitney U with mid-ranks).
func areaUnderCurve(positives: [Double], negatives: [Double]) -> Double {
    guard !positives.isEmpty, !negatives.isEmpty else { return .nan }
    var all: [(score: Double, positive: Bool)] = positives.map { ($0, true) } + negatives.map { ($0, false) }
    all.sort { $0.score < $1.score }
    var rankSum = 0.0
    var i = 0
    while i < all.count {
        var j = i
        while j + 1 < all.count && all[j + 1].score == all[i].score { j += 1 }
        let midRank = Double(i + j) / 2 + 1
        for t in i...j where all[t].positive { rankSum += midRank }
        i = j + 1
    }
    let p = Double(positives.count)
    let n = Double(negatives.count)
    return (rankSum - p * (p + 1) / 2) / (p * n)
}
