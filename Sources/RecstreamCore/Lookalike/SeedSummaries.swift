/// The latest ``SeedSummary`` of every item that passed the cold-start gate when the summary job
/// last looked at it, by item index, with persistence like a family's (records of kind
/// ``LookalikeKeys/summary``).
///
/// Memory per summary: 4 bytes × (d · (k + 1) + k² + 2k), about 8 KB for d = 64 and k = 20.
public struct SeedSummaries: Sendable {
    private var summaries: [SeedSummary?] = []
    private var dirty = DirtySet()
    public private(set) var count = 0

    public init() {}

    /// The summary of `item`, if any.
    @inline(__always) public func summary(of item: Int32) -> SeedSummary? {
        item >= 0 && Int(item) < summaries.count ? summaries[Int(item)] : nil
    }

    /// Installs (or replaces) the summary of its item.
    /// - Important: Traps for an ad-hoc summary (item −1).
    public mutating func install(_ summary: SeedSummary) {
        precondition(summary.item >= 0, "ad-hoc summaries are not stored")
        let i = Int(summary.item)
        if i >= summaries.count {
            summaries.append(
                contentsOf: repeatElement(nil, count: max(i + 1, summaries.count + summaries.count / 2, 16) - summaries.count))
        }
        if summaries[i] == nil { count += 1 }
        summaries[i] = summary
        dirty.insert(summary.item)
    }

    /// Removes the summary of `item` (it fell below the gate).
    public mutating func remove(_ item: Int32) {
        guard item >= 0, Int(item) < summaries.count, summaries[Int(item)] != nil else { return }
        summaries[Int(item)] = nil
        count -= 1
        dirty.insert(item)
    }

    /// Installs the outcomes of a summary run: each item gets its new summary or loses its old one.
    public mutating func apply(_ outcomes: [SeedSummaryBuilder.Outcome]) {
        for outcome in outcomes {
            if let summary = outcome.summary { install(summary) } else { remove(outcome.item) }
        }
    }

    /// Approximate heap bytes held.
    public var approximateBytes: Int {
        summaries.capacity * MemoryLayout<SeedSummary?>.stride + summaries.reduce(0) { $0 + ($1?.approximateBytes ?? 0) }
    }

    /// Moves the summary records changed since the last call into `changes` (keys family-relative).
    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for item in dirty.drain() {
            let key = LookalikeKeys.key(LookalikeKeys.summary, item)
            if let s = summaries[Int(item)] { changes.put(key, s.encoded) } else { changes.delete(key) }
        }
    }

    /// Restores one persisted summary record.
    /// - Throws: ``StateDecodingError`` when the key or value is malformed or of another kind.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        guard key.first == LookalikeKeys.summary else { throw StateDecodingError("not a seed summary key") }
        let item = try LookalikeKeys.readItem(key)
        var r = BinaryReader(value)
        let summary = try SeedSummary.decode(item: item, from: &r)
        try r.expectEnd()
        install(summary)
        _ = dirty.drain()
    }
}
