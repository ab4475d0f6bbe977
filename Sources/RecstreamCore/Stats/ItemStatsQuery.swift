/// Answers item-statistics questions across the shards one instance owns: an item's events are
/// spread over every partition (events are keyed by user), so each shard holds part of its counts
/// and the answer is their sum, evaluated at the instance watermark (the largest event time any
/// of the shards applied). At the end of a replay that is the largest event time in the input,
/// so the same input always gives the same answer.
public enum ItemStatsQuery {
    /// The instance watermark of `shards`, or nil if none has applied an event.
    public static func watermark(of shards: some Sequence<Shard>) -> EventTime? {
        shards.compactMap(\.watermark).max()
    }

    /// The merged report for `itemID`, or nil when no shard has seen the item.
    public static func report(
        itemID: String, shards: some Collection<Shard>, configuration: StatsConfiguration
    ) -> ItemStatsReport? {
        var merged: ItemCounters? = nil
        for shard in shards {
            guard let counters = shard.itemCounters(itemID) else { continue }
            merged = merged.map { $0.merged(with: counters) } ?? counters
        }
        guard let merged else { return nil }
        let now = watermark(of: shards) ?? EventTime(millis: 0)
        return ItemStatsReport(itemID: itemID, counters: merged, now: now, configuration: configuration)
    }
}

extension StatsWindow: CodingKeyRepresentable {}
extension EventType: CodingKeyRepresentable {
    public var codingKey: any CodingKey { EventTypeKey(stringValue: name) }
    public init?(codingKey: some CodingKey) { self.init(name: codingKey.stringValue) }
}

private struct EventTypeKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
extension RateKind: CodingKeyRepresentable {}
extension RejectReason: CodingKeyRepresentable {}
