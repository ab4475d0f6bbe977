import Testing

@testable import RecstreamCore

/// The synthetic event stream: determinism, the golden prefix, rates, faults and ordering.
@Suite struct GeneratorTests {
    /// 200,000 default-configuration events of seed 7, generated once for the statistical tests.
    static let sample: [Event] = Array(EventGenerator(seed: 7, events: 200_000))
    static let sampleSummary = GeneratorSummary(sample)

    /// The first events of seed 42 with the default configuration. Benchmarks and saved test
    /// streams depend on this stream being frozen: if this test fails, a change altered the
    /// generator's draws. Revert it, or change these values on purpose and say so in the commit.
    @Test func seed42StartsWithTheGoldenPrefix() {
        let prefix = Array(EventGenerator(GeneratorConfiguration()).prefix(5))
        let golden: [Event] = [
            Event(
                eventID: "e-1", type: .exposure, userID: "u16516", itemID: "i1",
                time: EventTime(millis: 1_793_491_200_000)),
            Event(
                eventID: "e-2", type: .exposure, userID: "u12", itemID: "i3", time: EventTime(millis: 1_793_491_200_000)
            ),
            Event(
                eventID: "e-3", type: .exposure, userID: "u348", itemID: "i1345",
                time: EventTime(millis: 1_793_491_200_005)),
            Event(
                eventID: "e-4", type: .exposure, userID: "u3", itemID: "i2589",
                time: EventTime(millis: 1_793_491_200_007)),
            Event(
                eventID: "e-5", type: .exposure, userID: "u1", itemID: "i1327",
                time: EventTime(millis: 1_793_491_200_012)),
        ]
        #expect(prefix == golden)
    }

    @Test func theSameConfigurationGivesTheSameStream() {
        var configuration = GeneratorConfiguration(seed: 11, events: 30_000)
        configuration.lateFraction = 0.01
        configuration.duplicateFraction = 0.01
        let first = Array(EventGenerator(configuration))
        let second = Array(EventGenerator(configuration))
        #expect(first.count == 30_000)
        #expect(first == second)
        // Iterating a copy of a generator does not disturb the original either.
        let generator = EventGenerator(configuration)
        let viaCopy = Array(generator.prefix(100))
        #expect(Array(generator.prefix(100)) == viaCopy)
    }

    @Test func aDifferentSeedGivesADifferentStream() {
        let a = Array(EventGenerator(seed: 1, events: 1_000))
        let b = Array(EventGenerator(seed: 2, events: 1_000))
        #expect(a != b)
        let differingUsers = zip(a, b).filter { $0.userID != $1.userID }.count
        #expect(differingUsers > 500)
    }

    @Test func exactlyTheRequestedNumberOfEventsWithWellFormedIDs() {
        let summary = Self.sampleSummary
        #expect(summary.events == 200_000)
        #expect(summary.distinctEvents + summary.duplicates == 200_000)
        var nextID = 1
        var seen = Set<String>()
        for event in Self.sample {
            if seen.insert(event.eventID).inserted {
                #expect(event.eventID == "e-\(nextID)", "ids are e-1, e-2, … in order of first emission")
                nextID += 1
            }
            let user = Int(event.userID.dropFirst())
            let item = Int(event.itemID.dropFirst())
            #expect(event.userID.first == "u" && user != nil && (1...100_000).contains(user ?? 0), "\(event.userID)")
            #expect(event.itemID.first == "i" && item != nil && (1...20_000).contains(item ?? 0), "\(event.itemID)")
        }
        #expect(nextID - 1 == summary.distinctEvents)
    }

    @Test func clickThroughRateIsEightPercent() {
        let ctr = Self.sampleSummary.clickThroughRate
        print("CTR over 200,000 events of seed 7: \(ctr)")
        #expect((0.075...0.085).contains(ctr), "\(ctr)")
    }

    @Test(arguments: [
        (EventType.like, 0.15, 0.015), (.collect, 0.05, 0.009), (.share, 0.03, 0.007), (.comment, 0.04, 0.008),
    ])
    func engagementsFollowTheirRateOfClicks(type: EventType, rate: Double, tolerance: Double) {
        let summary = Self.sampleSummary
        let ratio = Double(summary.count(type)) / Double(summary.count(.click))
        // Tolerances are about five binomial standard deviations over ~14,500 clicks.
        #expect((rate - tolerance...rate + tolerance).contains(ratio), "\(type.name)/click = \(ratio)")
    }

    @Test func lateAndDuplicateFractionsAreAsConfigured() {
        let summary = Self.sampleSummary
        let late = Double(summary.late) / Double(summary.distinctEvents)
        let duplicates = Double(summary.duplicates) / Double(summary.distinctEvents)
        // Expected 0.001 each: about 200 ± 14 events.
        #expect((0.0007...0.0013).contains(late), "late fraction \(late)")
        #expect((0.0007...0.0013).contains(duplicates), "duplicate fraction \(duplicates)")
        #expect(summary.maxLatenessMillis <= 120_000)
        #expect(summary.maxLatenessMillis > 60_000, "lateness spans its range")
    }

    @Test func duplicatesRepeatTheirOriginalExactlyAndShortlyAfter() {
        var originals: [String: (event: Event, watermark: Int64)] = [:]
        var watermark = Int64.min
        var duplicates = 0
        for event in Self.sample {
            watermark = max(watermark, event.time.millis)
            if let original = originals[event.eventID] {
                duplicates += 1
                #expect(event == original.event)
                // Emitted within the retry delay (2 s) of event time, plus a second of slack for
                // the gap between the original's own time and the watermark.
                #expect(watermark - original.watermark <= 3_000, "\(event.eventID)")
            } else {
                originals[event.eventID] = (event, watermark)
            }
        }
        #expect(duplicates == Self.sampleSummary.duplicates)
        #expect(duplicates > 0)
    }

    @Test func timestampsNeverDecreaseExceptLateEventsAndRetries() {
        // Default faults: every event is at or above the running maximum, a repeated id, or late
        // by at most maxLatenessMillis.
        var seen = Set<String>()
        var maximum = Int64.min
        for event in Self.sample {
            let isRepeat = !seen.insert(event.eventID).inserted
            if !isRepeat && event.time.millis < maximum {
                #expect(maximum - event.time.millis <= 120_000)
            }
            maximum = max(maximum, event.time.millis)
        }
        // Without faults the stream is sorted by ts.
        var clean = GeneratorConfiguration(seed: 5, events: 50_000)
        clean.lateFraction = 0
        clean.duplicateFraction = 0
        let times = EventGenerator(clean).map(\.time)
        #expect(zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func eventTimeAdvancesAtTheConfiguredRate() throws {
        let first = try #require(Self.sample.first)
        let range = try #require(Self.sampleSummary.timeRange)
        #expect(first.time == GeneratorConfiguration().startTime, "the first session starts at startTime")
        // Late events reach back at most maxLatenessMillis before the start.
        #expect(range.lowerBound.millis >= first.time.millis - 120_000)
        // 2,000 events per second of event time once sessions overlap (after about one session
        // length): about 100,000 between 20 s and 70 s.
        let window = Self.sample.filter { (20_000..<70_000).contains($0.time.millis - first.time.millis) }.count
        print("events between 20 s and 70 s of event time: \(window)")
        #expect((95_000...105_000).contains(window), "\(window)")
        // The whole stream: 200,000 events at that rate, then the last sessions play out for at
        // most a session length plus click and engagement delays (about 30 s).
        let seconds = Double(range.upperBound.millis - first.time.millis) / 1_000
        #expect((95...130).contains(seconds), "\(seconds) s")
    }

    @Test func engagementsComeSecondsAfterTheirExposureAndClick() {
        var configuration = GeneratorConfiguration(seed: 9, events: 60_000)
        configuration.lateFraction = 0
        configuration.duplicateFraction = 0
        struct Pair: Hashable {
            var user: String
            var item: String
        }
        var exposures: [Pair: [Int64]] = [:]
        var clicks: [Pair: [Int64]] = [:]
        var checked = 0
        for event in EventGenerator(configuration) {
            let pair = Pair(user: event.userID, item: event.itemID)
            let t = event.time.millis
            switch event.type {
            case .exposure:
                exposures[pair, default: []].append(t)
            case .click:
                #expect(exposures[pair, default: []].contains { (t - 5_000...t - 1_000).contains($0) }, "\(event)")
                clicks[pair, default: []].append(t)
                checked += 1
            case .like, .collect, .share, .comment:
                #expect(clicks[pair, default: []].contains { (t - 8_000...t - 1_000).contains($0) }, "\(event)")
                checked += 1
            }
        }
        #expect(checked > 4_000)
    }

    @Test func clicksCarryDwellTimeAtTheConfiguredFraction() {
        var clicks = 0
        var withDwell = 0
        for event in Self.sample {
            if event.type == .click {
                clicks += 1
                if let dwell = event.dwellMillis {
                    withDwell += 1
                    #expect((0...600_000).contains(dwell))
                }
            } else {
                #expect(event.dwellMillis == nil)
            }
        }
        let fraction = Double(withDwell) / Double(clicks)
        #expect((0.78...0.82).contains(fraction), "\(fraction)")
    }

    @Test func communityListsAreCollisionFreeAndBounded() {
        // Every exposure from a single community list of 1,000 items: exactly those 1,000 items
        // appear (one exposure per session, so no collision fallback is involved).
        var configuration = GeneratorConfiguration(seed: 13, events: 150_000)
        configuration.communities = 1
        configuration.communityAffinity = 1
        configuration.itemsPerCommunity = 1_000
        configuration.exposuresPerSession = 1...1
        let summary = GeneratorSummary(EventGenerator(configuration))
        #expect(summary.distinctItems == 1_000)
    }

    @Test func popularUsersAndItemsDominate() {
        var users: [String: Int] = [:]
        var items: [String: Int] = [:]
        for event in Self.sample where event.type == .exposure {
            users[event.userID, default: 0] += 1
            items[event.itemID, default: 0] += 1
        }
        #expect(users.max { $0.value < $1.value }?.key == "u1")
        #expect(Self.sampleSummary.distinctUsers < 100_000)
        #expect(Self.sampleSummary.distinctItems > 5_000)
    }

    @Test func summaryCountsAHandWrittenSequence() {
        func event(_ id: String, _ type: EventType, _ user: String, _ item: String, _ t: Int64) -> Event {
            Event(eventID: id, type: type, userID: user, itemID: item, time: EventTime(millis: t))
        }
        let events = [
            event("e-1", .exposure, "u1", "i1", 100),
            event("e-2", .exposure, "u2", "i1", 105),
            event("e-3", .click, "u1", "i1", 110),
            event("e-1", .exposure, "u1", "i1", 100),  // retry: duplicate, not late
            event("e-4", .like, "u1", "i2", 90),  // 20 ms below the maximum 110: late
            event("e-5", .exposure, "u3", "i3", 110),  // equal to the maximum: in order
        ]
        let summary = GeneratorSummary(events)
        #expect(summary.events == 6)
        #expect(summary.distinctEvents == 5)
        #expect(summary.duplicates == 1)
        #expect(summary.late == 1)
        #expect(summary.maxLatenessMillis == 20)
        #expect(summary.count(.exposure) == 3 && summary.count(.click) == 1 && summary.count(.like) == 1)
        #expect(summary.distinctUsers == 3 && summary.distinctItems == 3)
        #expect(summary.timeRange == EventTime(millis: 90)...EventTime(millis: 110))
        #expect(summary.clickThroughRate == 1.0 / 3)
        #expect(GeneratorSummary([Event]()).timeRange == nil)
    }

    @Test func invalidConfigurationsListTheirProblems() {
        #expect(GeneratorConfiguration().problems.isEmpty)
        var configuration = GeneratorConfiguration()
        configuration.users = 0
        configuration.clickRate = 1.5
        configuration.itemsPerCommunity = 30_000
        let problems = configuration.problems
        #expect(problems.count == 3, "\(problems)")
        #expect(problems.contains { $0.hasPrefix("users is 0") })
        #expect(problems.contains { $0.hasPrefix("clickRate is 1.5") })
        #expect(problems.contains { $0.hasPrefix("itemsPerCommunity is 30000") })
    }
}
