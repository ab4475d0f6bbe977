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

