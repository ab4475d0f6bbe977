import SwiftProtobuf

extension Event {
    /// The event as one compact JSON object (RFC 8259), keys in the order event_id, type, user_id,
    /// item_id, ts and, when present, dwell_ms. Strings keep non-ASCII UTF-8 as is and escape `"`,
    /// `\` and control characters. Cost: one allocation for the result.
    public func jsonBytes() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(
            80 + eventID.utf8.count + userID.utf8.count + itemID.utf8.count + (dwellMillis == nil ? 0 : 32))
        appendJSON(to: &buffer)
        return buffer
    }

    /// Appends ``jsonBytes()`` to `buffer`, allocating only when `buffer` must grow.
    public func appendJSON(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: #"{"event_id":"#.utf8)
        JSONText.appendString(eventID, to: &buffer)
        buffer.append(contentsOf: #","type":""#.utf8)
        buffer.append(contentsOf: type.name.utf8)
        buffer.append(contentsOf: #"","user_id":"#.utf8)
        JSONText.appendString(userID, to: &buffer)
        buffer.append(contentsOf: #","item_id":"#.utf8)
        JSONText.appendString(itemID, to: &buffer)
        buffer.append(contentsOf: #","ts":"#.utf8)
        JSONText.appendInteger(time.millis, to: &buffer)
        if let dwellMillis {
            buffer.append(contentsOf: #","dwell_ms":"#.utf8)
            JSONText.appendInteger(dwellMillis, to: &buffer)
        }
        buffer.append(JSONByte.closeBrace)
    }

    /// The event as a serialized `recstream.v1.Event`, written by the generated SwiftProtobuf code
    /// (the reference encoder for the protobuf format). Every field is present except dwell_ms when
    /// it is nil.
    public func protobufBytes() -> [UInt8] {
        var message = Recstream_V1_Event()
        message.eventID = eventID
        message.type = protobufType
        message.userID = userID
        message.itemID = itemID
        message.ts = time.millis
        if let dwellMillis { message.dwellMs = dwellMillis }
        do {
            return try message.serializedBytes()
        } catch {
            // Binary encoding fails only for missing proto2 required fields or Any transcoding;
            // this message has neither, so reaching here is a programming error.
            preconditionFailure("encoding Recstream_V1_Event failed: \(error)")
        }
    }

    private var protobufType: Recstream_V1_EventType {
        switch type {
        case .exposure: .exposure
        case .click: .click
        case .like: .like
        case .collect: .collect
        case .share: .share
        case .comment: .comment
        }
    }
}

/// Writing JSON text without Foundation.
enum JSONText {
    /// Appends `string` as a JSON string literal: `"` and `\` escaped, control characters as
    /// `\b \f \n \r \t` or `\u00XX`, everything else (including non-ASCII UTF-8) as is.
    static func appendString(_ string: String, to buffer: inout [UInt8]) {
        buffer.append(JSONByte.quote)
        for byte in string.utf8 {
            switch byte {
            case JSONByte.quote, JSONByte.backslash:
                buffer.append(JSONByte.backslash)
                buffer.append(byte)
            case 0x20...:
                buffer.append(byte)
            case 0x08: appendShortEscape(UInt8(ascii: "b"), to: &buffer)
            case 0x0C: appendShortEscape(UInt8(ascii: "f"), to: &buffer)
            case 0x0A: appendShortEscape(UInt8(ascii: "n"), to: &buffer)
            case 0x0D: appendShortEscape(UInt8(ascii: "r"), to: &buffer)
            case 0x09: appendShortEscape(UInt8(ascii: "t"), to: &buffer)
            default:
                buffer.append(contentsOf: #"\u00"#.utf8)
                buffer.append(hexDigit(byte >> 4))
                buffer.append(hexDigit(byte & 0x0F))
            }
        }
        buffer.append(JSONByte.quote)
    }

    /// Appends the decimal form of `value`.
    static func appendInteger(_ value: Int64, to buffer: inout [UInt8]) {
        if value < 0 { buffer.append(JSONByte.minus) }
        var magnitude = value.magnitude
        let start = buffer.count
        repeat {
            buffer.append(JSONByte.zero + UInt8(magnitude % 10))
            magnitude /= 10
        } while magnitude > 0
        buffer[start...].reverse()
    }

    private static func appendShortEscape(_ letter: UInt8, to buffer: inout [UInt8]) {
        buffer.append(JSONByte.backslash)
        buffer.append(letter)
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? JSONByte.zero + nibble : UInt8(ascii: "a") + nibble - 10
    }
}
