import Foundation
import RecstreamCore

/// In-memory measurements of the exposure filters for `recstream bench exposure`: exposures
/// applied per CPU second, and memory for a Zipf-distributed user population.
public enum ExposureBenchmark {
    public struct Result: Sendable {
        public var exposures: Int
        public var users: Int
        public var seconds: Double
        public var liveUsers: Int
        public var approximateBytes: Int
        public var serializedBytes: Int
        /// Growth of the process's resident anonymous memory (`RssAnon`, the heap) from after the
        /// first chunk of exposures was generated to after the last exposure: what the filters
        /// actually hold, allocator overhead and memory freed but kept by the allocator included.
        /// 0 where /proc is not readable.
        public var heapBytes: Int
        public var exposuresPerSecond: Double { Double(exposures) / seconds }
        public var bytesPerUser: Double { Double(approximateBytes) / Double(max(liveUsers, 1)) }
        public var serializedBytesPerExposure: Double { Double(serializedBytes) / Double(max(exposures, 1)) }
        public var bytesPerExposure: Double { Double(approximateBytes) / Double(max(exposures, 1)) }
        public var heapBytesPerExposure: Double { Double(heapBytes) / Double(max(exposures, 1)) }
        /// Memory (the family's own count) per persisted byte; issue 15's target is at most 1.5.
        public var memoryToPersisted: Double { Double(approximateBytes) / Double(max(serializedBytes, 1)) }
        /// Heap growth per persisted byte.
        public var heapToPersisted: Double { Double(heapBytes) / Double(max(serializedBytes, 1)) }
    }

    /// `exposures` exposures of `users` Zipf(1.0)-active users over 30 days of event time, each
    /// to a fresh item (so every one is retained), applied to one shard's filters on this thread.
    public static func run(users: Int, exposures: Int, seed: UInt64 = 1) -> Result {
        var rng = Xoshiro256StarStar(seed: seed)
        let zipf = ZipfSampler(ranks: users, exponent: 1.0)
        let start: Int64 = 1_793_491_200_000
        let span: Int64 = 30 * 86_400_000
        // Generated in chunks so memory stays small; only the inserts are timed.
        var seconds = 0.0
        var chunk: [(user: Int32, hash: ExposureHash, time: EventTime)] = []
        chunk.reserveCapacity(1 << 20)
        var filters = ExposureFilters(configuration: ExposureFilterConfiguration())
        var heapBefore: Int? = nil
        var n = 0
        while n < exposures {
            chunk.removeAll(keepingCapacity: true)
            while chunk.count < 1 << 20 && n < exposures {
                let user = Int32(zipf.next(using: &rng) - 1)
                let h = SplitMix64.mix(UInt64(n) &+ seed)
                chunk.append((user, ExposureHash(Hash128(low: h, high: SplitMix64.mix(h))), EventTime(millis: start + span * Int64(n) / Int64(exposures))))
                n += 1
            }
            // The first chunk fills the buffer every later one reuses: the baseline leaves it out.
            if heapBefore == nil { heapBefore = ModelMemoryBenchmark.Resident.now().anonymous }
            let cpu = Stopwatch.threadCPUSeconds()
            for e in chunk { filters.recordExposure(user: e.user, itemHash: e.hash, at: e.time, watermark: e.time) }
            seconds += Stopwatch.threadCPUSeconds() - cpu
        }
        let heapBytes = ModelMemoryBenchmark.Resident.now().anonymous - (heapBefore ?? 0)
        var changes = FamilyChanges()
        filters.drainChanges(into: &changes)
        let serialized = changes.records.reduce(0) { $0 + ($1.value?.count ?? 0) }
        return Result(
            exposures: exposures, users: users, seconds: seconds, liveUsers: filters.entryCount,
            approximateBytes: filters.approximateBytes, serializedBytes: serialized, heapBytes: max(heapBytes, 0))
    }
}

