/// Deterministic measurements of one user's exposure filter under a synthetic load: bytes per
/// retained exposure and the false-positive rate, for docs/exposure-filter.md and the tests.
///
/// The load: `exposuresPerDay` distinct items a day (optionally varied per day), at evenly spaced
/// event times, for `days` days from day 0, each inserted with the watermark at its own time.
/// Item ids are 8 bytes, SplitMix64's mixer of a counter (a bijection, so all distinct; probes for
/// false positives use counters with the top bit set, so they are never members).
///
/// "Retained" exposures at a watermark W are those at t > W − N: the ones the filter must
/// remember. Bytes are the serialized record (``ExposureFilter/encodedByteCount``: the bits plus a
/// few bytes of header per sub-filter) and, separately, the in-memory estimate
/// (``ExposureFilter/approximateBytes``). Both are averaged over `samples` watermarks spread evenly
/// over the last slice length of the run, because the newest slice fills up as time passes.
public enum ExposureFilterSizing {
    /// One measurement.
    public struct Measurement: Sendable, Hashable {
        public var exposuresPerDay: Int
        public var days: Int
        /// Mean over the samples of serialized bytes / retained exposures.
        public var bytesPerExposure: Double
        /// The largest sample of serialized bytes / retained exposures.
        public var peakBytesPerExposure: Double
        /// Mean over the samples of in-memory bytes / retained exposures.
        public var memoryBytesPerExposure: Double
        /// At the end of the run.
        public var retainedExposures: Int
        public var serializedBytes: Int
        public var liveSlices: Int
        public var subFilters: Int
        /// The whole check's estimated rate at the end (1 − Π(1 − fill^k)).
        public var estimatedFalsePositiveRate: Double
        /// Non-member probes that answered true / probes, at the end; nil without probes.
        public var measuredFalsePositiveRate: Double?
        public var probes: Int
    }

    /// Mean serialized bytes per retained exposure: ``Measurement/bytesPerExposure`` of
    /// ``measure(configuration:exposuresPerDay:days:dailyVariation:seed:samples:falsePositiveProbes:)``
    /// with a steady load.
    public static func bytesPerExposure(
        configuration: ExposureFilterConfiguration, exposuresPerDay: Int, days: Int
    ) -> Double {
        measure(configuration: configuration, exposuresPerDay: exposuresPerDay, days: days).bytesPerExposure
    }

    /// Runs the load and measures.
    ///
    /// - Parameters:
    ///   - dailyVariation: v in [0, 1): day d gets exposuresPerDay · (1 + v·u_d) exposures, u_d
    ///     uniform in [−1, 1) from SplitMix64(`seed`). 0 gives a steady load.
    ///   - samples: watermarks sampled over the last slice length (at least 1).
    ///   - falsePositiveProbes: non-members checked at the end; 0 skips the check.
    public static func measure(
        configuration: ExposureFilterConfiguration, exposuresPerDay: Int, days: Int, dailyVariation: Double = 0,
        seed: UInt64 = 1, samples: Int = 16, falsePositiveProbes: Int = 0
    ) -> Measurement {
        precondition(exposuresPerDay >= 1 && days >= 1 && samples >= 1, "sizing needs a load, days and samples")
        let day = ExposureFilterConfiguration.millisPerDay
        let retention = configuration.retentionMillis
        let length = configuration.sliceLengthMillis
        let end = Int64(days) * day
        let firstSample = max(0, end - length)
        var nextSample = 0
        var rng = SplitMix64(seed: seed)
        var filter = ExposureFilter(configuration: configuration)
        var times: [Int64] = []
        var idBytes = [UInt8](repeating: 0, count: 8)
        var counter: UInt64 = 0
        var bytesSum = 0.0
        var memorySum = 0.0
        var peak = 0.0

        func sampleTime(_ i: Int) -> Int64 {
            firstSample + (end - firstSample) * Int64(i + 1) / Int64(samples)
        }
        func retained(before watermark: Int64) -> Int {
            // times ascending: count those > watermark − N.
            var low = 0
            var high = times.count
            while low < high {
                let mid = (low + high) / 2
                if times[mid] > watermark - retention { high = mid } else { low = mid + 1 }
            }
            return times.count - low
        }
        func takeSample(at watermark: Int64) {
            let kept = retained(before: watermark)
            guard kept > 0 else { return }
            var snapshot = filter
            snapshot.expire(watermark: EventTime(millis: watermark))
            let perExposure = Double(snapshot.encodedByteCount) / Double(kept)
            bytesSum += perExposure
            memorySum += Double(snapshot.approximateBytes) / Double(kept)
            peak = max(peak, perExposure)
        }

        for d in 0..<days {
            let factor = 1 + dailyVariation * (Double(rng.next() >> 11) / Double(1 << 52) - 1)
            let count = max(0, Int((Double(exposuresPerDay) * factor).rounded()))
            for i in 0..<count {
                let time = Int64(d) * day + (Int64(i) * day + day / 2) / Int64(count)
                while nextSample < samples && sampleTime(nextSample) <= time {
                    takeSample(at: sampleTime(nextSample) - 1)
                    nextSample += 1
                }
                write(SplitMix64.mix(counter), into: &idBytes)
                counter += 1
                filter.insert(
                    ExposureHash(idBytes.span), at: EventTime(millis: time), watermark: EventTime(millis: time),
                    configuration: configuration)
                times.append(time)
            }
        }
        while nextSample < samples {
            takeSample(at: sampleTime(nextSample) - 1)
            nextSample += 1
        }
        let taken = Double(samples)
        let watermark = EventTime(millis: end - 1)
        filter.expire(watermark: watermark)

        var hits = 0
        for n in 0..<falsePositiveProbes {
            write(SplitMix64.mix(UInt64(n) | 1 << 63), into: &idBytes)
            if filter.contains(ExposureHash(idBytes.span), watermark: watermark) { hits += 1 }
        }
        return Measurement(
            exposuresPerDay: exposuresPerDay, days: days,
            bytesPerExposure: bytesSum / taken, peakBytesPerExposure: peak, memoryBytesPerExposure: memorySum / taken,
            retainedExposures: retained(before: end - 1), serializedBytes: filter.encodedByteCount,
            liveSlices: filter.liveSlices(watermark: watermark).count,
            subFilters: filter.slices.reduce(0) { $0 + $1.filter.filters.count },
            estimatedFalsePositiveRate: filter.estimatedFalsePositiveRate(watermark: watermark),
            measuredFalsePositiveRate: falsePositiveProbes > 0 ? Double(hits) / Double(falsePositiveProbes) : nil,
            probes: falsePositiveProbes)
    }

    private static func write(_ value: UInt64, into bytes: inout [UInt8]) {
        for i in 0..<8 { bytes[i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
    }
}
