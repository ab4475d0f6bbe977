import Foundation
import RecstreamCore

/// The reference the JSON decoder is checked against: Foundation's JSONSerialization decides
/// whether the record is one JSON object, and the field rules of the wire contract are applied to
/// what it parsed, written out as plainly as possible.
///
/// JSONSerialization is more lenient than RFC 8259 in a few documented ways, which the reference
/// takes back: it skips a leading byte order mark, guesses UTF-16/32 from NUL bytes, accepts
/// trailing commas and nests 512 deep. It also hides duplicate keys and number spellings, so the
/// top-level members are re-read from the raw text (safe to do simply, because JSONSerialization
/// has already accepted that text).
enum JSONReference {
    static let knownKeys: Set<String> = ["event_id", "type", "user_id", "item_id", "ts", "dwell_ms", "context"]

    /// The value of a raw JSON string token that JSONSerialization has accepted, unescaped here
    /// because JSONSerialization drops a raw U+FEFF at the start of a string or right after an
    /// escape (it decodes each run of plain bytes like a file that may start with a byte order
    /// mark), while the contract keeps every byte.
    static func unescape(_ token: [UInt8]) -> String? {
        guard token.count >= 2, token.first == 0x22, token.last == 0x22 else { return nil }
        var bytes: [UInt8] = []
        var units: [UInt16] = []  // pending \u escapes, decoded together for surrogate pairs
        func flushUnits() {
            bytes += Array(String(decoding: units, as: UTF16.self).utf8)
            units = []
        }
        var i = 1
        while i < token.count - 1 {
            let byte = token[i]
            guard byte == UInt8(ascii: "\\") else {
                flushUnits()
                bytes.append(byte)
                i += 1
                continue
            }
            let letter = token[i + 1]
            if letter == UInt8(ascii: "u") {
                guard let unit = UInt16(String(decoding: token[(i + 2)..<(i + 6)], as: UTF8.self), radix: 16) else {
                    return nil
                }
                units.append(unit)
                i += 6
                continue
            }
            flushUnits()
            let decoded: [UInt8: UInt8] = [
                0x22: 0x22, 0x5C: 0x5C, 0x2F: 0x2F, 0x62: 0x08, 0x66: 0x0C, 0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09,
            ]
            guard let value = decoded[letter] else { return nil }
            bytes.append(value)
            i += 2
        }
        flushUnits()
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The event the record stands for, or nil when it must be rejected.
    static func event(_ bytes: [UInt8]) -> Event? {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) || bytes.contains(0) { return nil }
        guard (try? JSONSerialization.jsonObject(with: Data(bytes))) is [String: Any] else { return nil }
        let raw = RawJSON(bytes)
        guard !raw.hasTrailingComma, raw.maxDepth <= 64 else { return nil }
        // JSONSerialization converts (and range-checks) only the numbers that end up in its result,
        // so one under a key that a later duplicate replaces is never checked: check all of them.
        for token in raw.numberTokens() {
            guard let value = Double(String(decoding: token, as: UTF8.self)), value.isFinite else { return nil }
        }

        // Raw value text of each known key, and duplicates.
        var values: [String: [UInt8]] = [:]
        for (rawKey, rawValue) in raw.topLevelMembers() {
            guard let key = unescape(rawKey) else { return nil }
            guard knownKeys.contains(key) else { continue }
            if values[key] != nil { return nil }  // duplicate_field
            values[key] = rawValue
        }

        func string(_ key: String) -> String? {
            guard let value = values[key], value.first == UInt8(ascii: "\"") else { return nil }
            return unescape(value)
        }
        func id(_ key: String) -> String? {
            guard let value = string(key), (1...128).contains(value.utf8.count) else { return nil }
            return value
        }
        // A non-negative integer written without fraction, exponent or sign.
        func integer(_ raw: [UInt8]) -> Int64? {
            guard raw.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return Int64(String(decoding: raw, as: UTF8.self))
        }

        guard
            let eventID = id("event_id"), let userID = id("user_id"), let itemID = id("item_id"),
            let typeName = string("type"), let type = EventType(name: typeName),
            let rawTs = values["ts"], let millis = integer(rawTs), millis < EventTime.limitMillis
        else { return nil }
        var dwell: Int64?
        if let rawDwell = values["dwell_ms"], rawDwell != Array("null".utf8) {
            guard let value = integer(rawDwell) else { return nil }
            dwell = value
        }
        if let rawContext = values["context"], rawContext != Array("null".utf8), rawContext.first != UInt8(ascii: "{") {
            return nil
        }
        return Event(
            eventID: eventID, type: type, userID: userID, itemID: itemID, time: EventTime(millis: millis),
            dwellMillis: dwell)
    }
}

/// Structural facts about JSON text that a full parser has already accepted.
struct RawJSON {
    let bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    private static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// Calls `body` with the index and nesting depth of every byte outside strings.
    private func forEachStructuralByte(_ body: (Int, Int) -> Void) {
        var depth = 0
        var inString = false
        var escaped = false
        for (index, byte) in bytes.enumerated() {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
            body(index, depth)
        }
    }

    /// Every number token outside strings.
    func numberTokens() -> [[UInt8]] {
        var tokens: [[UInt8]] = []
        var current: [UInt8] = []
        var previous = -2
        forEachStructuralByte { index, _ in
            let byte = bytes[index]
            let isDigit = (0x30...0x39).contains(byte)
            if !current.isEmpty && index == previous + 1 && (isDigit || Array("-+.eE".utf8).contains(byte)) {
                current.append(byte)
            } else {
                if !current.isEmpty { tokens.append(current) }
                current = isDigit || byte == UInt8(ascii: "-") ? [byte] : []
            }
            previous = index
        }
        if !current.isEmpty { tokens.append(current) }
        return tokens
    }

    var maxDepth: Int {
        var result = 0
        forEachStructuralByte { _, depth in result = max(result, depth) }
        return result
    }

    /// A `,` followed (after whitespace) by `}` or `]`.
    var hasTrailingComma: Bool {
        var lastSignificant: UInt8 = 0
        var found = false
        forEachStructuralByte { index, _ in
            let byte = bytes[index]
            if Self.isWhitespace(byte) { return }
            if (byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]")) && lastSignificant == UInt8(ascii: ",") {
                found = true
            }
            lastSignificant = byte
        }
        return found
    }

    /// The raw key (with its quotes) and raw value (trimmed) of each member of the top-level object.
    func topLevelMembers() -> [(key: [UInt8], value: [UInt8])] {
        // Separators of the top-level object: its `{`, its `,`s, its `:`s and its `}`.
        var commas: [Int] = []
        var colons: [Int] = []
        var open = -1
        var close = -1
        forEachStructuralByte { index, depth in
            let byte = bytes[index]
            if byte == UInt8(ascii: "{") && depth == 1 && open < 0 { open = index }
            if byte == UInt8(ascii: "}") && depth == 0 { close = index }
            if depth == 1 && byte == UInt8(ascii: ",") { commas.append(index) }
            if depth == 1 && byte == UInt8(ascii: ":") { colons.append(index) }
        }
        guard open >= 0, close > open, !colons.isEmpty else { return [] }
        let starts = [open] + commas
        let ends = commas + [close]
        var members: [(key: [UInt8], value: [UInt8])] = []
        for (start, end) in zip(starts, ends) {
            guard let colon = colons.first(where: { $0 > start && $0 < end }) else { continue }
            members.append((trim(start + 1..<colon), trim(colon + 1..<end)))
        }
        return members
    }

    private func trim(_ range: Range<Int>) -> [UInt8] {
        var slice = bytes[range]
        while let first = slice.first, Self.isWhitespace(first) { slice = slice.dropFirst() }
        while let last = slice.last, Self.isWhitespace(last) { slice = slice.dropLast() }
        return Array(slice)
    }
}
