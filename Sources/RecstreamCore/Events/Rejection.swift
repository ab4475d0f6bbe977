/// Why a record was refused. The raw value is the `recstream.reason` header on the dead-letter
/// record and the `reason` label of `recstream_dlq_records_total`; it is part of the contract.
public enum RejectReason: String, CaseIterable, Sendable, Hashable, Codable {
    /// Not a single well-formed JSON object (syntax error, trailing bytes, nesting over 64 levels,
    /// a number out of range, an invalid escape).
    case malformedJSON = "malformed_json"
    /// Bytes that are not valid UTF-8 (including lone surrogate escapes) in a JSON record or in a
    /// protobuf string field.
    case invalidUTF8 = "invalid_utf8"
    /// A required field (event_id, type, user_id, item_id, ts) is absent.
    case missingField = "missing_field"
    /// `type` is a string that is not one of the six event types (or protobuf value 0/unknown).
    case unknownType = "unknown_type"
    /// `ts` is a number but not an integer, negative, or not before year 10000.
    case invalidTimestamp = "invalid_ts"
    /// An id is empty or longer than 128 bytes.
    case invalidID = "invalid_id"
    /// A known field has the wrong JSON type (e.g. a numeric user_id, a string ts, a null
    /// required field) or the wrong protobuf wire type.
    case wrongFieldType = "wrong_field_type"
    /// An optional field has a value outside its domain (a negative or fractional dwell_ms).
    case invalidField = "invalid_field"
    /// A known JSON field appears twice in one object.
    case duplicateField = "duplicate_field"
    /// The value is not a well-formed protobuf `recstream.v1.Event`.
    case malformedProtobuf = "malformed_protobuf"
    /// The record value exceeds the configured maximum size.
    case recordTooLarge = "record_too_large"
    /// The record's content-type header names an encoding recstream does not read.
    case unsupportedContentType = "unsupported_content_type"
    /// `ts` is further ahead of the wall clock than `ingest.max_future_ms` (a client clock set in
    /// the future). Decided by the runtime, which owns the clock, not by the decoder: such an
    /// event would move its partition's watermark into the future, making every on-time event
    /// after it late.
    case futureTimestamp = "future_ts"
    /// The event names a user or item id that is new while its shard's id dictionary is at its
    /// cap (`state.max_dictionary_ids` or 4 GiB of id bytes). Decided by the runtime; the events
    /// of known ids keep flowing.
    case dictionaryFull = "dictionary_full"
}

/// A refused record: the reason, and a one-line detail for people ("user_id is 130 bytes, the
/// limit is 128"). Built only on the rejection path.
public struct Rejection: Error, Hashable, Sendable, CustomStringConvertible {
    public var reason: RejectReason
    public var detail: String

    public init(_ reason: RejectReason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }
}
