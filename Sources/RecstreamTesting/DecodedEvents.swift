import RecstreamCore

extension Event {
    /// This event as the decoder would hand it to a shard: a ``DecodedEvent`` whose ranges index
    /// the returned id buffer.
    public func asDecoded() -> (event: DecodedEvent, idBytes: [UInt8]) {
        var bytes: [UInt8] = []
        let e = Array(eventID.utf8)
        let u = Array(userID.utf8)
        let i = Array(itemID.utf8)
        bytes.append(contentsOf: e)
        bytes.append(contentsOf: u)
        bytes.append(contentsOf: i)
        let decoded = DecodedEvent(
            type: type, time: time, dwellMillis: dwellMillis, eventID: 0..<e.count, userID: e.count..<(e.count + u.count),
            itemID: (e.count + u.count)..<(e.count + u.count + i.count))
        return (decoded, bytes)
    }
}

extension Shard {
    /// Applies an owned event (tests and tools).
    @discardableResult
    public mutating func apply(_ event: Event, offset: Int64) -> ApplyOutcome {
        let (decoded, bytes) = event.asDecoded()
        return apply(decoded, idBytes: bytes, offset: offset)
    }
}

/// SplitMix64: a tiny seeded generator for tests that must print and reuse their seed.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
