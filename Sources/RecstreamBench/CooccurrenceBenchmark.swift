import Foundation
import RecstreamCore

/// Throughput and size measurements of the co-occurrence core, for a `recstream bench
/// cooccurrence` command and for the figures in docs/cooccurrence.md. Timing lives here, not in
/// RecstreamCore, which has no clock. Run it from a release build: a debug build is 10 to 50
/// times slower. Rates are given per second of the calling thread's CPU time (what one core
/// does, unaffected by other processes taking turns on it) and per second of wall time.
public enum CooccurrenceBenchmark {
    /// The stream the documented figures use: 12,000 users with about 47 distinct items each,
    /// 50,000 items in 50 communities of 2,000 (70% of draws) plus global Zipf(1.0) popularity,
    /// 20% repeat engagements, 10 ms of event time apart (all inside the 30-day window).
    public static func standardStream(engagements: Int = 1_000_000, seed: UInt64 = 7) -> [Engagement] {
        var c = SyntheticEngagementConfiguration()
        c.seed = seed
        c.users = max(1, engagements * 12 / 1_000)
        c.items = 50_000
        c.communities = 50
        c.itemsPerCommunity = 2_000
        c.communityAffinity = 0.7
        c.itemZipf = 1.0
        c.repeatRate = 0.2
        c.engagements = engagements
        return Array(SyntheticEngagements(c))
    }

    /// One run of the incremental state.
    public struct IncrementalResult: Sendable {
        public var label: String
        public var engagements: Int
        /// CPU seconds of the applying thread.
        public var seconds: Double
        public var wallSeconds: Double
        public var counters: CooccurrenceCounters
        /// Items with an ItemCF degree or Swing neighbours.
        public var items: Int
        public var indexBytes: Int
        public var stateBytes: Int

        public var engagementsPerSecond: Double { Double(engagements) / seconds }
        public var microsecondsPerEngagement: Double { seconds * 1e6 / Double(engagements) }
        public var indexBytesPerItem: Double { Double(indexBytes) / Double(max(items, 1)) }
    }

    /// Applies `engagements` to a fresh state on the calling thread and times it.
    public static func incremental(
        _ engagements: [Engagement], configuration: CooccurrenceConfiguration, label: String
    ) -> (result: IncrementalResult, state: CooccurrenceState) {
        var state = CooccurrenceState(configuration: configuration)
        var watermark = EventTime(millis: 0)
        let clock = ContinuousClock()
        let start = clock.now
        let cpuStart = Stopwatch.threadCPUSeconds()
        for e in engagements {
            if e.time > watermark { watermark = e.time }
            state.apply(e, watermark: watermark)
        }
        let cpu = Stopwatch.threadCPUSeconds() - cpuStart
        let elapsed = clock.now - start
        let result = IncrementalResult(
            label: label, engagements: engagements.count, seconds: cpu, wallSeconds: seconds(elapsed),
            counters: state.counters,
            items: itemsWithData(state, engagements), indexBytes: state.indexBytes, stateBytes: state.approximateBytes)
        return (result, state)
    }

    /// One exact recompute.
    public struct ExactResult: Sendable {
        public var engagements: Int
        public var parts: Int
        public var prepareSeconds: Double
        public var rowSeconds: Double
        public var mergeSeconds: Double
        public var wallSeconds: Double
        public var statistics: ExactSimilarities.Statistics

        public var totalSeconds: Double { prepareSeconds + rowSeconds + mergeSeconds }
    }

    /// Computes the exact similarities of `engagements` on the calling thread, in `parts` row
    /// ranges one after the other (what the runtime would hand to `parts` threads), and times
    /// each phase.
    public static func exact(
        _ engagements: [Engagement], configuration: CooccurrenceConfiguration, parts: Int = 1
    ) -> (result: ExactResult, exact: ExactSimilarities) {
        let end = engagements.map(\.time).max() ?? EventTime(millis: 0)
        let window = CooccurrenceWindow(end: end, lengthMillis: configuration.windowMillis)
        let clock = ContinuousClock()
        let wallStart = clock.now
        var t = Stopwatch.threadCPUSeconds()
        let input = ExactSimilarityInput(engagements: engagements, window: window, configuration: configuration)
        let prepare = Stopwatch.threadCPUSeconds() - t
        t = Stopwatch.threadCPUSeconds()
        let n = input.rowCount
        let ranges = (0..<max(parts, 1)).map { p in (n * p / max(parts, 1))..<(n * (p + 1) / max(parts, 1)) }
        let rows = ranges.map { input.computeRows($0) }
        let compute = Stopwatch.threadCPUSeconds() - t
        t = Stopwatch.threadCPUSeconds()
        let exact = ExactSimilarities.merging(rows, input: input, cut: nil)
        let merge = Stopwatch.threadCPUSeconds() - t
        let result = ExactResult(
            engagements: engagements.count, parts: parts, prepareSeconds: prepare, rowSeconds: compute,
            mergeSeconds: merge, wallSeconds: seconds(clock.now - wallStart), statistics: exact.statistics)
        return (result, exact)
    }

    /// The standard report: ItemCF alone, Swing alone, both (history cap 50), the exact recompute,
    /// and the index size per item before and after an exact result is installed.
    public static func report(engagements count: Int = 1_000_000, seed: UInt64 = 7) -> [String] {
        let engagements = standardStream(engagements: count, seed: seed)
        var lines = ["co-occurrence benchmark: \(count) engagements (standard stream, seed \(seed)), one thread"]
        var itemCF = CooccurrenceConfiguration()
        itemCF.computesSwing = false
        var swing = CooccurrenceConfiguration()
        swing.computesItemCF = false
        var both: CooccurrenceState? = nil
        for (label, c) in [("ItemCF", itemCF), ("Swing", swing), ("ItemCF+Swing", CooccurrenceConfiguration())] {
            let (r, state) = incremental(engagements, configuration: c, label: label)
            if label == "ItemCF+Swing" { both = state }
            lines.append(describe(r))
        }
        let (exactResult, exactValue) = exact(engagements, configuration: .default)
        lines.append(describe(exactResult))
        if var state = both {
            let cut = state.beginExactRecompute()
            let window = cut.window
            let swapped = ExactSimilarities.compute(
                engagements: engagements, window: window, configuration: .default, cut: cut)
            // Commit everything before the swap, as the runtime would have.
            var before = FamilyChanges()
            state.drainChanges(into: &before)
            let clock = ContinuousClock()
            let start = clock.now
            state.replaceWithExact(swapped)
            let swap = seconds(clock.now - start)
            var after = FamilyChanges()
            state.drainChanges(into: &after)
            let commitBytes = after.records.reduce(0) { $0 + $1.key.count + ($1.value?.count ?? 0) }
            lines.append(
                "commit after the swap: \(after.records.count) records, \(commitBytes / 1_048_576) MiB "
                    + "(\(commitBytes / max(after.records.count, 1)) bytes per record)")
            let items = itemsWithData(state, engagements)
            lines.append(
                "swap: \(format(swap * 1e3)) ms; index after the swap: \(format(Double(state.indexBytes) / Double(max(items, 1)))) "
                    + "bytes per item over \(items) items (ItemCF and Swing, top \(state.configuration.candidatesPerItem) candidates each)"
            )
            _ = exactValue
        }
        return lines
    }

    public static func describe(_ r: IncrementalResult) -> String {
        let c = r.counters
        let perNew = Double(max(c.applied - c.repeated - c.pathological, 1))
        return
            "\(r.label): \(format(r.engagementsPerSecond)) engagements/s of CPU time (\(format(r.microsecondsPerEngagement)) µs each; "
            + "\(format(Double(r.engagements) / r.wallSeconds)) per wall second); "
            + "per new item: \(format(Double(c.itemCFUpdates) / perNew)) ItemCF updates, "
            + "\(format(Double(c.swingUsersScanned) / perNew)) users scanned, \(format(Double(c.swingUpdates) / perNew)) Swing updates; "
            + "index \(format(r.indexBytesPerItem)) bytes per item over \(r.items) items; state \(r.stateBytes / 1_048_576) MiB"
    }

    public static func describe(_ r: ExactResult) -> String {
        let s = r.statistics
        return
            "exact recompute (\(r.parts) part\(r.parts == 1 ? "" : "s")): \(format(r.totalSeconds)) s CPU, \(format(r.wallSeconds)) s wall "
            + "(prepare \(format(r.prepareSeconds)) s, rows \(format(r.rowSeconds)) s, merge \(format(r.mergeSeconds)) s); "
            + "\(s.distinctPairs) distinct pairs, \(s.users) users, \(s.items) items, \(s.itemCFPairs) ItemCF pairs, "
            + "\(s.swingUserPairs) user pairs sharing 2+ items, \(s.swingQuadruples) Swing updates"
    }

    private static func itemsWithData(_ state: CooccurrenceState, _ engagements: [Engagement]) -> Int {
        let limit = Int(engagements.map(\.item).max() ?? -1) + 1
        var n = 0
        for i in 0..<Int32(limit) where state.degree(of: i) > 0 || state.candidateCount(of: i, method: .swing) > 0 {
            n += 1
        }
        return n
    }

    private static func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }

    private static func format(_ x: Double) -> String {
        if x >= 100 { return String(Int(x.rounded())) }
        let scaled = (x * 100).rounded() / 100
        return String(scaled)
    }
}
