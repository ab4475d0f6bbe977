import Foundation
import Logging
import Metrics
import RecstreamCore
import RecstreamKafka
import RecstreamStorage
import Synchronization

// Throughput, sizes and the watermark gauge, refreshed on the ingest thread.
extension IngestPipeline {
    func refreshStatus(now: ContinuousClock.Instant) {
        let elapsed = now - lastStatus
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        lastStatus = now
        let refreshSizes = now - lastSizes >= .seconds(5) || withState { $0.familySizes.isEmpty }
        if refreshSizes { lastSizes = now }
        let (applied, watermark, sizes): (UInt64, Int64?, [FamilySize]?) = withState { state in
            var applied: UInt64 = 0
            var watermark: Int64? = nil
            for shard in state.ownedShards {
                applied += shard.counters.appliedTotal
                if let w = shard.watermark?.millis { watermark = max(watermark ?? w, w) }
            }
            let delta = applied >= appliedAtLastStatus ? applied - appliedAtLastStatus : 0
            state.eventsPerSecond = seconds > 0 ? Double(delta) / seconds : 0
            if refreshSizes {
                state.familySizes = Self.sizes(of: state.ownedShards + state.ownedItemShards)
                if state.ownsEngagements {
                    state.familySizes += state.instance.sizes.map { FamilySize(family: $0.family, entries: $0.entries, bytes: $0.bytes) }
                }
            }
            return (applied, watermark, refreshSizes ? state.familySizes : nil)
        }
        appliedAtLastStatus = applied
        for size in sizes ?? [] { metrics.recordSize(family: size.family, entries: size.entries, bytes: size.bytes) }
        if let watermark { metrics.watermark.record(watermark) }
        metrics.deadLetterPending.record(deadLetters.pendingCount)
    }

    static func sizes(of shards: [Shard]) -> [FamilySize] {
        var totals: [String: (Int, Int)] = [:]
        var order: [String] = []
        for shard in shards {
            for size in shard.sizes {
                if totals[size.family] == nil { order.append(size.family) }
                let t = totals[size.family] ?? (0, 0)
                totals[size.family] = (t.0 + size.entries, t.1 + size.bytes)
            }
        }
        return order.map { FamilySize(family: $0, entries: totals[$0]!.0, bytes: totals[$0]!.1) }
    }
}
