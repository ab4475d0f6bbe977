/// A hand-written reader of the protobuf wire format for `recstream.v1.Event`
/// (Schemas/events.proto) that validates while it walks and allocates nothing.
///
/// Field numbers: 1 event_id, 2 type (enum), 3 user_id, 4 item_id, 5 ts (int64), 6 dwell_ms
/// (int64), 7 context (a message, skipped unread: it is opaque to recstream). Standard semantics:
/// unknown fields of wire types 0, 1, 2 and 5 are skipped; for a field that occurs more than once
/// the last occurrence wins; an enum value is the varint truncated to 32 bits. Groups (wire types
/// 3 and 4) are refused: proto3 has none and skipping them would need a nesting stack. The rejection
/// precedence is documented on ``EventDecoder``.
struct ProtobufEventScanner {
    private var position = 0
    /// Byte ranges of the ids' last occurrences in the input.
    private var eventID: Range<Int>?
    private var userID: Range<Int>?
    private var itemID: Range<Int>?
    private var typeValue: UInt64?
    private var millis: UInt64?
    private var dwellMillis: UInt64?
    /// The first id occurrence with invalid UTF-8: field number and offset of the bad byte.
    private var firstUTF8Problem: (fieldNumber: UInt64, offset: Int)?
    /// The first known field with the wrong wire type: field number and the wire type found.
    private var firstWireTypeProblem: (fieldNumber: UInt64, wireType: UInt8)?

    init() {}

    /// Scans one record and, on success, appends the three ids to `ids` (which the caller has
    /// emptied) and returns ranges into it.
    mutating func scanEvent(_ input: Span<UInt8>, ids: inout [UInt8]) -> Result<DecodedEvent, Rejection> {
        do {
            try walk(input)
        } catch {
            return .failure(error)
        }
        if let (fieldNumber, offset) = firstUTF8Problem {
            return .failure(
                Rejection(.invalidUTF8, "\(Self.name(fieldNumber)) has invalid UTF-8 at byte offset \(offset)"))
        }
        if let (fieldNumber, wireType) = firstWireTypeProblem {
            let expected = fieldNumber == 1 || fieldNumber == 3 || fieldNumber == 4 || fieldNumber == 7 ? 2 : 0
            return .failure(
                Rejection(
                    .wrongFieldType,
                    "\(Self.name(fieldNumber)) (field \(fieldNumber)) has wire type \(wireType), expected \(expected)"))
        }

        // Final values, in field-number order.
        if let problem = Self.idProblem(eventID, 1) { return .failure(problem) }
        var type: EventType?
        if let typeValue {
            let value = Int32(truncatingIfNeeded: typeValue)
            guard value >= 1 && value <= 6, let match = EventType(rawValue: UInt8(value - 1)) else {
                return .failure(Rejection(.unknownType, "type \(value) is not an event type (1...6)"))
            }
            type = match
        }
        if let problem = Self.idProblem(userID, 3) { return .failure(problem) }
        if let problem = Self.idProblem(itemID, 4) { return .failure(problem) }
        if let millis {
            let value = Int64(bitPattern: millis)
            guard value >= 0 else { return .failure(Rejection(.invalidTimestamp, "ts \(value) is negative")) }
            guard value < EventTime.limitMillis else {
                return .failure(
                    Rejection(
                        .invalidTimestamp, "ts \(value) is not before \(EventTime.limitMillis) (year 10000)"))
            }
        }
        var dwell: Int64?
        if let dwellMillis {
            let value = Int64(bitPattern: dwellMillis)
            guard value >= 0 else { return .failure(Rejection(.invalidField, "dwell_ms \(value) is negative")) }
            dwell = value
        }

        guard let eventID else { return .failure(Rejection(.missingField, "event_id is missing")) }
        guard let type else { return .failure(Rejection(.missingField, "type is missing")) }
        guard let userID else { return .failure(Rejection(.missingField, "user_id is missing")) }
        guard let itemID else { return .failure(Rejection(.missingField, "item_id is missing")) }
        guard let millis else { return .failure(Rejection(.missingField, "ts is missing")) }

        let start = ids.count
        ids.append(addingCapacity: eventID.count &+ userID.count &+ itemID.count) { output in
            for i in eventID { output.append(input[i]) }
            for i in userID { output.append(input[i]) }
            for i in itemID { output.append(input[i]) }
        }
        let userStart = start &+ eventID.count
        let itemStart = userStart &+ userID.count
        return .success(
            DecodedEvent(
                type: type, time: EventTime(millis: Int64(bitPattern: millis)), dwellMillis: dwell,
                eventID: start..<userStart, userID: userStart..<itemStart, itemID: itemStart..<ids.count))
    }

    // MARK: - Walk

    /// Reads every field to the end of the input, stopping only at a structural error.
    private mutating func walk(_ input: Span<UInt8>) throws(Rejection) {
        while position < input.count {
            let tagStart = position
            let tag = try readVarint(input)
            guard position - tagStart <= 5 && tag <= UInt64(UInt32.max) else {
                throw Rejection(.malformedProtobuf, "field tag at byte offset \(tagStart) exceeds 32 bits")
            }
            let fieldNumber = tag >> 3
            let wireType = UInt8(tag & 7)
            guard fieldNumber != 0 else {
                throw Rejection(.malformedProtobuf, "field number 0 at byte offset \(tagStart)")
            }
            switch fieldNumber {
            case 1, 3, 4:
                guard wireType == ProtobufWireType.lengthDelimited else {
                    try skipWrongWireType(input, fieldNumber, wireType, tagStart)
                    continue
                }
                let range = try readLengthDelimited(input)
                if firstUTF8Problem == nil, let offset = UTF8Validation.firstInvalidByte(in: input, range) {
                    firstUTF8Problem = (fieldNumber, offset)
                }
                switch fieldNumber {
                case 1: eventID = range
                case 3: userID = range
                default: itemID = range
                }
            case 2, 5, 6:
                guard wireType == ProtobufWireType.varint else {
                    try skipWrongWireType(input, fieldNumber, wireType, tagStart)
                    continue
                }
                let value = try readVarint(input)
                switch fieldNumber {
                case 2: typeValue = value
                case 5: millis = value
                default: dwellMillis = value
                }
            case 7:
                guard wireType == ProtobufWireType.lengthDelimited else {
                    try skipWrongWireType(input, fieldNumber, wireType, tagStart)
                    continue
                }
                _ = try readLengthDelimited(input)
            default:
                try skipField(input, wireType, tagStart)
            }
        }
    }

    private mutating func skipWrongWireType(
        _ input: Span<UInt8>, _ fieldNumber: UInt64, _ wireType: UInt8, _ tagStart: Int
    ) throws(Rejection) {
        try skipField(input, wireType, tagStart)
        if firstWireTypeProblem == nil { firstWireTypeProblem = (fieldNumber, wireType) }
    }

    /// Skips the payload of a field whose tag has been read.
    private mutating func skipField(_ input: Span<UInt8>, _ wireType: UInt8, _ tagStart: Int) throws(Rejection) {
        switch wireType {
        case ProtobufWireType.varint:
            _ = try readVarint(input)
        case ProtobufWireType.fixed64:
            try advance(input, by: 8, tagStart)
        case ProtobufWireType.lengthDelimited:
            _ = try readLengthDelimited(input)
        case ProtobufWireType.fixed32:
            try advance(input, by: 4, tagStart)
        case 3, 4:
            throw Rejection(.malformedProtobuf, "group (wire type \(wireType)) at byte offset \(tagStart)")
        default:
            throw Rejection(.malformedProtobuf, "invalid wire type \(wireType) at byte offset \(tagStart)")
        }
    }

    private mutating func advance(_ input: Span<UInt8>, by count: Int, _ tagStart: Int) throws(Rejection) {
        guard input.count - position >= count else {
            throw Rejection(.malformedProtobuf, "field at byte offset \(tagStart) is truncated")
        }
        position += count
    }

    /// Reads a length prefix and returns the range of the payload after it.
    private mutating func readLengthDelimited(_ input: Span<UInt8>) throws(Rejection) -> Range<Int> {
        let lengthStart = position
        let length = try readVarint(input)
        guard length <= UInt64(input.count - position) else {
            throw Rejection(
                .malformedProtobuf,
                "length \(length) at byte offset \(lengthStart) runs past the end of the record")
        }
        let start = position
        position += Int(length)
        return start..<position
    }

    /// Reads a base-128 varint of at most 10 bytes; bits beyond 64 in the tenth byte are dropped,
    /// as protobuf parsers do.
    @inline(__always)
    private mutating func readVarint(_ input: Span<UInt8>) throws(Rejection) -> UInt64 {
        let start = position
        guard position < input.count else {
            throw Rejection(.malformedProtobuf, "truncated varint at byte offset \(start)")
        }
        let first = input[position]
        position += 1
        if first < 0x80 { return UInt64(first) }
        var value = UInt64(first & 0x7F)
        var shift: UInt64 = 7
        while shift < 70 {
            guard position < input.count else {
                throw Rejection(.malformedProtobuf, "truncated varint at byte offset \(start)")
            }
            let byte = input[position]
            position += 1
            value |= UInt64(byte & 0x7F) &<< shift
            if byte < 0x80 { return value }
            shift += 7
        }
        throw Rejection(.malformedProtobuf, "varint at byte offset \(start) is longer than 10 bytes")
    }

    // MARK: - Values

    @inline(__always)
    private static func idProblem(_ range: Range<Int>?, _ fieldNumber: UInt64) -> Rejection? {
        guard let range, range.isEmpty || range.count > EventDecoder.maxIDBytes else { return nil }
        if range.isEmpty { return Rejection(.invalidID, "\(name(fieldNumber)) is empty") }
        return Rejection(
            .invalidID, "\(name(fieldNumber)) is \(range.count) bytes; the limit is \(EventDecoder.maxIDBytes)")
    }

    private static func name(_ fieldNumber: UInt64) -> String {
        switch fieldNumber {
        case 1: "event_id"
        case 2: "type"
        case 3: "user_id"
        case 4: "item_id"
        case 5: "ts"
        case 6: "dwell_ms"
        default: "context"
        }
    }
}

/// The protobuf wire types recstream reads.
enum ProtobufWireType {
    static let varint: UInt8 = 0
    static let fixed64: UInt8 = 1
    static let lengthDelimited: UInt8 = 2
    static let fixed32: UInt8 = 5
}
