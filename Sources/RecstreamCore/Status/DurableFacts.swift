/// A refused record that the dead-letter topic did not take after bounded retries (the topic is
/// missing, the write is not authorized, the broker stayed away longer than
/// `dead_letter.timeout_ms`). The runtime writes it to the state store in the same commit as the
/// offset that skips the record, so the fact survives restarts; `recstream admin undeliverable`
/// lists them. The record itself is still in its source topic at `offset` until retention
/// removes it.
public struct UndeliverableRecord: Sendable, Codable, Hashable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    public var reason: RejectReason
    public var detail: String
    /// Size of the refused record's value in bytes.
    public var originalBytes: Int
    /// The last delivery error.
    public var error: String
    /// Wall-clock milliseconds when ingest gave up.
    public var recordedAtMillis: Int64

    public init(
        topic: String, partition: Int32, offset: Int64, reason: RejectReason, detail: String, originalBytes: Int, error: String,
        recordedAtMillis: Int64
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.reason = reason
        self.detail = detail
        self.originalBytes = originalBytes
        self.error = error
        self.recordedAtMillis = recordedAtMillis
    }

    /// Every undeliverable record's key starts with this (store-wide, not part of any shard, so
    /// it never moves through a changelog: it is a fact about this instance's dead-letter writes).
    public static let keyPrefix: [UInt8] = Array("F/undeliverable/".utf8)

    /// `prefix topic 0x00 partition(BE32) offset(BE64)`: one record per source position, listed in
    /// source order.
    public var storeKey: [UInt8] { sourcePositionKey(Self.keyPrefix, topic: topic, partition: partition, offset: offset) }

    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.append(1)
        w.appendLengthPrefixed(Array(topic.utf8))
        w.appendSignedVarint(Int64(partition))
        w.appendSignedVarint(offset)
        w.appendLengthPrefixed(Array(reason.rawValue.utf8))
        w.appendLengthPrefixed(Array(detail.utf8))
        w.appendVarint(UInt64(originalBytes))
        w.appendLengthPrefixed(Array(error.utf8))
        w.appendSignedVarint(recordedAtMillis)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> UndeliverableRecord {
        var r = BinaryReader(bytes)
        guard try r.readByte() == 1 else { throw StateDecodingError("undeliverable record version") }
        let topic = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        let partition = Int32(clamping: try r.readSignedVarint())
        let offset = try r.readSignedVarint()
        let reasonName = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        guard let reason = RejectReason(rawValue: reasonName) else { throw StateDecodingError("unknown reject reason \(reasonName)") }
        let detail = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        let size = Int(clamping: try r.readVarint())
        let error = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        let at = try r.readSignedVarint()
        try r.expectEnd()
        return UndeliverableRecord(
            topic: topic, partition: partition, offset: offset, reason: reason, detail: detail, originalBytes: size, error: error,
            recordedAtMillis: at)
    }
}

extension DataLossEvent {
    /// Every data-loss record's key starts with this (store-wide, like ``UndeliverableRecord``).
    public static let keyPrefix: [UInt8] = Array("F/data-loss/".utf8)

    /// `prefix topic 0x00 partition(BE32) fromOffset(BE64)`.
    public var storeKey: [UInt8] { sourcePositionKey(Self.keyPrefix, topic: topic, partition: partition, offset: fromOffset) }

    public func encoded() -> [UInt8] {
        var w = BinaryWriter()
        w.append(1)
        w.appendLengthPrefixed(Array(topic.utf8))
        w.appendSignedVarint(Int64(partition))
        w.appendSignedVarint(fromOffset)
        w.appendSignedVarint(toOffset)
        w.appendSignedVarint(detectedAtMillis)
        w.appendLengthPrefixed(Array(message.utf8))
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> DataLossEvent {
        var r = BinaryReader(bytes)
        guard try r.readByte() == 1 else { throw StateDecodingError("data-loss record version") }
        let topic = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        let partition = Int32(clamping: try r.readSignedVarint())
        let from = try r.readSignedVarint()
        let to = try r.readSignedVarint()
        let at = try r.readSignedVarint()
        let message = String(decoding: try r.readLengthPrefixed(), as: UTF8.self)
        try r.expectEnd()
        return DataLossEvent(topic: topic, partition: partition, fromOffset: from, toOffset: to, detectedAtMillis: at, message: message)
    }
}

/// `prefix topic 0x00 partition(BE32) offset(BE64)`: store-wide records keyed by a source position,
/// listed in source order by a prefix scan.
func sourcePositionKey(_ prefix: [UInt8], topic: String, partition: Int32, offset: Int64) -> [UInt8] {
    var w = BinaryWriter()
    w.append(contentsOf: prefix)
    w.append(contentsOf: Array(topic.utf8))
    w.append(0)
    w.appendBigEndian(partition)
    w.appendBigEndian(UInt64(bitPattern: offset))
    return w.bytes
}
