import RecstreamCore
import Testing

@Suite("ExposureFilter")
struct ExposureFilterTests {
    let day = ExposureTime.day
    let day0 = ExposureTime.day0

    func configuration(slices: Int) -> ExposureFilterConfiguration {
        ExposureFilterConfiguration(sliceCount: slices)
    }

    /// The guarantee for an exposure at t, N = 30 days, L = N / s: remembered while W < t + N,
    /// forgotten once W ≥ t + N + L. Exactly: the slice [j·L, (j+1)·L) of t expires when
    /// W − N reaches its end, which lies in (t, t + L].
    @Test(arguments: [1, 3, 6, 10, 15, 30], [0.0, 0.5, 1.0])
    func rememberedThroughTheRetentionAndForgottenAtMostOneSliceLater(slices: Int, phase: Double) {
        let config = configuration(slices: slices)
        let length = config.sliceLengthMillis
        let retention = config.retentionMillis
        // A time at the start, middle or last millisecond of its slice.
        let sliceStart = (day0 / length + 3) * length
        let t = sliceStart + min(Int64(phase * Double(length)), length - 1)
        let item = ExposureHash("i977")
        var filter = ExposureFilter(configuration: config)
        let outcome = filter.insert(
            item, at: EventTime(millis: t), watermark: EventTime(millis: t), configuration: config)
        #expect(outcome == .inserted)

        #expect(filter.contains(item, watermark: EventTime(millis: t)))
        #expect(filter.contains(item, watermark: EventTime(millis: t + retention - 1)))
        let sliceEnd = filter.end(ofSlice: filter.sliceIndex(of: EventTime(millis: t))).millis
        #expect(sliceEnd > t && sliceEnd <= t + length)
        // The last millisecond the slice is live, then gone.
        #expect(filter.contains(item, watermark: EventTime(millis: sliceEnd + retention - 1)))
        #expect(!filter.contains(item, watermark: EventTime(millis: sliceEnd + retention)))
        #expect(!filter.contains(item, watermark: EventTime(millis: t + retention + length)))
        let dropped = filter.expire(watermark: EventTime(millis: t + retention + length))
        #expect(dropped == 1)
        #expect(filter.isEmpty)
    }

    /// The product's example with 1-day slices: an exposure on day 0 is remembered through day
    /// 29.999 (and, with its slice [day 0, day 1), through day 30.999) and forgotten on day 31.
    @Test func dayZeroExposureWithOneDaySlices() {
        let config = configuration(slices: 30)
        #expect(config.sliceLengthMillis == day)
        for offset in [0, day / 2, day - 1] {
            let t = EventTime(millis: day0 + offset)
            var filter = ExposureFilter(configuration: config)
            filter.insert(ExposureHash("i1"), at: t, watermark: t, configuration: config)
            #expect(filter.contains(ExposureHash("i1"), watermark: EventTime(millis: day0 + 30 * day - 1)))
            #expect(filter.contains(ExposureHash("i1"), watermark: EventTime(millis: day0 + 31 * day - 1)))
            #expect(!filter.contains(ExposureHash("i1"), watermark: EventTime(millis: day0 + 31 * day)))
            #expect(filter.summary(watermark: EventTime(millis: day0 + 31 * day)).slices.isEmpty)
        }
    }

    @Test func lateExposuresWithinTheRetentionAreRemembered() {
        let config = configuration(slices: 6)
        var filter = ExposureFilter(configuration: config)
        let watermark = ExposureTime.at(days: 20)
        filter.insert(ExposureHash("now"), at: watermark, watermark: watermark, configuration: config)
        // Late into a slice that does not exist yet, then into one that does.
        let late = ExposureTime.at(days: 3)
        let lateOutcome = filter.insert(ExposureHash("late"), at: late, watermark: watermark, configuration: config)
        #expect(lateOutcome == .inserted)
        #expect(filter.slices.count == 2)
        let lateToo = ExposureTime.at(days: 18)
        let lateTooOutcome = filter.insert(
            ExposureHash("late too"), at: lateToo, watermark: watermark, configuration: config)
        #expect(lateTooOutcome == .inserted)
        for (id, t) in [("now", watermark), ("late", late), ("late too", lateToo)] {
            #expect(filter.contains(ExposureHash(id), watermark: watermark))
            #expect(filter.contains(ExposureHash(id), watermark: t + .milliseconds(config.retentionMillis - 1)))
        }
        #expect(filter.slices.map(\.index) == filter.slices.map(\.index).sorted())
    }

    @Test func anExposureOlderThanTheRetentionIsNotStored() {
        let config = configuration(slices: 6)
        var filter = ExposureFilter(configuration: config)
        let watermark = ExposureTime.at(days: 100)
        let old = ExposureTime.at(days: 60)
        let oldOutcome = filter.insert(ExposureHash("old"), at: old, watermark: watermark, configuration: config)
        #expect(oldOutcome == .expired)
        #expect(filter.isEmpty)
    }

    @Test func aRepeatInTheSameSliceChangesNothing() {
        let config = configuration(slices: 6)
        var filter = ExposureFilter(configuration: config)
        let t = ExposureTime.at(days: 1)
        let first = filter.insert(ExposureHash("i1"), at: t, watermark: t, configuration: config)
        #expect(first == .inserted)
        let before = filter
        let repeated = filter.insert(
            ExposureHash("i1"), at: t + .seconds(60), watermark: t + .seconds(60), configuration: config)
        #expect(repeated == .alreadyPresent)
        #expect(filter == before)
    }

    @Test func liveSlicesNeverExceedSliceCountPlusOne() {
        let seed: UInt64 = 0xE3_0001
        print("liveSlicesNeverExceedSliceCountPlusOne seed \(seed)")
        var rng = SplitMix64(seed: seed)
        for slices in [1, 3, 6, 10] {
            let config = configuration(slices: slices)
            var filter = ExposureFilter(configuration: config)
            var watermark = day0
            var ids = ItemIDs()
            var worst = 0
            for n in 0..<5_000 as Range<UInt64> {
                watermark += Int64(rng.next() % UInt64(day / 20))
                // One in four is late by up to 40 days (some beyond the retention).
                let time = rng.next() % 4 == 0 ? watermark - Int64(rng.next() % UInt64(40 * day)) : watermark
                filter.insert(
                    ids.member(n), at: EventTime(millis: time), watermark: EventTime(millis: watermark),
                    configuration: config)
                worst = max(worst, filter.slices.count)
            }
            #expect(worst <= slices + 1)
            #expect(worst >= slices)
        }
    }

    @Test func aFilterKeepsItsGeometryUntilItIsEmpty() {
        let six = configuration(slices: 6)
        let ten = configuration(slices: 10)
        var filter = ExposureFilter(configuration: six)
        let t = ExposureTime.at(days: 0)
        filter.insert(ExposureHash("a"), at: t, watermark: t, configuration: six)
        filter.insert(ExposureHash("b"), at: t + .seconds(1), watermark: t + .seconds(1), configuration: ten)
        #expect(filter.sliceCount == 6)
        #expect(filter.sliceLengthMillis == 5 * day)
        let later = ExposureTime.at(days: 40)
        filter.insert(ExposureHash("c"), at: later, watermark: later, configuration: ten)
        #expect(filter.sliceCount == 10)
        #expect(filter.sliceLengthMillis == 3 * day)
        #expect(filter.slices.count == 1)
    }

    /// A single user's whole-check rate with n items spread evenly over 30 days (several slices
    /// live), measured on 1,000,000 non-members at the end.
    @Test(arguments: [10, 1_000, 100_000])
    func wholeCheckRateMeetsTheTargetAtEveryFillLevel(items: Int) {
        let config = ExposureFilterConfiguration()
        var filter = ExposureFilter(configuration: config)
        var ids = ItemIDs()
        let span = 30 * day
        for n in 0..<items {
            let t = EventTime(millis: day0 + span * Int64(n) / Int64(items))
            filter.insert(ids.member(UInt64(n)), at: t, watermark: t, configuration: config)
        }
        let watermark = EventTime(millis: day0 + span - 1)
        var missing = 0
        for n in 0..<UInt64(items) where !filter.contains(ids.member(n), watermark: watermark) { missing += 1 }
        #expect(missing == 0)
        let measured = measuredFalsePositiveRate(probes: 1_000_000) { filter.contains($0, watermark: watermark) }
        let estimated = filter.estimatedFalsePositiveRate(watermark: watermark)
        let live = filter.liveSlices(watermark: watermark)
        print(
            "exposure filter, \(items) items over 30 days: \(live.count) live slices, "
                + "\(live.reduce(0) { $0 + $1.filter.filters.count }) sub-filters, "
                + "\(filter.encodedByteCount) bytes serialized "
                + "(\(twoDecimals(Double(filter.encodedByteCount) / Double(items))) per item), "
                + "\(filter.approximateBytes) in memory; "
                + "measured \(percent(measured)) on 1,000,000 non-members, estimated \(percent(estimated))"
        )
        #expect(live.count >= 6)
        #expect(estimated <= config.targetFalsePositiveRate)
        #expect(measured <= 1.2 * config.targetFalsePositiveRate)
    }

    @Test func fiftyThousandExposuresInOneDayStillMeetTheTarget() {
        let config = ExposureFilterConfiguration()
        var filter = ExposureFilter(configuration: config)
        var ids = ItemIDs()
        let items = 50_000
        for n in 0..<items {
            let t = EventTime(millis: day0 + day * Int64(n) / Int64(items))
            filter.insert(ids.member(UInt64(n)), at: t, watermark: t, configuration: config)
        }
        let watermark = EventTime(millis: day0 + day - 1)
        var missing = 0
        for n in 0..<UInt64(items) where !filter.contains(ids.member(n), watermark: watermark) { missing += 1 }
        #expect(missing == 0)
        let measured = measuredFalsePositiveRate(probes: 1_000_000) { filter.contains($0, watermark: watermark) }
        let estimated = filter.estimatedFalsePositiveRate(watermark: watermark)
        let summary = filter.summary(watermark: watermark)
        print(
            "50,000 exposures in one day: \(summary.slices.count) slice(s), "
                + "\(summary.slices.map(\.subFilterCount)) sub-filters, "
                + "\(summary.byteCount) bytes "
                + "(\(twoDecimals(Double(summary.byteCount) / Double(items))) per exposure); "
                + "measured \(percent(measured)), estimated \(percent(estimated))"
        )
        #expect(estimated <= config.targetFalsePositiveRate)
        #expect(measured <= 1.2 * config.targetFalsePositiveRate)
    }

    func sampleFilter(slices: Int, itemsPerSlice: Int) -> ExposureFilter {
        let config = configuration(slices: 6)
        var filter = ExposureFilter(configuration: config)
        var ids = ItemIDs()
        for s in 0..<slices {
            for n in 0..<itemsPerSlice {
                let t = EventTime(millis: day0 + Int64(s) * config.sliceLengthMillis + Int64(n) * 60_000)
                filter.insert(ids.member(UInt64(s * 1000 + n)), at: t, watermark: t, configuration: config)
            }
        }
        return filter
    }

    @Test func encodeDecodeRoundTripIsExact() throws {
        let filter = sampleFilter(slices: 4, itemsPerSlice: 120)
        #expect(filter.slices.count == 4)
        #expect(filter.slices.contains { $0.filter.filters.count > 1 })
        var writer = BinaryWriter()
        filter.encode(into: &writer)
        #expect(writer.bytes.first == ExposureFilter.formatVersion)
        #expect(writer.bytes.count == filter.encodedByteCount)
        var reader = BinaryReader(writer.bytes)
        let decoded = try ExposureFilter.decode(from: &reader)
        try reader.expectEnd()
        #expect(decoded == filter)
        var again = BinaryWriter()
        decoded.encode(into: &again)
        #expect(again.bytes == writer.bytes)
    }

    @Test func everyTruncationOfASmallFilterThrows() {
        let filter = sampleFilter(slices: 2, itemsPerSlice: 12)
        var writer = BinaryWriter()
        filter.encode(into: &writer)
        var accepted: [Int] = []
        for length in 0..<writer.bytes.count {
            var reader = BinaryReader(Array(writer.bytes[0..<length]))
            do {
                _ = try ExposureFilter.decode(from: &reader)
                accepted.append(length)
            } catch {}
        }
        #expect(accepted.isEmpty, "prefixes decoded without error: \(accepted)")
    }

    @Test func unknownVersionsAndBadGeometryAreRejected() {
        let filter = sampleFilter(slices: 1, itemsPerSlice: 3)
        var writer = BinaryWriter()
        filter.encode(into: &writer)
        let good = writer.bytes
        // [version, retention days, slice count, slices, ...]
        for (offset, value) in [(0, UInt8(2)), (1, UInt8(0)), (2, UInt8(0)), (3, UInt8(9))] {
            var bad = good
            bad[offset] = value
            var reader = BinaryReader(bad)
            #expect(throws: StateDecodingError.self) { _ = try ExposureFilter.decode(from: &reader) }
        }
    }

    @Test func summaryDescribesTheLiveSlices() {
        let config = configuration(slices: 6)
        let filter = sampleFilter(slices: 3, itemsPerSlice: 10)
        let watermark = EventTime(millis: day0 + 3 * config.sliceLengthMillis - 1)
        let summary = filter.summary(watermark: watermark)
        #expect(summary.slices.count == 3)
        #expect(summary.estimatedCount == 30)
        #expect(summary.slices.map(\.estimatedCount) == [10, 10, 10])
        #expect(summary.sliceLengthMillis == 5 * day)
        for slice in summary.slices {
            #expect(slice.end.millis - slice.start.millis == 5 * day)
            #expect(slice.start.millis % (5 * day) == 0)
        }
        #expect(summary.byteCount == filter.byteCount)
        #expect(summary.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
        // Once the first slice has expired it is left out, before any drop.
        let later = EventTime(millis: summary.slices[0].end.millis + config.retentionMillis)
        #expect(filter.summary(watermark: later).slices.count == 2)
        #expect(filter.estimatedCount(watermark: later) == 20)
    }

    @Test func configurationValidation() {
        #expect(ExposureFilterConfiguration().validate().isEmpty)
        #expect(ExposureFilterConfiguration().sliceLengthMillis == 5 * day)
        let bad = ExposureFilterConfiguration(
            retentionDays: 0, sliceCount: 0, targetFalsePositiveRate: 1, initialCapacity: 0, growth: 1, tightening: 1,
            laterTightening: 0.01, sweepUsersPerExposure: -1)
        // Retention, slices, target, sweep, capacity, growth, tightening, later tightening, and
        // growth × later tightening < 1.
        #expect(bad.validate().count == 9)
        // Errors that shrink faster than capacities grow are refused (double hashing's floor).
        let shrinking = ExposureFilterConfiguration(growth: 2, tightening: 0.3)
        #expect(shrinking.validate().count == 1)
    }
}
