/// A Beta(α, β) prior for a per-exposure rate. The smoothed rate of `k` events in `n` exposures is
/// the posterior mean `(k + α) / (n + α + β)`: with no exposures it is the prior mean
/// `α / (α + β)`, and it approaches `k / n` as exposures accumulate. α and β act as pseudo-counts
/// of events and non-events.
public struct RatePrior: Sendable, Hashable, Codable {
    public var alpha: Double
    public var beta: Double

    public init(alpha: Double, beta: Double) {
        self.alpha = alpha
        self.beta = beta
    }

    /// Whether both parameters are finite and positive.
    public var isValid: Bool { alpha.isFinite && beta.isFinite && alpha > 0 && beta > 0 }

    /// The posterior mean rate of `events` in `exposures`.
    public func smoothedRate(events: UInt64, exposures: UInt64) -> Double {
        (Double(events) + alpha) / (Double(exposures) + alpha + beta)
    }
}

/// The engagement rates reported per exposure, each with its own prior.
public enum RateKind: String, CaseIterable, Sendable, Hashable, Codable {
    case ctr
    case likeRate = "like_rate"
    case collectRate = "collect_rate"
    case shareRate = "share_rate"
    case commentRate = "comment_rate"

    /// The event type counted in the numerator; the denominator is always exposures.
    public var eventType: EventType {
        switch self {
        case .ctr: .click
        case .likeRate: .like
        case .collectRate: .collect
        case .shareRate: .share
        case .commentRate: .comment
        }
    }
}

/// Configuration of the item-statistics family.
public struct StatsConfiguration: Sendable, Hashable, Codable {
    /// Priors per rate. Defaults: weak priors (α = 1) centred near typical feed rates: CTR 1/13
    /// (≈ 7.7%), like 1/81, collect 1/251, share 1/401, comment 1/301 per exposure.
    public var priors: [RateKind: RatePrior]

    public static let defaultPriors: [RateKind: RatePrior] = [
        .ctr: RatePrior(alpha: 1, beta: 12),
        .likeRate: RatePrior(alpha: 1, beta: 80),
        .collectRate: RatePrior(alpha: 1, beta: 250),
        .shareRate: RatePrior(alpha: 1, beta: 400),
        .commentRate: RatePrior(alpha: 1, beta: 300),
    ]

    public init(priors: [RateKind: RatePrior] = StatsConfiguration.defaultPriors) {
        var merged = Self.defaultPriors
        for (kind, prior) in priors { merged[kind] = prior }
        self.priors = merged
    }

    public func prior(_ kind: RateKind) -> RatePrior { priors[kind] ?? Self.defaultPriors[kind]! }

    /// Problems with the configuration, one line each; empty when valid.
    public func validate() -> [String] {
        RateKind.allCases.compactMap { kind in
            let p = prior(kind)
            return p.isValid ? nil : "stats.priors.\(kind.rawValue): alpha and beta must be positive, got \(p.alpha), \(p.beta)"
        }
    }
}
