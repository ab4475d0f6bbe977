/// The strict decoder for one record value on `recstream.events`: JSON (RFC 8259) or the protobuf
/// message `recstream.v1.Event`, validated against the wire contract (Schemas/events.schema.json,
/// Schemas/events.proto).
///
/// The rules: required event_id, type, user_id, item_id (strings of 1...128 bytes of UTF-8 after
/// unescaping), type one of the six ``EventType`` names, ts an integer in
/// 0 ..< ``EventTime/limitMillis`` (no fraction, exponent or minus sign, not even `-0`); optional
/// dwell_ms an integer in 0...Int64.max and context an object (both may be null, meaning absent);
/// unknown members ignored but syntax-checked; no known member twice. Every JSON number anywhere
/// must be finite as a double, and nesting is limited to ``maxNestingDepth``.
///
/// A record is accepted only if every rule holds; otherwise the result names one
/// ``RejectReason`` and a one-line detail for people. When a record breaks several rules, the
/// reason reported is the first of:
///
/// JSON
/// 1. `record_too_large`: more than ``maxRecordBytes`` bytes.
/// 2. `invalid_utf8`: any byte sequence in the record that is not well-formed UTF-8 (checked over
///    the whole input before parsing, so it does not depend on where parsing stops), then a `\u`
///    escape that leaves a lone surrogate, as the parser meets it.
/// 3. `malformed_json`: the first syntax error (anything that is not exactly one object with
///    optional surrounding whitespace, control characters in strings, bad escapes, leading zeros,
///    nesting deeper than ``maxNestingDepth``, a number that overflows a binary64 double). A
///    syntax error stops the parser, so a lone-surrogate escape after it is not seen.
/// 4. The first per-field problem in the order the fields appear in the object:
///    `duplicate_field`, `wrong_field_type` (including null for a required field),
///    `invalid_id`, `unknown_type`, `invalid_ts`, `invalid_field`.
/// 5. `missing_field`, naming the first absent one of event_id, type, user_id, item_id, ts.
///
/// Protobuf
/// 1. `record_too_large`.
/// 2. `malformed_protobuf`: the first structural error (truncated or over-long varint, a tag
///    over 32 bits or more than 5 bytes, field number 0, a length past the end, wire type 3, 4, 6
///    or 7), scanning the whole message.
/// 3. `invalid_utf8`: the first occurrence of event_id, user_id or item_id with invalid UTF-8.
/// 4. `wrong_field_type`: the first known field with the wrong wire type.
/// 5. Checks of the final values (a repeated field's last occurrence wins), in field-number order:
///    `invalid_id` (event_id), `unknown_type`, `invalid_id` (user_id, item_id), `invalid_ts`,
///    `invalid_field` (dwell_ms).
/// 6. `missing_field`, as for JSON.
///
/// Protobuf context (field 7) is opaque: its bytes are skipped, not parsed as a
/// `google.protobuf.Struct`.
///
/// The decoder keeps one scratch buffer, ``idBytes``; a successful decode allocates nothing and
/// only rejections build strings. It is a mutable value: each consumer keeps its own.
public struct EventDecoder: Sendable {
    /// The longest accepted id, in bytes of (unescaped) UTF-8.
    public static let maxIDBytes = 128

    /// The deepest accepted nesting of JSON objects and arrays; the event object itself is level 1.
    public static let maxNestingDepth = 64

    /// Records longer than this many bytes are rejected with `record_too_large` before parsing.
    public var maxRecordBytes: Int

    /// Scratch space: the unescaped UTF-8 bytes of the three ids of the last decoded event. The
    /// ranges of the returned ``DecodedEvent`` index this array; its contents are replaced by the
    /// next call to ``decode(_:format:)``. Use `idBytes.span.extracting(range)` for a view of one id.
    public private(set) var idBytes: [UInt8]

    /// - Parameter maxRecordBytes: the size limit for one record value, 64 KiB by default.
    public init(maxRecordBytes: Int = 64 * 1024) {
        self.maxRecordBytes = maxRecordBytes
        idBytes = []
        idBytes.reserveCapacity(3 * Self.maxIDBytes)
    }

    /// Decodes and validates one record value.
    ///
    /// On success the returned event's id ranges index ``idBytes`` and stay valid until the next
    /// call. Cost: linear in the record size, no heap allocation on success; a rejection builds
    /// its detail string.
    public mutating func decode(_ bytes: Span<UInt8>, format: PayloadFormat) -> Result<DecodedEvent, Rejection> {
        guard bytes.count <= maxRecordBytes else {
            return .failure(
                Rejection(.recordTooLarge, "the record is \(bytes.count) bytes; the limit is \(maxRecordBytes)"))
        }
        idBytes.removeAll(keepingCapacity: true)
        switch format {
        case .json:
            if let offset = UTF8Validation.firstInvalidByte(in: bytes, 0..<bytes.count) {
                return .failure(Rejection(.invalidUTF8, "invalid UTF-8 at byte offset \(offset)"))
            }
            // The scanner owns the id buffer while it runs; swapping moves it without a copy, so
            // the buffer stays uniquely referenced and appends never reallocate.
            var scanner = JSONEventScanner()
            swap(&scanner.ids, &idBytes)
            let result = scanner.scanEvent(bytes)
            swap(&scanner.ids, &idBytes)
            return result
        case .protobuf:
            var scanner = ProtobufEventScanner()
            return scanner.scanEvent(bytes, ids: &idBytes)
        }
    }

    /// An owned copy of `event` with `String` ids, for tests and tools (allocates).
    /// - Important: `event` must come from the latest ``decode(_:format:)`` of this decoder.
    public func materialize(_ event: DecodedEvent) -> Event {
        Event(
            eventID: string(event.eventID), type: event.type, userID: string(event.userID),
            itemID: string(event.itemID), time: event.time, dwellMillis: event.dwellMillis)
    }

    /// The id bytes in `range` of ``idBytes`` as a `String` (allocates).
    public func string(_ range: Range<Int>) -> String {
        String(decoding: idBytes[range], as: UTF8.self)
    }
}
