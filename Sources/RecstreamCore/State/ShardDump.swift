/// A canonical, human-readable rendering of a shard's logical state: what it reflects (next
/// offset, watermark, counters) and every item's counters, sorted by item id. Two shards that
/// hold the same state dump identically whatever their history of commits and restarts, which is
/// what the recovery tests compare. Commit bookkeeping (commit sequence) is left out. It covers the
/// resident entries: a shard restored whole (``Shard/paged`` false), as dumps restore it.
extension Shard {
    public func dumpLines() -> [String] {
        var lines: [String] = []
        let applied = EventType.allCases.map { "\($0.name)=\(counters.applied[$0.index])" }.joined(separator: " ")
        let rejected = counters.rejected.sorted { $0.key.rawValue < $1.key.rawValue }
            .map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")
        if stage == ShardKeys.eventsStage {
            lines.append(
                "shard stage=\(stage) partition=\(partition) next_offset=\(nextOffset.map(String.init) ?? "none") "
                    + "watermark=\(watermark.map { String($0.millis) } ?? "none") applied[\(applied)] "
                    + "duplicates=\(counters.duplicates) late=\(counters.late) rejected[\(rejected)] "
                    + "dedup_ids=\(dedup.count)")
        } else {
            // An item-side shard's offsets and re-forward count depend on how often upstream
            // owners restarted, not on the input: the dump leaves them out (they are in /v1/status).
            lines.append(
                "shard stage=\(stage) partition=\(partition) watermark=\(watermark.map { String($0.millis) } ?? "none") "
                    + "applied[\(applied)] late=\(counters.late)")
        }
        var itemLines: [(String, String)] = []
        for key in itemStatistics.table.residentKeys {
            let id = String(decoding: key, as: UTF8.self)
            guard let c = itemStatistics.counters(of: key) else { continue }
            var parts: [String] = []
            for type in EventType.allCases where !c[type].isEmpty || c.lateDropped(type) > 0 {
                let counter = c[type]
                func render(_ buckets: [WindowedCounter.Bucket]) -> String {
                    buckets.map { "\($0.index):\($0.count)" }.joined(separator: ",")
                }
                parts.append(
                    "\(type.name){total=\(counter.total) late=\(c.lateDropped(type)) m[\(render(counter.minutes))] "
                        + "h[\(render(counter.hours))] d[\(render(counter.days))]}")
            }
            itemLines.append((id, "item partition=\(partition) id=\(id) " + parts.joined(separator: " ")))
        }
        lines.append(contentsOf: itemLines.sorted { $0.0 < $1.0 }.map(\.1))
        var userLines: [(String, String)] = []
        for index in 0..<Int32(users.count) {
            guard let filter = exposureFilters.filter(of: index) else { continue }
            var w = BinaryWriter()
            filter.encode(into: &w)
            let id = users.string(of: index)
            userLines.append(
                (id, "exposures partition=\(partition) user=\(id) count=\(filter.estimatedCount(watermark: watermark ?? EventTime(millis: 0))) filter=\(MurmurHash3.hash128(w.bytes.span).description)"))
        }
        lines.append(contentsOf: userLines.sorted { $0.0 < $1.0 }.map(\.1))
        return lines
    }
}
