/// The shape of a synthetic engagement stream for co-occurrence tests and benchmarks. The stream
/// is a pure function of this value (same configuration, same engagements, on every platform).
///
/// Model: at every step a user (uniform, or Zipf by activity rank) engages an item. With
/// probability ``repeatRate`` it is one of the user's recent items again (a like or collect after a
/// click: no new pairs); otherwise a new draw, from the user's community list (Zipf within it)
/// with probability ``communityAffinity``, else from the global popularity (Zipf). Communities give
/// the item-to-item structure ItemCF and Swing recover; the global part gives popular items.
/// Uniform users with `engagements / users` ≈ 60 and a repeat rate of 0.2 give histories of about
/// 50 distinct items.
public struct SyntheticEngagementConfiguration: Sendable, Hashable {
    public var seed: UInt64 = 7
    /// Users 0..<users.
    public var users = 1_000
    /// Items 0..<items.
    public var items = 2_000
    /// Engagements produced.
    public var engagements = 60_000
    /// Zipf exponent of user activity; nil: users are drawn uniformly.
    public var userZipf: Double? = nil
    /// Zipf exponent of item popularity, globally and inside a community list.
    public var itemZipf = 1.0
    public var communities = 10
    public var itemsPerCommunity = 200
    public var communityAffinity = 0.7
    /// Probability that an engagement repeats one of the user's last 4 items.
    public var repeatRate = 0.2
    /// Event time of the first engagement. Default 2026-11-01T00:00:00Z.
    public var startTime = EventTime(millis: 1_793_491_200_000)
    /// Event time between consecutive engagements, in milliseconds. Default 10.
    public var spacingMillis: Int64 = 10

    public init() {}

    /// One line per setting out of range; empty when usable.
    public var problems: [String] {
        var p: [String] = []
        if users < 1 || users > Int(Int32.max) { p.append("users is \(users)") }
        if items < 2 || items > Int(Int32.max) { p.append("items is \(items)") }
        if engagements < 0 { p.append("engagements is \(engagements)") }
        if let z = userZipf, !(z.isFinite && z > 0) { p.append("userZipf is \(z)") }
        if !(itemZipf.isFinite && itemZipf > 0) { p.append("itemZipf is \(itemZipf)") }
        if communities < 1 { p.append("communities is \(communities)") }
        if itemsPerCommunity < 1 || itemsPerCommunity > items { p.append("itemsPerCommunity is \(itemsPerCommunity)") }
        if !(communityAffinity >= 0 && communityAffinity <= 1) { p.append("communityAffinity is \(communityAffinity)") }
        if !(repeatRate >= 0 && repeatRate <= 1) { p.append("repeatRate is \(repeatRate)") }
        if spacingMillis < 0 || spacingMillis > 86_400_000 { p.append("spacingMillis is \(spacingMillis)") }
        return p
    }
}

/// A deterministic synthetic engagement stream (see ``SyntheticEngagementConfiguration``), in
/// ascending event time. Cost per engagement: O(1) random draws; memory: 16 bytes per user.
public struct SyntheticEngagements: Sequence, IteratorProtocol, Sendable {
    public let configuration: SyntheticEngagementConfiguration
    private var random: Xoshiro256StarStar
    private let userSampler: ZipfSampler?
    private let itemSampler: ZipfSampler
    private let communitySampler: ZipfSampler
    private let strides: [UInt64]
    private let offsets: [UInt64]
    private let salt: UInt64
    /// The last four new items of each user (4 slots per user, newest first; UInt32.max: empty).
    private var recent: [UInt32]
    private var emitted = 0

    /// - Important: Traps when ``SyntheticEngagementConfiguration/problems`` is not empty.
    public init(_ configuration: SyntheticEngagementConfiguration) {
        precondition(configuration.problems.isEmpty, "invalid configuration: \(configuration.problems)")
        self.configuration = configuration
        random = Xoshiro256StarStar(seed: configuration.seed)
        userSampler = configuration.userZipf.map { ZipfSampler(ranks: configuration.users, exponent: $0) }
        itemSampler = ZipfSampler(ranks: configuration.items, exponent: configuration.itemZipf)
        communitySampler = ZipfSampler(ranks: configuration.itemsPerCommunity, exponent: configuration.itemZipf)
        var layout = SplitMix64(seed: configuration.seed ^ 0x5EED_C0_0C)
        salt = layout.next()
        let n = UInt64(configuration.items)
        var strides: [UInt64] = []
        var offsets: [UInt64] = []
        for _ in 0..<configuration.communities {
            var stride = 1 + layout.next() % (n - 1)
            while Self.gcd(stride, n) != 1 { stride = stride % (n - 1) + 1 }
            strides.append(stride)
            offsets.append(layout.next() % n)
        }
        self.strides = strides
        self.offsets = offsets
        recent = [UInt32](repeating: UInt32.max, count: configuration.users * 4)
    }

    private static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 { b == 0 ? a : gcd(b, a % b) }

    public mutating func next() -> Engagement? {
        let c = configuration
        guard emitted < c.engagements else { return nil }
        let time = EventTime(millis: c.startTime.millis + Int64(emitted) * c.spacingMillis)
        emitted += 1
        let user: Int
        if let sampler = userSampler {
            user = sampler.next(using: &random) - 1
        } else {
            user = Int(random.below(UInt64(c.users)))
        }
        let slots = user * 4
        if recent[slots] != UInt32.max && random.chance(c.repeatRate) {
            // One of the last four new items again: a follow-up engagement.
            var pick = slots + Int(random.below(4))
            if recent[pick] == UInt32.max { pick = slots }
            let type = EventType(rawValue: 2 + UInt8(random.below(4))) ?? .like
            return Engagement(user: Int32(user), item: Int32(recent[pick]), type: type, time: time)
        }
        let item: UInt64
        if random.chance(c.communityAffinity) {
            let community = Int(SplitMix64.mix(UInt64(user) ^ salt) % UInt64(c.communities))
            let k = UInt64(communitySampler.next(using: &random) - 1)
            item = (strides[community] &* k &+ offsets[community]) % UInt64(c.items)
        } else {
            item = UInt64(itemSampler.next(using: &random) - 1)
        }
        recent[slots + 3] = recent[slots + 2]
        recent[slots + 2] = recent[slots + 1]
        recent[slots + 1] = recent[slots]
        recent[slots] = UInt32(item)
        return Engagement(user: Int32(user), item: Int32(item), type: .click, time: time)
    }
}
