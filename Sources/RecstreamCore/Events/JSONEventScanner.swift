/// One pass over a JSON event (RFC 8259, strict) that validates the whole syntax, unescapes the
/// three ids into ``ids`` and collects the other known fields. The caller has already checked the
/// size and the UTF-8 validity of the input (see ``EventDecoder`` for the rejection precedence).
///
/// Syntax errors and lone-surrogate escapes end the scan at once (thrown); per-field problems are
/// remembered (the first one wins) while the scan goes on, because a later syntax error must take
/// precedence over them. Keys, ids and `type` values without escapes take a fast path that reads
/// them once; anything else goes through the general string scanner.
struct JSONEventScanner {
    /// The unescaped ids, moved in from ``EventDecoder/idBytes`` for the duration of one scan.
    var ids: [UInt8] = []

    private var position = 0
    private var eventID: JSONIDSource?
    private var userID: JSONIDSource?
    private var itemID: JSONIDSource?
    private var type: EventType?
    private var millis: Int64?
    private var dwellMillis: Int64?
    /// One bit per ``JSONEventField``: the fields seen so far, to find duplicates.
    private var seen: UInt8 = 0
    /// The first per-field problem; kept as plain data so the success path builds no strings.
    private var problem: JSONFieldProblem?

    init() {}

    /// Scans one record; on success the ranges of the returned event index ``ids``.
    mutating func scanEvent(_ input: Span<UInt8>) -> Result<DecodedEvent, Rejection> {
        do {
            try scanObject(input)
        } catch {
            return .failure(error)
        }
        if let problem { return .failure(problem.rejection(input)) }
        guard let eventID else { return .failure(Self.missing(.eventID)) }
        guard let type else { return .failure(Self.missing(.type)) }
        guard let userID else { return .failure(Self.missing(.userID)) }
        guard let itemID else { return .failure(Self.missing(.itemID)) }
        guard let millis else { return .failure(Self.missing(.time)) }

        // Ids without escapes are still ranges of the input: copy them all in one append.
        var base = ids.count
        ids.append(addingCapacity: eventID.inputCount + userID.inputCount + itemID.inputCount) { output in
            eventID.copyInput(input, to: &output)
            userID.copyInput(input, to: &output)
            itemID.copyInput(input, to: &output)
        }
        let eventRange = eventID.range(in: &base)
        let userRange = userID.range(in: &base)
        let itemRange = itemID.range(in: &base)
        return .success(
            DecodedEvent(
                type: type, time: EventTime(millis: millis), dwellMillis: dwellMillis, eventID: eventRange,
                userID: userRange, itemID: itemRange))
    }

    // MARK: - Structure

    /// The whole record: whitespace, the event object, whitespace, end.
    private mutating func scanObject(_ input: Span<UInt8>) throws(Rejection) {
        skipWhitespace(input)
        guard position < input.count else {
            throw Rejection(.malformedJSON, "the record holds no JSON value")
        }
        guard input[position] == JSONByte.openBrace else {
            throw Rejection(
                .malformedJSON, "the record is not a JSON object (it starts with \(Self.describe(input[position])))")
        }
        position &+= 1
        skipWhitespace(input)
        if position < input.count && input[position] == JSONByte.closeBrace {
            position &+= 1
        } else {
            while true {
                guard position < input.count && input[position] == JSONByte.quote else {
                    throw unexpected(input, expecting: "a string key")
                }
                position &+= 1
                let field = try scanKey(input)
                skipWhitespace(input)
                try expect(JSONByte.colon, input, "':' after a key")
                skipWhitespace(input)
                if let field {
                    try scanKnownMember(input, field)
                } else {
                    try skipValue(input, depth: 1)
                }
                skipWhitespace(input)
                guard position < input.count else { throw unexpected(input, expecting: "',' or '}'") }
                let byte = input[position]
                if byte == JSONByte.comma {
                    position &+= 1
                    skipWhitespace(input)
                } else if byte == JSONByte.closeBrace {
                    position &+= 1
                    break
                } else {
                    throw unexpected(input, expecting: "',' or '}'")
                }
            }
        }
        skipWhitespace(input)
        guard position == input.count else {
            throw Rejection(.malformedJSON, "trailing bytes after the object at byte offset \(position)")
        }
    }

    /// Reads a key whose opening quote has been consumed and names the known field it is, if any.
    @inline(__always)
    private mutating func scanKey(_ input: Span<UInt8>) throws(Rejection) -> JSONEventField? {
        JSONEventField(try scanShortString(input))
    }

    /// Scans the value of a known top-level field whose key has been read.
    private mutating func scanKnownMember(_ input: Span<UInt8>, _ field: JSONEventField) throws(Rejection) {
        if seen & field.bit != 0 {
            note(.duplicate(field))
            try skipValue(input, depth: 1)
            return
        }
        seen |= field.bit
        guard position < input.count, let kind = JSONValueKind(input[position]) else {
            throw unexpected(input, expecting: "a value")
        }
        switch field {
        case .eventID, .userID, .itemID:
            guard kind == .string else {
                note(.wrongType(field, kind))
                try skipValue(input, depth: 1)
                return
            }
            position &+= 1
            guard let range = try scanID(input, field) else { return }
            switch field {
            case .eventID: eventID = range
            case .userID: userID = range
            default: itemID = range
            }
        case .type:
            guard kind == .string else {
                note(.wrongType(field, kind))
                try skipValue(input, depth: 1)
                return
            }
            let start = position
            position &+= 1
            if let match = JSONEventField.eventType(try scanShortString(input)) {
                type = match
            } else {
                note(.unknownType(start..<position))
            }
        case .time, .dwellMillis:
            if field == .dwellMillis && kind == .null {
                try skipValue(input, depth: 1)
                return
            }
            guard kind == .number else {
                note(.wrongType(field, kind))
                try skipValue(input, depth: 1)
                return
            }
            let start = position
            let number = try scanNumber(input)
            let token = start..<position
            if !number.isInteger {
                note(.integer(field, token, .notAnInteger))
            } else if number.isNegative {
                note(.integer(field, token, .negative))
            } else if number.overflows || number.magnitude > UInt64(Int64.max) {
                note(.integer(field, token, .overflow))
            } else if field == .time {
                if number.magnitude >= UInt64(EventTime.limitMillis) {
                    note(.integer(field, token, .beyondLimit))
                } else {
                    millis = Int64(number.magnitude)
                }
            } else {
                dwellMillis = Int64(number.magnitude)
            }
        case .context:
            if kind != .object && kind != .null {
                note(.wrongType(field, kind))
            }
            try skipValue(input, depth: 1)
        }
    }

    /// Reads an id string whose opening quote has been consumed. Without escapes the id stays a
    /// range of the input (copied once at the end); with escapes its unescaped bytes go to ``ids``
    /// now. Nil (with a noted problem) when its length is not 1...128 bytes.
    @inline(__always)
    private mutating func scanID(_ input: Span<UInt8>, _ field: JSONEventField) throws(Rejection)
        -> JSONIDSource?
    {
        let contentStart = position
        var p = contentStart
        while p < input.count {
            let byte = input[p]
            if byte == JSONByte.quote || byte == JSONByte.backslash || byte < 0x20 { break }
            p &+= 1
        }
        let length: Int
        if p < input.count && input[p] == JSONByte.quote {
            length = p &- contentStart
            position = p &+ 1
            if length >= 1 && length <= EventDecoder.maxIDBytes { return .input(contentStart..<p) }
        } else {
            let start = ids.count
            length = try scanString(input, into: .id).length
            if length >= 1 && length <= EventDecoder.maxIDBytes { return .unescaped(start..<ids.count) }
            ids.removeSubrange(start...)
        }
        note(.invalidID(field, length: length))
        return nil
    }

    /// Reads a string whose opening quote has been consumed, keeping its length and first 8
    /// unescaped bytes.
    @inline(__always)
    private mutating func scanShortString(_ input: Span<UInt8>) throws(Rejection) -> JSONStringToken {
        let start = position
        var p = start
        while p < input.count {
            let byte = input[p]
            if byte == JSONByte.quote || byte == JSONByte.backslash || byte < 0x20 { break }
            p &+= 1
        }
        guard p < input.count && input[p] == JSONByte.quote else {
            // An escape, a control character or the end of the input: the general scanner decides.
            return try scanString(input, into: .pack)
        }
        position = p &+ 1
        var token = JSONStringToken(length: p &- start, packed: 0)
        if token.length <= 8 {
            var shift: UInt64 = 0
            for i in start..<p {
                token.packed |= UInt64(input[i]) &<< shift
                shift &+= 8
            }
        }
        return token
    }

    /// Skips one value of any type, validating its syntax. `depth` is the nesting level of the
    /// container that holds the value.
    private mutating func skipValue(_ input: Span<UInt8>, depth: Int) throws(Rejection) {
        guard position < input.count, let kind = JSONValueKind(input[position]) else {
            throw unexpected(input, expecting: "a value")
        }
        switch kind {
        case .string:
            position &+= 1
            _ = try scanString(input, into: .discard)
        case .number:
            _ = try scanNumber(input)
        case .object:
            try skipObject(input, depth: depth &+ 1)
        case .array:
            try skipArray(input, depth: depth &+ 1)
        case .boolean:
            if input[position] == JSONByte.lowerT {
                try expectLiteral(input, JSONLiteral.true)
            } else {
                try expectLiteral(input, JSONLiteral.false)
            }
        case .null:
            try expectLiteral(input, JSONLiteral.null)
        }
    }

    private mutating func skipObject(_ input: Span<UInt8>, depth: Int) throws(Rejection) {
        try checkDepth(depth)
        position &+= 1
        skipWhitespace(input)
        if position < input.count && input[position] == JSONByte.closeBrace {
            position &+= 1
            return
        }
        while true {
            guard position < input.count && input[position] == JSONByte.quote else {
                throw unexpected(input, expecting: "a string key")
            }
            position &+= 1
            _ = try scanString(input, into: .discard)
            skipWhitespace(input)
            try expect(JSONByte.colon, input, "':' after a key")
            skipWhitespace(input)
            try skipValue(input, depth: depth)
            skipWhitespace(input)
            guard position < input.count else { throw unexpected(input, expecting: "',' or '}'") }
            let byte = input[position]
            if byte == JSONByte.comma {
                position &+= 1
                skipWhitespace(input)
            } else if byte == JSONByte.closeBrace {
                position &+= 1
                return
            } else {
                throw unexpected(input, expecting: "',' or '}'")
            }
        }
    }

    private mutating func skipArray(_ input: Span<UInt8>, depth: Int) throws(Rejection) {
        try checkDepth(depth)
        position &+= 1
        skipWhitespace(input)
        if position < input.count && input[position] == JSONByte.closeBracket {
            position &+= 1
            return
        }
        while true {
            try skipValue(input, depth: depth)
            skipWhitespace(input)
            guard position < input.count else { throw unexpected(input, expecting: "',' or ']'") }
            let byte = input[position]
            if byte == JSONByte.comma {
                position &+= 1
                skipWhitespace(input)
            } else if byte == JSONByte.closeBracket {
                position &+= 1
                return
            } else {
                throw unexpected(input, expecting: "',' or ']'")
            }
        }
    }

    private func checkDepth(_ depth: Int) throws(Rejection) {
        guard depth <= EventDecoder.maxNestingDepth else {
            throw Rejection(
                .malformedJSON,
                "nesting deeper than \(EventDecoder.maxNestingDepth) levels at byte offset \(position)")
        }
    }

    @inline(__always)
    private mutating func skipWhitespace(_ input: Span<UInt8>) {
        while position < input.count {
            let byte = input[position]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            position &+= 1
        }
    }

    @inline(__always)
    private mutating func expect(_ byte: UInt8, _ input: Span<UInt8>, _ what: StaticString) throws(Rejection) {
        guard position < input.count && input[position] == byte else {
            throw unexpected(input, expecting: "\(what)")
        }
        position &+= 1
    }

    private mutating func expectLiteral(_ input: Span<UInt8>, _ literal: JSONLiteral) throws(Rejection) {
        let start = position
        var packed = literal.packed
        for _ in 0..<literal.length {
            guard position < input.count && input[position] == UInt8(truncatingIfNeeded: packed) else {
                position = start
                throw unexpected(input, expecting: "a value")
            }
            packed >>= 8
            position &+= 1
        }
    }

    // MARK: - Strings

    /// Scans a string whose opening quote has been consumed, up to and including the closing
    /// quote. Returns its unescaped length; `.pack` also returns its first 8 unescaped bytes and
    /// `.id` appends its first ``EventDecoder/maxIDBytes`` unescaped bytes to ``ids``.
    private mutating func scanString(_ input: Span<UInt8>, into sink: JSONStringSink) throws(Rejection)
        -> JSONStringToken
    {
        let start = position &- 1
        var token = JSONStringToken()
        while true {
            // The common case: a run of bytes that need no unescaping.
            let runStart = position
            var p = runStart
            while p < input.count {
                let byte = input[p]
                if byte == JSONByte.quote || byte == JSONByte.backslash || byte < 0x20 { break }
                p &+= 1
            }
            position = p
            if p > runStart {
                take(input, runStart..<p, into: sink, &token)
            }
            guard p < input.count else {
                throw Rejection(.malformedJSON, "unterminated string starting at byte offset \(start)")
            }
            let byte = input[p]
            if byte == JSONByte.quote {
                position = p &+ 1
                return token
            }
            if byte != JSONByte.backslash {
                throw Rejection(
                    .malformedJSON,
                    "unescaped control character \(Self.describe(byte)) in a string at byte offset \(p)")
            }
            try scanEscape(input, into: sink, &token)
        }
    }

    private mutating func take(
        _ input: Span<UInt8>, _ run: Range<Int>, into sink: JSONStringSink, _ token: inout JSONStringToken
    ) {
        switch sink {
        case .discard:
            break
        case .pack:
            if token.length < 8 {
                let end = min(run.upperBound, run.lowerBound &+ (8 &- token.length))
                var shift = UInt64(truncatingIfNeeded: token.length &* 8)
                for i in run.lowerBound..<end {
                    token.packed |= UInt64(input[i]) &<< shift
                    shift &+= 8
                }
            }
        case .id:
            let room = EventDecoder.maxIDBytes &- token.length
            if room > 0 {
                Self.append(input, run.lowerBound..<min(run.upperBound, run.lowerBound &+ room), to: &ids)
            }
        }
        token.length &+= run.count
    }

    /// Appends `input[range]` to `buffer` in one step (one uniqueness and capacity check rather
    /// than one per byte, as `append(_:)` in a loop would do).
    @inline(__always)
    static func append(_ input: Span<UInt8>, _ range: Range<Int>, to buffer: inout [UInt8]) {
        buffer.append(addingCapacity: range.count) { output in
            for i in range { output.append(input[i]) }
        }
    }

    private mutating func emit(_ byte: UInt8, into sink: JSONStringSink, _ token: inout JSONStringToken) {
        switch sink {
        case .discard:
            break
        case .pack:
            if token.length < 8 { token.packed |= UInt64(byte) &<< UInt64(8 &* token.length) }
        case .id:
            if token.length < EventDecoder.maxIDBytes { ids.append(byte) }
        }
        token.length &+= 1
    }

    /// Decodes one escape sequence starting at the backslash.
    private mutating func scanEscape(
        _ input: Span<UInt8>, into sink: JSONStringSink, _ token: inout JSONStringToken
    ) throws(Rejection) {
        let escapeStart = position
        position &+= 1
        guard position < input.count else {
            throw Rejection(.malformedJSON, "unterminated escape at byte offset \(escapeStart)")
        }
        let letter = input[position]
        position &+= 1
        switch letter {
        case JSONByte.quote, JSONByte.backslash, JSONByte.slash: emit(letter, into: sink, &token)
        case UInt8(ascii: "b"): emit(0x08, into: sink, &token)
        case UInt8(ascii: "f"): emit(0x0C, into: sink, &token)
        case UInt8(ascii: "n"): emit(0x0A, into: sink, &token)
        case UInt8(ascii: "r"): emit(0x0D, into: sink, &token)
        case UInt8(ascii: "t"): emit(0x09, into: sink, &token)
        case UInt8(ascii: "u"):
            var scalar = try hex4(input, escapeStart)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard
                    position &+ 1 < input.count && input[position] == JSONByte.backslash
                        && input[position &+ 1] == UInt8(ascii: "u")
                else { throw Self.loneSurrogate(scalar, escapeStart) }
                let lowStart = position
                position &+= 2
                let low = try hex4(input, lowStart)
                guard low >= 0xDC00 && low <= 0xDFFF else { throw Self.loneSurrogate(scalar, escapeStart) }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw Self.loneSurrogate(scalar, escapeStart)
            }
            emitScalar(scalar, into: sink, &token)
        default:
            throw Rejection(
                .malformedJSON, "invalid escape '\\\(Self.describe(letter))' at byte offset \(escapeStart)")
        }
    }

    /// Reads the four hex digits of a `\u` escape.
    private mutating func hex4(_ input: Span<UInt8>, _ escapeStart: Int) throws(Rejection) -> UInt32 {
        guard position &+ 4 <= input.count else {
            throw Rejection(.malformedJSON, "truncated \\u escape at byte offset \(escapeStart)")
        }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = input[position]
            let digit: UInt8
            switch byte {
            case 0x30...0x39: digit = byte - 0x30
            case 0x41...0x46: digit = byte - 0x41 + 10
            case 0x61...0x66: digit = byte - 0x61 + 10
            default:
                throw Rejection(.malformedJSON, "invalid \\u escape at byte offset \(escapeStart)")
            }
            value = value << 4 | UInt32(digit)
            position &+= 1
        }
        return value
    }

    private mutating func emitScalar(_ scalar: UInt32, into sink: JSONStringSink, _ token: inout JSONStringToken) {
        switch scalar {
        case 0..<0x80:
            emit(UInt8(scalar), into: sink, &token)
        case 0x80..<0x800:
            emit(0xC0 | UInt8(scalar >> 6), into: sink, &token)
            emit(0x80 | UInt8(scalar & 0x3F), into: sink, &token)
        case 0x800..<0x10000:
            emit(0xE0 | UInt8(scalar >> 12), into: sink, &token)
            emit(0x80 | UInt8((scalar >> 6) & 0x3F), into: sink, &token)
            emit(0x80 | UInt8(scalar & 0x3F), into: sink, &token)
        default:
            emit(0xF0 | UInt8(scalar >> 18), into: sink, &token)
            emit(0x80 | UInt8((scalar >> 12) & 0x3F), into: sink, &token)
            emit(0x80 | UInt8((scalar >> 6) & 0x3F), into: sink, &token)
            emit(0x80 | UInt8(scalar & 0x3F), into: sink, &token)
        }
    }

    // MARK: - Numbers

    /// Scans one number token (RFC 8259 grammar) and, for integers, its value.
    private mutating func scanNumber(_ input: Span<UInt8>) throws(Rejection) -> JSONNumber {
        let start = position
        var number = JSONNumber()
        var p = start
        if input[p] == JSONByte.minus {
            number.isNegative = true
            p &+= 1
        }
        let integerStart = p
        guard p < input.count, Self.isDigit(input[p]) else {
            position = p
            throw unexpected(input, expecting: "a digit")
        }
        if input[p] == JSONByte.zero {
            // RFC 8259 forbids leading zeros: a following digit is left for the caller to reject.
            p &+= 1
        } else {
            // Up to 19 digits cannot overflow a UInt64 (10^19 - 1 < 2^64); 20 or more (with no
            // leading zero) are at least 10^19, beyond Int64.max, so their value is not needed.
            var magnitude: UInt64 = 0
            while p < input.count {
                let digit = input[p] &- JSONByte.zero
                if digit > 9 { break }
                magnitude = magnitude &* 10 &+ UInt64(digit)
                p &+= 1
            }
            number.magnitude = magnitude
            number.overflows = p &- integerStart > 19
        }
        let integerDigits = p &- integerStart
        position = p
        var hasExponent = false
        if p < input.count && input[p] == JSONByte.dot {
            number.isInteger = false
            position &+= 1
            try skipDigits(input)
        }
        if position < input.count && (input[position] | 0x20) == UInt8(ascii: "e") {
            number.isInteger = false
            hasExponent = true
            position &+= 1
            if position < input.count && (input[position] == JSONByte.plus || input[position] == JSONByte.minus) {
                position &+= 1
            }
            try skipDigits(input)
        }
        if hasExponent || integerDigits > JSONDoubleRange.maxDecimalExponent {
            if !JSONDoubleRange.isFinite(input, start..<position) {
                throw Rejection(
                    .malformedJSON,
                    "number \(Self.excerpt(input, start..<position)) at byte offset \(start) is out of the range "
                        + "of a double")
            }
        }
        return number
    }

    /// Skips one or more digits.
    private mutating func skipDigits(_ input: Span<UInt8>) throws(Rejection) {
        guard position < input.count, Self.isDigit(input[position]) else {
            throw unexpected(input, expecting: "a digit")
        }
        position &+= 1
        while position < input.count && Self.isDigit(input[position]) {
            position &+= 1
        }
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool { byte &- JSONByte.zero <= 9 }

    // MARK: - Problems

    /// Remembers the first per-field problem; later ones are ignored.
    @inline(__always)
    private mutating func note(_ newProblem: JSONFieldProblem) {
        if problem == nil { problem = newProblem }
    }

    private func unexpected(_ input: Span<UInt8>, expecting what: String) -> Rejection {
        guard position < input.count else {
            return Rejection(.malformedJSON, "unexpected end of the record; expected \(what)")
        }
        return Rejection(
            .malformedJSON,
            "unexpected \(Self.describe(input[position])) at byte offset \(position); expected \(what)")
    }

    private static func missing(_ field: JSONEventField) -> Rejection {
        Rejection(.missingField, "\(field.name) is missing")
    }

    private static func loneSurrogate(_ value: UInt32, _ offset: Int) -> Rejection {
        Rejection(
            .invalidUTF8,
            "\\u\(String(value, radix: 16, uppercase: true)) at byte offset \(offset) is a lone surrogate")
    }

    /// A printable form of one byte for a detail message.
    static func describe(_ byte: UInt8) -> String {
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        let hex = String(byte, radix: 16, uppercase: true)
        return byte < 0x10 ? "0x0\(hex)" : "0x\(hex)"
    }

    /// The raw text of a token for a detail message, cut at 40 bytes.
    static func excerpt(_ input: Span<UInt8>, _ range: Range<Int>) -> String {
        let limit = 40
        var bytes: [UInt8] = []
        append(input, range.lowerBound..<min(range.upperBound, range.lowerBound + limit), to: &bytes)
        let text = String(decoding: bytes, as: UTF8.self)
        return range.count > limit ? text + "…" : text
    }
}

/// A per-field problem found during the scan, turned into a ``Rejection`` only if it is reported.
enum JSONFieldProblem {
    case duplicate(JSONEventField)
    case wrongType(JSONEventField, JSONValueKind)
    case invalidID(JSONEventField, length: Int)
    /// The raw string token, quotes included.
    case unknownType(Range<Int>)
    /// ts or dwell_ms with the raw number token.
    case integer(JSONEventField, Range<Int>, JSONIntegerProblem)

    func rejection(_ input: Span<UInt8>) -> Rejection {
        switch self {
        case .duplicate(let field):
            return Rejection(.duplicateField, "\(field.name) appears more than once")
        case .wrongType(let field, let kind):
            let expected =
                switch field {
                case .time, .dwellMillis: "an integer"
                case .context: "an object"
                default: "a string"
                }
            return Rejection(.wrongFieldType, "\(field.name) must be \(expected), not \(kind)")
        case .invalidID(let field, let length):
            return Rejection(
                .invalidID,
                length == 0
                    ? "\(field.name) is empty"
                    : "\(field.name) is \(length) bytes; the limit is \(EventDecoder.maxIDBytes)")
        case .unknownType(let token):
            return Rejection(
                .unknownType,
                "type \(JSONEventScanner.excerpt(input, token)) is not one of "
                    + "exposure, click, like, collect, share, comment")
        case .integer(let field, let token, let problem):
            let text = "\(field.name) \(JSONEventScanner.excerpt(input, token))"
            let reason: RejectReason = field == .time ? .invalidTimestamp : .invalidField
            switch problem {
            case .notAnInteger:
                return Rejection(reason, "\(text) is not an integer (it has a fraction or exponent part)")
            case .negative:
                return Rejection(reason, "\(text) is negative")
            case .overflow:
                return Rejection(reason, "\(text) does not fit in a 64-bit integer")
            case .beyondLimit:
                return Rejection(reason, "\(text) is not before \(EventTime.limitMillis) (year 10000)")
            }
        }
    }
}

/// Where an accepted id's bytes are until the event is returned.
enum JSONIDSource {
    /// Written without escapes: these bytes of the input, copied at the end.
    case input(Range<Int>)
    /// Unescaped into the id buffer already.
    case unescaped(Range<Int>)

    var inputCount: Int {
        if case .input(let range) = self { return range.count }
        return 0
    }

    /// Appends the id's input bytes, if it is an input range.
    @inline(__always)
    func copyInput(_ input: Span<UInt8>, to output: inout OutputSpan<UInt8>) {
        if case .input(let range) = self {
            for i in range { output.append(input[i]) }
        }
    }

    /// The id's range in the id buffer; `nextCopy` is where the next copied input range lands.
    func range(in nextCopy: inout Int) -> Range<Int> {
        switch self {
        case .input(let range):
            defer { nextCopy &+= range.count }
            return nextCopy..<(nextCopy &+ range.count)
        case .unescaped(let range):
            return range
        }
    }
}

/// Why a number is not acceptable as ts or dwell_ms.
enum JSONIntegerProblem {
    case notAnInteger, negative, overflow, beyondLimit
}

/// The top-level keys the decoder knows.
enum JSONEventField: UInt8 {
    case eventID, type, userID, itemID, time, dwellMillis, context

    /// Matches an unescaped key by its length and first 8 bytes (all known keys are <= 8 bytes).
    @inline(__always)
    init?(_ key: JSONStringToken) {
        // Each constant is the key's UTF-8 bytes packed little-endian (byte i at bits 8i...8i+7).
        switch (key.length, key.packed) {
        case (8, 0x6469_5f74_6e65_7665): self = .eventID  // "event_id"
        case (4, 0x6570_7974): self = .type  // "type"
        case (7, 0x64_695f_7265_7375): self = .userID  // "user_id"
        case (7, 0x64_695f_6d65_7469): self = .itemID  // "item_id"
        case (2, 0x7374): self = .time  // "ts"
        case (8, 0x736d_5f6c_6c65_7764): self = .dwellMillis  // "dwell_ms"
        case (7, 0x74_7865_746e_6f63): self = .context  // "context"
        default: return nil
        }
    }

    /// The event type named by an unescaped `type` string, matched the same way.
    @inline(__always)
    static func eventType(_ name: JSONStringToken) -> EventType? {
        switch (name.length, name.packed) {
        case (8, 0x6572_7573_6f70_7865): .exposure  // "exposure"
        case (5, 0x6b_6369_6c63): .click  // "click"
        case (4, 0x656b_696c): .like  // "like"
        case (7, 0x74_6365_6c6c_6f63): .collect  // "collect"
        case (5, 0x65_7261_6873): .share  // "share"
        case (7, 0x74_6e65_6d6d_6f63): .comment  // "comment"
        default: nil
        }
    }

    var bit: UInt8 { 1 << rawValue }

    var name: String {
        switch self {
        case .eventID: "event_id"
        case .type: "type"
        case .userID: "user_id"
        case .itemID: "item_id"
        case .time: "ts"
        case .dwellMillis: "dwell_ms"
        case .context: "context"
        }
    }
}

/// Where the unescaped bytes of a string go.
enum JSONStringSink {
    /// Only validated.
    case discard
    /// Packed into ``JSONStringToken/packed`` (keys and type names).
    case pack
    /// Appended to the scanner's id buffer, up to ``EventDecoder/maxIDBytes``.
    case id
}

/// What the scanner learned about one string.
struct JSONStringToken {
    /// Unescaped length in bytes of UTF-8.
    var length = 0
    /// The first 8 unescaped bytes, little-endian, for `.pack`.
    var packed: UInt64 = 0
}

/// What the scanner learned about one number token.
struct JSONNumber {
    var isNegative = false
    /// No fraction and no exponent part.
    var isInteger = true
    /// The integer part's absolute value, wrapped when ``overflows``.
    var magnitude: UInt64 = 0
    /// The integer part does not fit in a UInt64.
    var overflows = false
}

/// The six kinds of JSON value, told apart by their first byte.
enum JSONValueKind: CustomStringConvertible {
    case string, number, object, array, boolean, null

    @inline(__always)
    init?(_ byte: UInt8) {
        switch byte {
        case JSONByte.quote: self = .string
        case JSONByte.minus, 0x30...0x39: self = .number
        case JSONByte.openBrace: self = .object
        case JSONByte.openBracket: self = .array
        case JSONByte.lowerT, UInt8(ascii: "f"): self = .boolean
        case UInt8(ascii: "n"): self = .null
        default: return nil
        }
    }

    var description: String {
        switch self {
        case .string: "a string"
        case .number: "a number"
        case .object: "an object"
        case .array: "an array"
        case .boolean: "a boolean"
        case .null: "null"
        }
    }
}

/// `true`, `false` and `null`, packed little-endian like keys.
struct JSONLiteral {
    var packed: UInt64
    var length: Int

    static let `true` = JSONLiteral(packed: 0x6575_7274, length: 4)
    static let `false` = JSONLiteral(packed: 0x65_736c_6166, length: 5)
    static let null = JSONLiteral(packed: 0x6c6c_756e, length: 4)
}

/// The ASCII bytes of JSON's grammar.
enum JSONByte {
    static let quote = UInt8(ascii: "\"")
    static let backslash = UInt8(ascii: "\\")
    static let slash = UInt8(ascii: "/")
    static let openBrace = UInt8(ascii: "{")
    static let closeBrace = UInt8(ascii: "}")
    static let openBracket = UInt8(ascii: "[")
    static let closeBracket = UInt8(ascii: "]")
    static let colon = UInt8(ascii: ":")
    static let comma = UInt8(ascii: ",")
    static let minus = UInt8(ascii: "-")
    static let plus = UInt8(ascii: "+")
    static let dot = UInt8(ascii: ".")
    static let zero = UInt8(ascii: "0")
    static let lowerT = UInt8(ascii: "t")
}
