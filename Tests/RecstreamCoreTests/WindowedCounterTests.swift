import RecstreamCore
import Testing

@Suite("WindowedCounter")
struct WindowedCounterTests {
    // 2026-11-01T00:00:00Z: a day boundary (1_793_491_200_000 / 86_400_000 = 20758 exactly).
    let day0: Int64 = 1_793_491_200_000

    func t(_ minutes: Int64, _ seconds: Int64 = 0) -> EventTime { EventTime(millis: day0 + minutes * 60_000 + seconds * 1000) }

    @Test func inOrderEventsFillEveryWindow() {
        var c = WindowedCounter()
        // Events at 00:00:10, 00:00:50 (minute 0), 00:30 (minute 30), 01:10 (minute 70).
        for time in [t(0, 10), t(0, 50), t(30), t(70)] { c.record(time, watermark: time) }
        let now = t(70)
        // 1h at 01:10 covers minutes 11...70: only the events at minutes 30 and 70.
        #expect(c.count(in: .oneHour, now: now) == 2)
        // 24h covers hours 0 and 1: all four.
        #expect(c.count(in: .oneDay, now: now) == 4)
        #expect(c.count(in: .sevenDays, now: now) == 4)
        #expect(c.count(in: .thirtyDays, now: now) == 4)
        #expect(c.total == 4)
    }

    @Test func hourWindowRollsOverAtMinuteBoundaries() {
        var c = WindowedCounter()
        c.record(t(0, 30), watermark: t(0, 30))
        // At 00:59:59 minute 0 is the oldest of the last 60 minute buckets: counted.
        #expect(c.count(in: .oneHour, now: t(59, 59)) == 1)
        // At 01:00:00 the window is minutes 1...60: minute 0 has left it.
        #expect(c.count(in: .oneHour, now: t(60)) == 0)
        // Still inside 24h.
        #expect(c.count(in: .oneDay, now: t(60)) == 1)
    }

    @Test func dayWindowsUseUTCDays() {
        var c = WindowedCounter()
        c.record(t(0), watermark: t(0))
        // Six days later at 23:59 the 7d window (days 0...6) still holds it.
        #expect(c.count(in: .sevenDays, now: t(6 * 1440 + 1439)) == 1)
        // On day 7 it is gone from 7d, not from 30d.
        #expect(c.count(in: .sevenDays, now: t(7 * 1440)) == 0)
        #expect(c.count(in: .thirtyDays, now: t(7 * 1440)) == 1)
        #expect(c.count(in: .thirtyDays, now: t(30 * 1440)) == 0)
        #expect(c.total == 1)
    }

    @Test func lateEventLandsInItsOwnBucket() {
        var c = WindowedCounter()
        c.record(t(10), watermark: t(10))
        c.record(t(20), watermark: t(20))
        // A late event from minute 5 while the watermark is at minute 20.
        c.record(t(5), watermark: t(20))
        #expect(c.minutes.map(\.index) == [5, 10, 20].map { UInt32((day0 / 60_000) + $0) })
        #expect(c.count(in: .oneHour, now: t(20)) == 3)
        // At 01:05:30 the 1h window is minutes 6...65: the late event at minute 5 is out, 10 and 20 in.
        #expect(c.count(in: .oneHour, now: t(65, 30)) == 2)
    }

    @Test func oldBucketsArePrunedAndBounded() {
        var c = WindowedCounter()
        for minute in 0..<(3 * 1440) { c.record(t(Int64(minute)), watermark: t(Int64(minute))) }
        #expect(c.minutes.count == 60)
        #expect(c.hours.count == 24)
        #expect(c.days.count == 3)
        #expect(c.total == 3 * 1440)
    }

    @Test func eventOlderThanRetainedMinutesCountsOnlyInCoarserBuckets() {
        var c = WindowedCounter()
        c.record(t(200), watermark: t(200))
        c.record(t(100), watermark: t(200))  // 100 minutes back: outside the 60 minute buckets
        #expect(c.minutes.count == 1)
        #expect(c.hours.count == 2)
        #expect(c.count(in: .oneDay, now: t(200)) == 2)
        #expect(c.count(in: .oneHour, now: t(200)) == 1)
    }

    @Test func encodeDecodeRoundTrip() throws {
        var c = WindowedCounter()
        for minute in stride(from: 0, to: 5000, by: 7) { c.record(t(Int64(minute)), watermark: t(Int64(minute))) }
        c.record(t(4990), watermark: t(4998))
        var w = BinaryWriter()
        c.encode(into: &w)
        var r = BinaryReader(w.bytes)
        let decoded = try WindowedCounter.decode(from: &r)
        try r.expectEnd()
        #expect(decoded == c)
    }

    @Test func truncatedRecordThrowsInsteadOfTrapping() {
        var c = WindowedCounter()
        c.record(t(1), watermark: t(1))
        var w = BinaryWriter()
        c.encode(into: &w)
        for cut in 0..<w.bytes.count {
            var r = BinaryReader(Array(w.bytes[0..<cut]))
            #expect(throws: StateDecodingError.self) { _ = try WindowedCounter.decode(from: &r) }
        }
    }

    @Test func mergeAddsMatchingBuckets() {
        var a = WindowedCounter()
        var b = WindowedCounter()
        a.record(t(1), watermark: t(1))
        a.record(t(3), watermark: t(3))
        b.record(t(3), watermark: t(3))
        b.record(t(4), watermark: t(4))
        let m = a.merged(with: b)
        #expect(m.total == 4)
        #expect(m.minutes.map(\.count) == [1, 2, 1])
        #expect(m.count(in: .oneHour, now: t(4)) == 4)
    }
}

@Suite("Smoothed rates")
struct RatePriorTests {
    @Test func posteriorMeanMatchesHandComputation() {
        // 3 clicks in 10 exposures with Beta(1, 12): (3 + 1) / (10 + 1 + 12) = 4/23.
        let p = RatePrior(alpha: 1, beta: 12)
        #expect(abs(p.smoothedRate(events: 3, exposures: 10) - 4.0 / 23.0) < 1e-15)
        // No data: the prior mean 1/13.
        #expect(abs(p.smoothedRate(events: 0, exposures: 0) - 1.0 / 13.0) < 1e-15)
    }

    @Test func reportUsesConfiguredPriorsPerWindow() {
        var counters = ItemCounters()
        let now = EventTime(millis: 1_793_491_200_000)
        for i in 0..<10 { counters.record(.exposure, at: EventTime(millis: now.millis - Int64(i)), watermark: now) }
        for i in 0..<2 { counters.record(.click, at: EventTime(millis: now.millis - Int64(i)), watermark: now) }
        counters.record(.like, at: now, watermark: now)
        let config = StatsConfiguration(priors: [.ctr: RatePrior(alpha: 2, beta: 8)])
        let report = ItemStatsReport(itemID: "i1", counters: counters, now: now, configuration: config)
        // CTR: (2 + 2) / (10 + 2 + 8) = 0.2; like rate with the default Beta(1, 80): 2 / 91.
        #expect(abs(report.rates[.oneHour]![.ctr]! - 0.2) < 1e-15)
        #expect(abs(report.rates[.oneHour]![.likeRate]! - 2.0 / 91.0) < 1e-15)
        #expect(report.counts[.oneHour]![.exposure] == 10)
        #expect(report.totals[.click] == 2)
    }

    @Test func invalidPriorIsReported() {
        let config = StatsConfiguration(priors: [.shareRate: RatePrior(alpha: 0, beta: 1)])
        #expect(config.validate().count == 1)
    }
}
