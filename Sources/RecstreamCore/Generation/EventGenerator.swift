/// A deterministic synthetic event stream: exactly `configuration.events` events, a pure function
/// of the ``GeneratorConfiguration`` (no clock, no I/O, identical on every platform).
///
/// Order: events come out in non-decreasing `ts`, except the deliberately late ones (each lags
/// the largest `ts` emitted before it by 1...``GeneratorConfiguration/maxLatenessMillis``) and
/// retried duplicates (which repeat an earlier event, `ts` included, within
/// ``GeneratorConfiguration/retryDelayMillis`` of event time). Ids: `e-<n>` with n = 1, 2, … in
/// order of first emission; users `u<rank>`; items `i<id>`.
///
/// Rate: sessions start at the rate that yields ``GeneratorConfiguration/eventsPerSecond``, so the
/// stream reaches that rate once sessions overlap, after about one session length (~15 s with the
/// defaults). At the end, once the events already decided cover the budget, no session starts and
/// the open sessions play out (the rate tapers over ~15 s), so the last exposures keep their
/// clicks and ratios such as CTR hold over the whole stream; what is cut is at most the last
/// planned session's final events and retries decided during the tail.
///
/// Cost per event: O(1) random draws and O(log P) heap work, P being the events pending in open
/// sessions (bounded by `eventsPerSecond` × session length, independent of the stream length); no
/// allocation beyond the event's strings once the heap has reached its working size.
///
/// - Important: The stream is frozen: tests pin the first events of seed 42, and benchmarks and
///   saved test streams rely on them. Changing any draw (its order, its distribution, a default)
///   changes every stream; do it deliberately, update the golden values, and say so.
public struct EventGenerator: Sequence, IteratorProtocol, Sendable {
    public let configuration: GeneratorConfiguration

    private var random: Xoshiro256StarStar
    private let userSampler: ZipfSampler
    private let itemSampler: ZipfSampler
    private let communitySampler: ZipfSampler
    /// Community c's k-th preferred item is `(multiplier[c] · (k − 1) + offset[c]) mod items + 1`:
    /// an affine map with `multiplier[c]` coprime to `items`, so the list has no repeats.
    private let communityMultiplier: [UInt64]
    private let communityOffset: [UInt64]
    private let meanSessionGapMillis: Double
    private let communitySalt: UInt64

    private var pending = PendingEvents()
    /// Start of the next session, in milliseconds after `startTime`.
    private var sessionClock = 0.0
    private var emitted = 0
    private var nextID: Int64 = 1
    /// The largest `ts` emitted so far; −1 before the first event.
    private var watermark: Int64 = -1
    /// The items of the session being planned (reused, so planning allocates nothing).
    private var sessionItems: [Int32] = []

    /// A generator for `configuration`.
    ///
    /// - Important: Traps when ``GeneratorConfiguration/problems`` is not empty.
    public init(_ configuration: GeneratorConfiguration) {
        let problems = configuration.problems
        precondition(problems.isEmpty, "invalid GeneratorConfiguration: \(problems.joined(separator: "; "))")
        self.configuration = configuration
        random = Xoshiro256StarStar(seed: configuration.seed)
        userSampler = ZipfSampler(ranks: configuration.users, exponent: configuration.userZipf)
        itemSampler = ZipfSampler(ranks: configuration.items, exponent: configuration.itemZipf)
        communitySampler = ZipfSampler(ranks: configuration.itemsPerCommunity, exponent: configuration.itemZipf)
        meanSessionGapMillis = 1_000 * configuration.eventsPerSession / configuration.eventsPerSecond

        // Community layout comes from its own SplitMix64 stream, so it does not consume draws
        // from the event stream.
        var layout = SplitMix64(seed: configuration.seed ^ 0xC0_33_0A_17_1E_5C_0F_FE)
        communitySalt = layout.next()
        let items = UInt64(configuration.items)
        var multipliers: [UInt64] = []
        var offsets: [UInt64] = []
        multipliers.reserveCapacity(configuration.communities)
        offsets.reserveCapacity(configuration.communities)
        for _ in 0..<configuration.communities {
            var multiplier = items == 1 ? 1 : 1 + layout.next() % (items - 1)
            while Self.gcd(multiplier, items) != 1 {
                multiplier = multiplier % (items - 1) + 1
            }
            multipliers.append(multiplier)
            offsets.append(layout.next() % items)
        }
        communityMultiplier = multipliers
        communityOffset = offsets
        sessionItems.reserveCapacity(configuration.exposuresPerSession.upperBound)
    }

    /// A generator with the default configuration, `seed` and `events`.
    public init(seed: UInt64, events: Int) {
        self.init(GeneratorConfiguration(seed: seed, events: events))
    }

    public mutating func next() -> Event? {
        guard emitted < configuration.events else { return nil }
        // Start sessions until the earliest pending event is due before the next session start,
        // unless what is pending already covers the budget (then open sessions play out).
        while needsSession {
            planSession()
        }
        guard let event = pending.popFirst() else {
            preconditionFailure("a planned session always leaves a pending event")
        }
        return emit(event)
    }

    private var needsSession: Bool {
        guard let first = pending.first else { return true }
        return emitted + pending.count < configuration.events && first.emitAt > nextSessionStart
    }

    /// The `ts` of the next session start.
    private var nextSessionStart: Int64 {
        configuration.startTime.millis + Int64(sessionClock.rounded(.down))
    }

    /// Decides a whole session at `nextSessionStart`: its user, exposures, clicks and follow-ups,
    /// and pushes them as pending events. Advances the session clock by an exponential gap.
    private mutating func planSession() {
        let c = configuration
        let start = nextSessionStart
        let user = userSampler.next(using: &random)
        let community = Int(SplitMix64.mix(UInt64(user) ^ communitySalt) % UInt64(c.communities))
        let exposures = Int(
            random.uniform(in: Int64(c.exposuresPerSession.lowerBound)...Int64(c.exposuresPerSession.upperBound)))
        sessionItems.removeAll(keepingCapacity: true)
        var time = start
        for index in 0..<exposures {
            if index > 0 {
                time += random.uniform(in: c.exposureGapMillis)
            }
            let item = chooseItem(community: community)
            sessionItems.append(item)
            push(type: .exposure, time: time, user: user, item: item)
            guard random.chance(c.clickRate) else { continue }
            let clickTime = time + random.uniform(in: c.clickDelayMillis)
            var dwell: Int64 = -1
            if random.chance(c.dwellFraction) {
                dwell = Int64(Swift.min(random.exponential(mean: c.meanDwellMillis), 600_000).rounded(.down))
            }
            push(type: .click, time: clickTime, user: user, item: item, dwellMillis: dwell)
            // Fixed order: like, collect, share, comment.
            pushFollowUp(.like, rate: c.likeRate, after: clickTime, user: user, item: item)
            pushFollowUp(.collect, rate: c.collectRate, after: clickTime, user: user, item: item)
            pushFollowUp(.share, rate: c.shareRate, after: clickTime, user: user, item: item)
            pushFollowUp(.comment, rate: c.commentRate, after: clickTime, user: user, item: item)
        }
        sessionClock += random.exponential(mean: meanSessionGapMillis)
    }

    /// An item for `community`'s user, distinct from the session's earlier items: from the
    /// community list with probability `communityAffinity`, else by global popularity. After
    /// eight colliding draws it takes the next unused id, so a session never repeats an item.
    private mutating func chooseItem(community: Int) -> Int32 {
        let c = configuration
        var item: Int32 = 1
        for _ in 0..<8 {
            if random.chance(c.communityAffinity) {
                let k = UInt64(communitySampler.next(using: &random) - 1)
                let mapped = (communityMultiplier[community] &* k &+ communityOffset[community]) % UInt64(c.items)
                item = Int32(mapped + 1)
            } else {
                item = Int32(itemSampler.next(using: &random))
            }
            if !sessionItems.contains(item) { return item }
        }
        while sessionItems.contains(item) {
            item = item % Int32(c.items) + 1
        }
        return item
    }

    /// With probability `rate`, an engagement of `type` a uniform ``GeneratorConfiguration/engagementDelayMillis``
    /// after the click at `clickTime`.
    private mutating func pushFollowUp(_ type: EventType, rate: Double, after clickTime: Int64, user: Int, item: Int32)
    {
        guard random.chance(rate) else { return }
        push(
            type: type, time: clickTime + random.uniform(in: configuration.engagementDelayMillis), user: user,
            item: item)
    }

    private mutating func push(type: EventType, time: Int64, user: Int, item: Int32, dwellMillis: Int64 = -1) {
        pending.push(
            PendingEvent(
                emitAt: time, sequence: 0, time: time, user: Int32(user), item: item, dwellMillis: dwellMillis,
                id: -1, type: type, isRetry: false))
    }

    /// Turns a pending event into an ``Event``: assigns its id, makes it late or schedules a retry
    /// by chance, and advances the watermark.
    private mutating func emit(_ pendingEvent: PendingEvent) -> Event {
        var event = pendingEvent
        if !event.isRetry {
            event.id = nextID
            nextID += 1
            if watermark > 0 && random.chance(configuration.lateFraction) {
                let lag = random.uniform(in: 1...configuration.maxLatenessMillis)
                event.time = watermark - Swift.min(lag, watermark)
            } else {
                watermark = Swift.max(watermark, event.time)
            }
            if random.chance(configuration.duplicateFraction) {
                var copy = event
                copy.isRetry = true
                copy.emitAt = pendingEvent.emitAt + random.uniform(in: configuration.retryDelayMillis)
                pending.push(copy)
            }
        }
        emitted += 1
        return Event(
            eventID: "e-\(event.id)", type: event.type, userID: "u\(event.user)", itemID: "i\(event.item)",
            time: EventTime(millis: event.time), dwellMillis: event.dwellMillis >= 0 ? event.dwellMillis : nil)
    }

    private static func gcd(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var (a, b) = (a, b)
        while b != 0 { (a, b) = (b, a % b) }
        return a
    }
}
