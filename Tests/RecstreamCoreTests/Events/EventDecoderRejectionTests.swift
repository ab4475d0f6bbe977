import Foundation
import RecstreamCore
import Testing

/// One hand-written record for a table-driven test.
struct RecordCase: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var format: PayloadFormat
    var maxRecordBytes = 64 * 1024

    static func json(_ name: String, _ text: String) -> RecordCase {
        RecordCase(name: name, bytes: Array(text.utf8), format: .json)
    }

    static func json(_ name: String, bytes: [UInt8]) -> RecordCase {
        RecordCase(name: name, bytes: bytes, format: .json)
    }

    static func protobuf(_ name: String, _ wire: ProtobufWire) -> RecordCase {
        RecordCase(name: name, bytes: wire.bytes, format: .protobuf)
    }

    var testDescription: String { "\(format == .json ? "json" : "protobuf"): \(name)" }
}

/// A valid JSON event with the given extra members spliced in front of the required ones, so a
/// case can add one problem and keep everything else valid.
func validJSON(with members: String = "") -> String {
    #"{\#(members)"event_id":"e1","type":"click","user_id":"u1","item_id":"i1","ts":1000}"#
}

/// A valid JSON event whose `name` member has the given raw value.
func validJSON(replacing name: String, with rawValue: String) -> String {
    var members: [(String, String)] = [
        ("event_id", #""e1""#), ("type", #""click""#), ("user_id", #""u1""#), ("item_id", #""i1""#), ("ts", "1000"),
    ]
    if let index = members.firstIndex(where: { $0.0 == name }) {
        members[index].1 = rawValue
    } else {
        members.append((name, rawValue))
    }
    return "{" + members.map { #""\#($0.0)":\#($0.1)"# }.joined(separator: ",") + "}"
}

private func expectReason(_ record: RecordCase, _ expected: RejectReason) {
    var decoder = EventDecoder(maxRecordBytes: record.maxRecordBytes)
    let result = decoder.decodeEvent(record.bytes, record.format)
    #expect(result.rejection?.reason == expected, "\(record.name): \(result)")
    if let rejection = result.rejection {
        #expect(!rejection.detail.isEmpty && !rejection.detail.contains("\n"), "detail: \(rejection.detail)")
    }
}

@Suite("Event decoder rejections, one reason at a time")
struct EventDecoderRejectionTests {
    @Test(
        "record_too_large",
        arguments: [
            RecordCase(
                name: "valid event over a 32-byte limit", bytes: Array(validJSON().utf8), format: .json,
                maxRecordBytes: 32),
            RecordCase(
                name: "64 KiB + 1 of whitespace-padded valid event",
                bytes: Array(validJSON().utf8)
                    + [UInt8](repeating: 0x20, count: 64 * 1024 + 1 - validJSON().utf8.count),
                format: .json),
            RecordCase(
                name: "too large and invalid UTF-8: size wins", bytes: cat([0xFF], [UInt8](repeating: 0x20, count: 40)),
                format: .json, maxRecordBytes: 32),
            RecordCase(
                name: "protobuf over the limit",
                bytes: ProtobufWire.validEvent.bytes(99, [UInt8](repeating: 1, count: 64)).bytes,
                format: .protobuf, maxRecordBytes: 64),
            RecordCase(
                name: "malformed protobuf over the limit", bytes: [UInt8](repeating: 0xFF, count: 20),
                format: .protobuf, maxRecordBytes: 10),
        ])
    func recordTooLarge(_ record: RecordCase) {
        expectReason(record, .recordTooLarge)
    }

    @Test(
        "malformed_json",
        arguments: [
            RecordCase.json("empty record", ""),
            .json("only whitespace", " \t\r\n"),
            .json("top-level array", "[]"),
            .json("top-level number", "1"),
            .json("top-level string", #""event""#),
            .json("top-level null", "null"),
            .json("unterminated object", #"{"event_id":"e1""#),
            .json("unterminated string", #"{"event_id":"e1"#),
            .json("trailing bytes", validJSON() + "x"),
            .json("two objects", validJSON() + "{}"),
            .json("extra closing brace", validJSON() + "}"),
            .json(
                "trailing comma in object",
                validJSON(with: #""x":1,"#).replacingOccurrences(of: "1000}", with: "1000,}")),
            .json("trailing comma in array", validJSON(with: #""x":[1,2,],"#)),
            .json("raw tab inside a string", validJSON(with: "\"x\":\"a\tb\",")),
            .json("raw newline inside an id", validJSON(replacing: "user_id", with: "\"u\n1\"")),
            .json("raw NUL inside a string", validJSON(with: "\"x\":\"a\u{0}b\",")),
            .json("invalid escape", validJSON(with: #""x":"\x","#)),
            .json("short unicode escape", validJSON(with: #""x":"\u12","#)),
            .json("non-hex unicode escape", validJSON(with: #""x":"\u12G4","#)),
            .json("leading zero", validJSON(with: #""x":01,"#)),
            .json("leading zero in ts", validJSON(replacing: "ts", with: "01000")),
            .json("plus sign", validJSON(with: #""x":+1,"#)),
            .json("NaN", validJSON(with: #""x":NaN,"#)),
            .json("Infinity", validJSON(with: #""x":Infinity,"#)),
            .json("fraction without digits", validJSON(with: #""x":1.,"#)),
            .json("fraction without integer part", validJSON(with: #""x":.5,"#)),
            .json("exponent without digits", validJSON(with: #""x":1e,"#)),
            .json("lone minus", validJSON(with: #""x":-,"#)),
            .json("number out of double range", validJSON(with: #""x":1e400,"#)),
            .json("negative number out of double range", validJSON(with: #""x":-18e307,"#)),
            .json("ts out of double range", validJSON(replacing: "ts", with: "1e309")),
            .json("single-quoted key", "{'event_id':\"e1\"}"),
            .json("unquoted key", #"{event_id:"e1"}"#),
            .json("missing colon", #"{"event_id" "e1"}"#),
            .json("missing comma", #"{"event_id":"e1" "type":"click"}"#),
            .json("bad literal", validJSON(with: #""x":tru,"#)),
            .json("capitalised literal", validJSON(with: #""x":True,"#)),
            .json("comment", "/* c */" + validJSON()),
            .json("byte order mark", "\u{FEFF}" + validJSON()),
            .json("form feed as whitespace", validJSON() + "\u{0C}"),
            .json("no-break space as whitespace", "\u{A0}" + validJSON()),
            .json(
                "nesting 65 deep",
                validJSON(
                    with: #""x":"# + String(repeating: "[", count: 64) + String(repeating: "]", count: 64) + ",")),
            .json("syntax error after a field problem", #"{"user_id":5,"x":[}"#),
        ])
    func malformedJSON(_ record: RecordCase) {
        expectReason(record, .malformedJSON)
    }

    @Test(
        "invalid_utf8",
        arguments: [
            RecordCase.json(
                "0xFF in an unknown field",
                bytes: cat(Array(#"{"x":""#.utf8), [0xFF], Array(#"","#.utf8), Array(validJSON().utf8.dropFirst()))),
            .json("overlong slash in an id", bytes: cat(Array(#"{"user_id":"a"#.utf8), [0xC0, 0xAF], Array(#""}"#.utf8))),
            .json("UTF-8 encoded surrogate", bytes: cat(Array(#"{"x":""#.utf8), [0xED, 0xA0, 0x80], Array(#""}"#.utf8))),
            .json(
                "truncated sequence at end of string",
                bytes: cat(Array(#"{"x":""#.utf8), [0xE2, 0x82], Array(#""}"#.utf8))),
            .json("above U+10FFFF", bytes: cat(Array(#"{"x":""#.utf8), [0xF4, 0x90, 0x80, 0x80], Array(#""}"#.utf8))),
            .json("0xF5 lead byte", bytes: cat(Array(#"{"x":""#.utf8), [0xF5, 0x80, 0x80, 0x80], Array(#""}"#.utf8))),
            .json("stray continuation byte", bytes: cat(Array(#"{"x":""#.utf8), [0x80], Array(#""}"#.utf8))),
            .json("truncated at end of record", bytes: cat(Array(validJSON().utf8), [0xE2])),
            .json(
                "invalid byte after a syntax error",
                bytes: cat(Array(#"{"a":1,,"b":""#.utf8), [0xFF], Array(#""}"#.utf8))),
            .json("invalid byte in trailing garbage", bytes: cat(Array(validJSON().utf8), [0x20, 0xC3])),
            .json("lone high surrogate escape in an id", validJSON(replacing: "user_id", with: #""\ud800""#)),
            .json("lone low surrogate escape", validJSON(with: #""x":"\udc00","#)),
            .json("high surrogate followed by a non-surrogate", validJSON(with: #""x":"\uD800\u0041","#)),
            .json("high surrogate at end of string", validJSON(with: #""x":"a\uDBFF","#)),
            .json("lone surrogate before a field problem", #"{"user_id":5,"x":"\ud800","ts":1}"#),
            .protobuf("0xFF in user_id", ProtobufWire.validEvent(omitting: [3]).bytes(3, [0x75, 0xFF])),
            .protobuf("overlong encoding in event_id", ProtobufWire.validEvent(omitting: [1]).bytes(1, [0xC1, 0x81])),
            .protobuf(
                "encoded surrogate in item_id", ProtobufWire.validEvent(omitting: [4]).bytes(4, [0xED, 0xB0, 0x80])),
            .protobuf(
                "invalid first occurrence overwritten by a valid one",
                ProtobufWire.validEvent.bytes(3, [0xFF]).string(3, "u2")),
        ])
    func invalidUTF8(_ record: RecordCase) {
        expectReason(record, .invalidUTF8)
    }

    @Test(
        "missing_field",
        arguments: [
            RecordCase.json("empty object", "{}"),
            .json("no event_id", #"{"type":"click","user_id":"u1","item_id":"i1","ts":1}"#),
            .json("no type", #"{"event_id":"e1","user_id":"u1","item_id":"i1","ts":1}"#),
            .json("no user_id", #"{"event_id":"e1","type":"click","item_id":"i1","ts":1}"#),
            .json("no item_id", #"{"event_id":"e1","type":"click","user_id":"u1","ts":1}"#),
            .json("no ts", #"{"event_id":"e1","type":"click","user_id":"u1","item_id":"i1","dwell_ms":5}"#),
            .json(
                "ts only inside context",
                #"{"event_id":"e1","type":"click","user_id":"u1","item_id":"i1","context":{"ts":1}}"#),
            .json("optional fields only", #"{"dwell_ms":null,"context":null}"#),
            .protobuf("empty message", ProtobufWire()),
            .protobuf("no event_id", .validEvent(omitting: [1])),
            .protobuf("no type", .validEvent(omitting: [2])),
            .protobuf("no user_id", .validEvent(omitting: [3])),
            .protobuf("no item_id", .validEvent(omitting: [4])),
            .protobuf("no ts", .validEvent(omitting: [5])),
            .protobuf("only unknown fields", ProtobufWire().int(8, 1).string(9, "x")),
        ])
    func missingField(_ record: RecordCase) {
        expectReason(record, .missingField)
    }

    @Test("missing_field names the first absent field in contract order")
    func missingFieldDetail() {
        var decoder = EventDecoder()
        let cases: [(String, String)] = [
            ("{}", "event_id"),
            (#"{"ts":1,"item_id":"i"}"#, "event_id"),
            (#"{"event_id":"e","ts":1,"item_id":"i","user_id":"u"}"#, "type"),
            (#"{"event_id":"e","type":"like","item_id":"i"}"#, "user_id"),
            (#"{"event_id":"e","type":"like","user_id":"u","dwell_ms":1}"#, "item_id"),
            (#"{"event_id":"e","type":"like","user_id":"u","item_id":"i"}"#, "ts"),
        ]
        for (text, field) in cases {
            let rejection = decoder.decodeEvent(Array(text.utf8)).rejection
            #expect(rejection?.reason == .missingField)
            #expect(rejection?.detail == "\(field) is missing", "\(text)")
        }
        let protobuf = decoder.decodeEvent(ProtobufWire.validEvent(omitting: [3, 5]).bytes, .protobuf).rejection
        #expect(protobuf?.detail == "user_id is missing")
    }

    @Test(
        "unknown_type",
        arguments: [
            RecordCase.json("capitalised", validJSON(replacing: "type", with: #""Click""#)),
            .json("upper case", validJSON(replacing: "type", with: #""EXPOSURE""#)),
            .json("plural", validJSON(replacing: "type", with: #""clicks""#)),
            .json("empty", validJSON(replacing: "type", with: #""""#)),
            .json("trailing space", validJSON(replacing: "type", with: #""like ""#)),
            .json("longer than any type", validJSON(replacing: "type", with: #""exposures-and-more""#)),
            .json("escaped NUL suffix", validJSON(replacing: "type", with: #""share\u0000""#)),
            .json("protobuf enum name", validJSON(replacing: "type", with: #""EVENT_TYPE_UNSPECIFIED""#)),
            .protobuf("type 0", ProtobufWire.validEvent(omitting: [2]).int(2, 0)),
            .protobuf("type 7", ProtobufWire.validEvent(omitting: [2]).int(2, 7)),
            .protobuf("type 1000", ProtobufWire.validEvent(omitting: [2]).int(2, 1000)),
            .protobuf("type -1", ProtobufWire.validEvent(omitting: [2]).int(2, -1)),
            .protobuf("last occurrence 0 wins over a valid one", ProtobufWire.validEvent.int(2, 0)),
        ])
    func unknownType(_ record: RecordCase) {
        expectReason(record, .unknownType)
    }

    @Test(
        "invalid_ts",
        arguments: [
            RecordCase.json("negative", validJSON(replacing: "ts", with: "-1")),
            .json("negative zero", validJSON(replacing: "ts", with: "-0")),
            .json("fraction", validJSON(replacing: "ts", with: "1.5")),
            .json("integral fraction", validJSON(replacing: "ts", with: "1.0")),
            .json("exponent", validJSON(replacing: "ts", with: "1e3")),
            .json("capital exponent", validJSON(replacing: "ts", with: "1E+3")),
            .json("the limit itself", validJSON(replacing: "ts", with: "253402300800000")),
            .json("Int64.max", validJSON(replacing: "ts", with: "9223372036854775807")),
            .json("beyond Int64", validJSON(replacing: "ts", with: "9223372036854775808")),
            .json("beyond UInt64", validJSON(replacing: "ts", with: "99999999999999999999")),
            .json("negative exponent", validJSON(replacing: "ts", with: "-1e3")),
            .protobuf("negative", ProtobufWire.validEvent(omitting: [5]).int(5, -1)),
            .protobuf("Int64.min", ProtobufWire.validEvent(omitting: [5]).int(5, .min)),
            .protobuf("the limit itself", ProtobufWire.validEvent(omitting: [5]).int(5, EventTime.limitMillis)),
            .protobuf("Int64.max", ProtobufWire.validEvent(omitting: [5]).int(5, .max)),
        ])
    func invalidTimestamp(_ record: RecordCase) {
        expectReason(record, .invalidTimestamp)
    }

    @Test(
        "invalid_id",
        arguments: [
            RecordCase.json("empty event_id", validJSON(replacing: "event_id", with: #""""#)),
            .json("empty user_id", validJSON(replacing: "user_id", with: #""""#)),
            .json("empty item_id", validJSON(replacing: "item_id", with: #""""#)),
            .json(
                "129-byte user_id", validJSON(replacing: "user_id", with: "\"\(String(repeating: "u", count: 129))\"")),
            .json(
                "1000-byte item_id", validJSON(replacing: "item_id", with: "\"\(String(repeating: "i", count: 1000))\"")
            ),
            .json(
                "127 ASCII + one 2-byte character",
                validJSON(replacing: "event_id", with: "\"\(String(repeating: "e", count: 127))é\"")),
            .json(
                "65 escaped é are 130 bytes",
                validJSON(replacing: "user_id", with: "\"\(String(repeating: #"\u00e9"#, count: 65))\"")),
            .json(
                "129 escaped newlines",
                validJSON(replacing: "item_id", with: "\"\(String(repeating: #"\n"#, count: 129))\"")),
            .protobuf("empty event_id", ProtobufWire.validEvent(omitting: [1]).string(1, "")),
            .protobuf(
                "129-byte user_id", ProtobufWire.validEvent(omitting: [3]).string(3, String(repeating: "u", count: 129))
            ),
            .protobuf("empty item_id as the last occurrence", ProtobufWire.validEvent.string(4, "")),
        ])
    func invalidID(_ record: RecordCase) {
        expectReason(record, .invalidID)
    }

    @Test("invalid_id detail gives the unescaped length")
    func invalidIDDetail() {
        var decoder = EventDecoder()
        let text = validJSON(replacing: "user_id", with: "\"\(String(repeating: #"\u00e9"#, count: 65))\"")
        #expect(decoder.decodeEvent(Array(text.utf8)).rejection?.detail == "user_id is 130 bytes; the limit is 128")
    }

    @Test(
        "wrong_field_type",
        arguments: [
            RecordCase.json("numeric user_id", validJSON(replacing: "user_id", with: "42")),
            .json("boolean item_id", validJSON(replacing: "item_id", with: "true")),
            .json("object type", validJSON(replacing: "type", with: #"{"name":"click"}"#)),
            .json("array event_id", validJSON(replacing: "event_id", with: #"["e1"]"#)),
            .json("string ts", validJSON(replacing: "ts", with: #""1000""#)),
            .json("null event_id", validJSON(replacing: "event_id", with: "null")),
            .json("null type", validJSON(replacing: "type", with: "null")),
            .json("null user_id", validJSON(replacing: "user_id", with: "null")),
            .json("null ts", validJSON(replacing: "ts", with: "null")),
            .json("string dwell_ms", validJSON(replacing: "dwell_ms", with: #""5""#)),
            .json("boolean dwell_ms", validJSON(replacing: "dwell_ms", with: "false")),
            .json("array context", validJSON(replacing: "context", with: "[1]")),
            .json("string context", validJSON(replacing: "context", with: #""{}""#)),
            .json("numeric context", validJSON(replacing: "context", with: "0")),
            .protobuf("user_id as a varint", ProtobufWire.validEvent(omitting: [3]).int(3, 42)),
            .protobuf("ts as bytes", ProtobufWire.validEvent(omitting: [5]).bytes(5, [1, 2])),
            .protobuf("type as fixed32", ProtobufWire.validEvent(omitting: [2]).tag(2, 5).raw([2, 0, 0, 0])),
            .protobuf("context as a varint", ProtobufWire.validEvent.int(7, 1)),
            .protobuf("dwell_ms as fixed64", ProtobufWire.validEvent.tag(6, 1).raw([5, 0, 0, 0, 0, 0, 0, 0])),
            .protobuf("wrong occurrence before a right one", ProtobufWire.validEvent.int(1, 9).string(1, "e2")),
        ])
    func wrongFieldType(_ record: RecordCase) {
        expectReason(record, .wrongFieldType)
    }

    @Test(
        "invalid_field",
        arguments: [
            RecordCase.json("negative dwell_ms", validJSON(replacing: "dwell_ms", with: "-1")),
            .json("negative zero dwell_ms", validJSON(replacing: "dwell_ms", with: "-0")),
            .json("fractional dwell_ms", validJSON(replacing: "dwell_ms", with: "1.5")),
            .json("exponent dwell_ms", validJSON(replacing: "dwell_ms", with: "2e2")),
            .json("dwell_ms beyond Int64", validJSON(replacing: "dwell_ms", with: "9223372036854775808")),
            .protobuf("negative dwell_ms", ProtobufWire.validEvent.int(6, -5)),
            .protobuf("Int64.min dwell_ms", ProtobufWire.validEvent.int(6, .min)),
        ])
    func invalidField(_ record: RecordCase) {
        expectReason(record, .invalidField)
    }

    @Test(
        "duplicate_field",
        arguments: [
            RecordCase.json("event_id twice", validJSON(with: #""event_id":"e0","#)),
            .json("type twice", validJSON(with: #""type":"like","#)),
            .json("user_id twice", validJSON(with: #""user_id":"u1","#)),
            .json("item_id twice", validJSON(with: #""item_id":"i9","#)),
            .json("ts twice", validJSON(with: #""ts":5,"#)),
            .json("dwell_ms twice", validJSON(with: #""dwell_ms":1,"dwell_ms":2,"#)),
            .json("dwell_ms null then a number", validJSON(with: #""dwell_ms":null,"dwell_ms":2,"#)),
            .json("context twice", validJSON(with: #""context":{},"context":{},"#)),
            .json("ts twice, the second escaped", validJSON(with: #""\u0074s":5,"#)),
            .json(
                "duplicate with a different type",
                validJSON(with: #""ts":5,"#).replacingOccurrences(of: #""ts":1000"#, with: #""ts":"x""#)),
        ])
    func duplicateField(_ record: RecordCase) {
        expectReason(record, .duplicateField)
    }

    @Test(
        "malformed_protobuf",
        arguments: [
            RecordCase.protobuf("truncated varint", ProtobufWire.validEvent.raw([0x30, 0x80])),
            .protobuf("truncated tag", ProtobufWire.validEvent.raw([0x80])),
            .protobuf("length beyond the end", ProtobufWire.validEvent.tag(9, 2).varint(10).raw([1, 2])),
            .protobuf("huge length", ProtobufWire.validEvent.tag(3, 2).varint(UInt64.max)),
            .protobuf(
                "varint of 11 bytes",
                ProtobufWire.validEvent.tag(9, 0).raw([UInt8](repeating: 0x80, count: 10) + [0x01])),
            .protobuf("field number 0", ProtobufWire.validEvent.raw([0x00, 0x01])),
            .protobuf("field number 0 with wire type 2", ProtobufWire().raw([0x02, 0x00]).string(1, "e1")),
            .protobuf("start group", ProtobufWire.validEvent.tag(9, 3).tag(9, 4)),
            .protobuf("end group", ProtobufWire.validEvent.tag(9, 4)),
            .protobuf("known field as a group", ProtobufWire.validEvent.tag(1, 3).tag(1, 4)),
            .protobuf("wire type 6", ProtobufWire.validEvent.tag(9, 6)),
            .protobuf("wire type 7", ProtobufWire.validEvent.tag(9, 7).raw([0])),
            .protobuf("tag over 32 bits", ProtobufWire.validEvent.varint(UInt64(1) << 35)),
            .protobuf(
                "tag longer than 5 bytes", ProtobufWire.validEvent.raw([0x88, 0x80, 0x80, 0x80, 0x80, 0x00, 0x01])),
            .protobuf("truncated fixed64", ProtobufWire.validEvent.tag(9, 1).raw([1, 2, 3])),
            .protobuf("truncated fixed32", ProtobufWire.validEvent.tag(9, 5).raw([1])),
            .protobuf("a JSON record sent as protobuf", ProtobufWire().raw(Array(validJSON().utf8))),
            .protobuf("structure error after a field problem", ProtobufWire().bytes(3, [0xFF]).raw([0x80])),
        ])
    func malformedProtobuf(_ record: RecordCase) {
        expectReason(record, .malformedProtobuf)
    }

    @Test(
        "unsupported_content_type: content types recstream does not read have no PayloadFormat",
        arguments: ["text/plain", "application/xml", "application/avro", "application/x-protobuf2", "json", "*/*"])
    func unsupportedContentType(_ contentType: String) {
        #expect(PayloadFormat(contentType: contentType) == nil)
        #expect(RejectReason.unsupportedContentType.rawValue == "unsupported_content_type")
    }

    @Test(
        "content types recstream reads",
        arguments: [
            ("application/json", PayloadFormat.json), ("", .json), ("Application/JSON; charset=utf-8", .json),
            ("application/x-protobuf", .protobuf), (" application/protobuf ", .protobuf),
            ("application/vnd.google.protobuf;proto=recstream.v1.Event", .protobuf),
        ])
    func supportedContentTypes(_ contentType: String, _ format: PayloadFormat) {
        #expect(PayloadFormat(contentType: contentType) == format)
    }

    @Test(
        "when several rules break, the documented precedence picks the reason",
        arguments: [
            (
                RecordCase.json("invalid UTF-8 after a syntax error", bytes: cat(Array(#"{"a":}"#.utf8), [0xFF])),
                RejectReason.invalidUTF8
            ),
            (.json("syntax error after invalid fields", #"{"user_id":5,"type":"bad","ts":-1,"#), .malformedJSON),
            (.json("unknown type before an invalid ts", #"{"type":"bad","ts":-1}"#), .unknownType),
            (.json("invalid ts before an unknown type", #"{"ts":-1,"type":"bad"}"#), .invalidTimestamp),
            (.json("wrong type before a duplicate", #"{"user_id":5,"user_id":"u"}"#), .wrongFieldType),
            (.json("duplicate before an invalid id", #"{"ts":1,"ts":2,"item_id":""}"#), .duplicateField),
            (.json("field problem before missing fields", #"{"user_id":""}"#), .invalidID),
            (.json("invalid dwell before missing fields", #"{"dwell_ms":-1}"#), .invalidField),
            (
                .protobuf("structure error after invalid UTF-8", ProtobufWire().bytes(3, [0xFF]).raw([0x80])),
                .malformedProtobuf
            ),
            (
                .protobuf("invalid UTF-8 after a wrong wire type", ProtobufWire.validEvent.int(1, 5).bytes(3, [0xFF])),
                .invalidUTF8
            ),
            (
                .protobuf("wrong wire type before value problems", ProtobufWire.validEvent.int(5, -1).int(3, 5)),
                .wrongFieldType
            ),
            (.protobuf("event_id checked before ts", ProtobufWire.validEvent.int(5, -1).string(1, "")), .invalidID),
            (.protobuf("type checked before user_id", ProtobufWire.validEvent.string(3, "").int(2, 0)), .unknownType),
            (.protobuf("ts checked before dwell_ms", ProtobufWire.validEvent.int(6, -1).int(5, -1)), .invalidTimestamp),
            (.protobuf("value problems before missing fields", ProtobufWire().int(6, -1)), .invalidField),
        ])
    func precedence(_ record: RecordCase, _ expected: RejectReason) {
        expectReason(record, expected)
    }
}

/// Concatenates byte arrays (one call type-checks fast where a chain of `+` does not).
func cat(_ parts: [UInt8]...) -> [UInt8] { parts.flatMap { $0 } }
