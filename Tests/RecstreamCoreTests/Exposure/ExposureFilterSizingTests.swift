import RecstreamCore
import Testing

/// The measurements behind docs/exposure-filter.md: bytes per retained exposure and the measured
/// whole-check false-positive rate by slice count, load and sizing policy, all at a 1 % target.
/// Deterministic (no clock, fixed seeds); the tables are printed for the doc.
@Suite("ExposureFilterSizing")
struct ExposureFilterSizingTests {
    /// The SplitMix64 seed of the day-to-day variation.
    static let variationSeed: UInt64 = 7

    static let sliceCounts = [1, 3, 6, 8, 10, 15, 30]
    static let loads = [10, 100, 1_000, 10_000]

    /// 60 days: the last slice period starts at day 30 or later for every slice count, so the
    /// samples see a full retention; day 60 is a slice boundary for all of them, so the final
    /// probes run with every live slice full (the worst moment for false positives).
    @Test(arguments: sliceCounts)
    func sliceCountTable(slices: Int) {
        let config = ExposureFilterConfiguration(sliceCount: slices)
        var row = "| \(slices) | \(twoDecimals(Double(config.sliceLengthMillis) / Double(ExposureTime.day))) |"
        for load in Self.loads {
            let m = ExposureFilterSizing.measure(
                configuration: config, exposuresPerDay: load, days: 60, falsePositiveProbes: 200_000)
            row += " \(twoDecimals(m.bytesPerExposure)) / \(percent(m.measuredFalsePositiveRate ?? 0)) |"
            #expect(m.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
            #expect((m.measuredFalsePositiveRate ?? 1) <= 1.2 * config.targetFalsePositiveRate)
        }
        // The same with ±50 % day-to-day variation (bytes only).
        for load in [100, 1_000] {
            let m = ExposureFilterSizing.measure(
                configuration: config, exposuresPerDay: load, days: 60, dailyVariation: 0.5, seed: Self.variationSeed)
            row += " \(twoDecimals(m.bytesPerExposure)) |"
            #expect(m.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
        }
        print("slice table " + row + " variation seed \(Self.variationSeed)")
    }

    /// The default against the 2.5-byte goal, steady and with ±50 % day-to-day variation.
    @Test(arguments: [100, 1_000, 10_000], [0.0, 0.5])
    func defaultConfigurationBytesPerExposure(load: Int, variation: Double) {
        let config = ExposureFilterConfiguration()
        let m = ExposureFilterSizing.measure(
            configuration: config, exposuresPerDay: load, days: 60, dailyVariation: variation, seed: Self.variationSeed,
            falsePositiveProbes: 100_000)
        print(
            "default load \(load)/day variation \(variation) (seed \(Self.variationSeed)): "
                + "\(twoDecimals(m.bytesPerExposure)) bytes per retained exposure serialized "
                + "(peak \(twoDecimals(m.peakBytesPerExposure)), "
                + "in memory \(twoDecimals(m.memoryBytesPerExposure))), "
                + "\(m.liveSlices) slices, \(m.subFilters) sub-filters, "
                + "measured \(percent(m.measuredFalsePositiveRate ?? 0)), "
                + "estimated \(percent(m.estimatedFalsePositiveRate))"
        )
        #expect(m.bytesPerExposure <= 2.5)
        #expect(m.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
        #expect((m.measuredFalsePositiveRate ?? 1) <= 1.2 * config.targetFalsePositiveRate)
    }

    /// Adaptive vs Almeida's geometric sizing and the tightening ratios (r, then r₂ from the
    /// third sub-filter), at the default slice count; each load steady and ±50 %.
    @Test(arguments: [
        (ExposureFilterConfiguration.CapacityPolicy.adaptive, 0.5, 0.8), (.adaptive, 0.5, 0.5), (.adaptive, 0.8, 0.8),
        (.geometric, 0.5, 0.8), (.geometric, 0.5, 0.5), (.geometric, 0.8, 0.8),
    ])
    func policyAndTighteningTable(
        policy: ExposureFilterConfiguration.CapacityPolicy, tightening: Double, laterTightening: Double
    ) {
        let config = ExposureFilterConfiguration(
            tightening: tightening, laterTightening: laterTightening, capacityPolicy: policy)
        var row = "| \(policy.rawValue) | \(tightening) then \(laterTightening) |"
        for load in [10, 100, 1_000] {
            for variation in [0.0, 0.5] {
                let m = ExposureFilterSizing.measure(
                    configuration: config, exposuresPerDay: load, days: 60, dailyVariation: variation,
                    seed: Self.variationSeed)
                row += " \(twoDecimals(m.bytesPerExposure)) |"
                #expect(m.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
            }
        }
        print("policy table " + row + " variation seed \(Self.variationSeed)")
    }

    /// A burst: 50,000 exposures in one day from a user with no history, which is Almeida's
    /// geometric ramp inside one slice, by tightening ratio.
    @Test(arguments: [(0.5, 0.8), (0.5, 0.5), (0.8, 0.8)])
    func burstByTightening(tightening: Double, laterTightening: Double) {
        let config = ExposureFilterConfiguration(tightening: tightening, laterTightening: laterTightening)
        var filter = ExposureFilter(configuration: config)
        var ids = ItemIDs()
        for n in 0..<50_000 {
            let t = EventTime(millis: ExposureTime.day0 + ExposureTime.day * Int64(n) / 50_000)
            filter.insert(ids.member(UInt64(n)), at: t, watermark: t, configuration: config)
        }
        let watermark = EventTime(millis: ExposureTime.day0 + ExposureTime.day - 1)
        print(
            "burst of 50,000 in a day, tightening \(tightening) then \(laterTightening): "
                + "\(twoDecimals(Double(filter.encodedByteCount) / 50_000)) bytes per exposure, "
                + "\(filter.slices.map(\.filter.filters.count)) sub-filters, "
                + "estimated \(percent(filter.estimatedFalsePositiveRate(watermark: watermark)))"
        )
        #expect(filter.estimatedFalsePositiveRate(watermark: watermark) <= config.targetFalsePositiveRate)
    }

    /// A light user (one exposure) and a heavy one (50,000 a day).
    @Test func lightAndHeavyUsers() {
        let config = ExposureFilterConfiguration()
        var light = ExposureFilter(configuration: config)
        let t = ExposureTime.at(days: 0)
        light.insert(ExposureHash("i1"), at: t, watermark: t, configuration: config)
        print(
            "light user, 1 exposure: \(light.encodedByteCount) bytes serialized, "
                + "\(light.byteCount) bytes of fingerprints in memory, "
                + "\(light.approximateBytes) in memory with Swift's headers"
        )
        // version, days, slice count, slices, index (3 bytes), sub-filters, kind, width,
        // capacity, count, 2 bytes of fingerprint.
        #expect(light.encodedByteCount <= 16)

        let heavy = ExposureFilterSizing.measure(
            configuration: config, exposuresPerDay: 50_000, days: 40, samples: 4, falsePositiveProbes: 200_000)
        #expect(heavy.bytesPerExposure <= 2.5)
        print(
            "heavy user, 50,000 a day: \(twoDecimals(heavy.bytesPerExposure)) bytes per retained exposure, "
                + "\(heavy.serializedBytes) bytes for \(heavy.retainedExposures) retained, "
                + "measured \(percent(heavy.measuredFalsePositiveRate ?? 0)), "
                + "estimated \(percent(heavy.estimatedFalsePositiveRate))"
        )
        #expect(heavy.estimatedFalsePositiveRate <= config.targetFalsePositiveRate)
        #expect((heavy.measuredFalsePositiveRate ?? 1) <= 1.2 * config.targetFalsePositiveRate)
    }

    @Test func measurementsAreDeterministic() {
        let config = ExposureFilterConfiguration()
        let a = ExposureFilterSizing.measure(
            configuration: config, exposuresPerDay: 50, days: 45, dailyVariation: 0.3, falsePositiveProbes: 1_000)
        let b = ExposureFilterSizing.measure(
            configuration: config, exposuresPerDay: 50, days: 45, dailyVariation: 0.3, falsePositiveProbes: 1_000)
        #expect(a == b)
        #expect(ExposureFilterSizing.bytesPerExposure(configuration: config, exposuresPerDay: 50, days: 45) > 0)
    }
}
