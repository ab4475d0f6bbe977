import Foundation
import RecstreamCore

/// The users' distinct items in a window, the input both references share: engagement types
/// only, inside the window, users with more distinct items than the pathological cap left out.
/// Written for clarity with Sets and Dictionaries, not speed.
public struct ReferenceUserItems: Sendable {
    /// I_u for every user kept.
    public let items: [Int32: Set<Int32>]
    /// U_i for every item.
    public let users: [Int32: Set<Int32>]

    public init(engagements: [Engagement], window: CooccurrenceWindow, configuration: CooccurrenceConfiguration) {
        var items: [Int32: Set<Int32>] = [:]
        for e in engagements where configuration.weights[e.type] > 0 && window.contains(e.time) {
            items[e.user, default: []].insert(e.item)
        }
        items = items.filter { $0.value.count <= configuration.pathologicalUserItems }
        var users: [Int32: Set<Int32>] = [:]
        for (u, set) in items {
            for i in set { users[i, default: []].insert(u) }
        }
        self.items = items
        self.users = users
    }
}

/// ItemCF straight from its definition, no caps:
///
///     sim(i, j) = c(i, j) / sqrt(n_i · n_j),  c(i, j) = Σ_{u ∈ U_i ∩ U_j} ω_u,  n_i = |U_i|
///
/// with ω_u = 1, or 1 / ln(1 + |I_u|) under the activity penalty.
public struct ReferenceItemCF: Sendable {
    /// c(i, j) unweighted (the number of users who engaged both), both orders.
    public private(set) var counts: [Int32: [Int32: UInt32]] = [:]
    /// sim(i, j), both orders.
    public private(set) var scores: [Int32: [Int32: Double]] = [:]
    /// n_i.
    public private(set) var degrees: [Int32: Int] = [:]

    public init(engagements: [Engagement], window: CooccurrenceWindow, configuration: CooccurrenceConfiguration) {
        let data = ReferenceUserItems(engagements: engagements, window: window, configuration: configuration)
        for (i, users) in data.users { degrees[i] = users.count }
        var weighted: [Int32: [Int32: Double]] = [:]
        for (_, items) in data.items {
            let omega = configuration.itemCFActivityPenalty ? 1 / log(1 + Double(items.count)) : 1
            for i in items {
                for j in items where j != i {
                    counts[i, default: [:]][j, default: 0] += 1
                    weighted[i, default: [:]][j, default: 0] += omega
                }
            }
        }
        for (i, row) in weighted {
            for (j, c) in row {
                scores[i, default: [:]][j] = c / (Double(degrees[i]!) * Double(degrees[j]!)).squareRoot()
            }
        }
    }

    /// The `k` best neighbours of `item`, score descending, ties by smaller index.
    public func top(_ item: Int32, _ k: Int) -> [ScoredItem] { ReferenceRanking.top(scores[item] ?? [:], k) }
}

/// Swing straight from its definition (Yang et al. 2020), no caps:
///
///     s(i, j) = Σ_{u < v; u, v ∈ U_i ∩ U_j} w_u · w_v / (α + |I_u ∩ I_v|),  w_u = (|I_u| + α₁)^−β
///
/// over the users inside the Swing filters, each unordered user pair once.
public struct ReferenceSwing: Sendable {
    /// s(i, j), both orders.
    public private(set) var scores: [Int32: [Int32: Double]] = [:]

    public init(engagements: [Engagement], window: CooccurrenceWindow, configuration: CooccurrenceConfiguration) {
        let data = ReferenceUserItems(engagements: engagements, window: window, configuration: configuration)
        let p = configuration.swing
        let users = data.items.filter {
            $0.value.count >= (p.minUserItems ?? 1) && $0.value.count <= (p.maxUserItems ?? Int.max)
        }.keys.sorted()
        func weight(_ u: Int32) -> Double { pow(Double(data.items[u]!.count) + p.alpha1, -p.beta) }
        for (a, u) in users.enumerated() {
            for v in users[(a + 1)...] {
                let common = data.items[u]!.intersection(data.items[v]!)
                let contribution = weight(u) * weight(v) / (p.alpha + Double(common.count))
                for i in common {
                    for j in common where j != i {
                        scores[i, default: [:]][j, default: 0] += contribution
                    }
                }
            }
        }
    }

    /// The `k` best neighbours of `item`, score descending, ties by smaller index.
    public func top(_ item: Int32, _ k: Int) -> [ScoredItem] { ReferenceRanking.top(scores[item] ?? [:], k) }
}

public enum ReferenceRanking {
    public static func top(_ row: [Int32: Double], _ k: Int) -> [ScoredItem] {
        Array(
            row.map { (item: $0.key, score: $0.value) }.sorted {
                $0.score != $1.score ? $0.score > $1.score : $0.item < $1.item
            }.prefix(k))
    }
}
