import RecstreamCore
import Testing

@Suite("Event decoder accepts valid events")
struct EventDecoderAcceptanceTests {
    private func accept(_ text: String, _ format: PayloadFormat = .json) -> Event? {
        var decoder = EventDecoder()
        let result = decoder.decodeEvent(Array(text.utf8), format)
        #expect(result.event != nil, "\(text): \(result)")
        return result.event
    }

    @Test("the minimal event of the wire contract")
    func minimal() throws {
        let event = try #require(
            accept(
                #"{"event_id": "e-000123", "type": "click", "user_id": "u42", "item_id": "i977", "ts": 1732460000123}"#)
        )
        #expect(
            event
                == Event(
                    eventID: "e-000123", type: .click, userID: "u42", itemID: "i977",
                    time: EventTime(millis: 1_732_460_000_123)))
    }

    @Test("every event type name", arguments: EventType.allCases)
    func everyType(_ type: EventType) throws {
        let event = try #require(accept(validJSON(replacing: "type", with: "\"\(type.name)\"")))
        #expect(event.type == type)
    }

    @Test("dwell_ms present, zero, Int64.max, and null")
    func dwell() throws {
        #expect(try #require(accept(validJSON(replacing: "dwell_ms", with: "2500"))).dwellMillis == 2500)
        #expect(try #require(accept(validJSON(replacing: "dwell_ms", with: "0"))).dwellMillis == 0)
        #expect(
            try #require(accept(validJSON(replacing: "dwell_ms", with: "9223372036854775807"))).dwellMillis == .max)
        #expect(try #require(accept(validJSON(replacing: "dwell_ms", with: "null"))).dwellMillis == nil)
    }

    @Test("context is skipped whatever it holds")
    func context() throws {
        let contexts = [
            "{}", "null",
            #"{"page":"home","pos":[1,2,{"x":[[],{}]}],"q":"a \"quoted\" \\ \/ \u00e9 \ud83d\ude00","n":-1.5e-3,"#
                + #""b":[true,false,null],"deep":{"a":{"b":{"c":{"d":[0]}}}}}"#,
            #"{"ts":-1,"type":"bogus","user_id":5,"event_id":null}"#,
        ]
        for context in contexts {
            let event = try #require(accept(validJSON(replacing: "context", with: context)))
            #expect(event.userID == "u1" && event.time.millis == 1000)
        }
    }

    @Test("unknown fields of every JSON type are ignored")
    func unknownFields() throws {
        let members =
            #""s":"text","e":"","esc":"\"\\\/\b\f\n\r\t\u0000\uFFFF","n":0,"neg":-12,"f":3.25,"exp":6.02e23,"#
            + #""negexp":1E-7,"big":123456789012345678901234567890,"max":1.7976931348623157e308,"tiny":1e-400,"#
            + #""t":true,"f2":false,"z":null,"a":[],"a2":[1,"two",[3],{"four":4}],"o":{},"o2":{"k":{"k":["v"]}},"#
            + #""ts_":1,"TS":"x","user_id ":5,"type\u0000":0,"é":"ü","\ud83d\ude00":1,"#
        let event = try #require(accept(validJSON(with: members)))
        #expect(event.itemID == "i1")
    }

    @Test("whitespace of all four kinds around every token")
    func whitespace() throws {
        let ws = " \t\n\r "
        let text =
            "\(ws){\(ws)\"event_id\"\(ws):\(ws)\"e1\"\(ws),\(ws)\"type\"\(ws):\(ws)\"like\"\(ws),"
            + "\(ws)\"user_id\"\(ws):\(ws)\"u1\"\(ws),\(ws)\"item_id\"\(ws):\(ws)\"i1\"\(ws),\(ws)\"ts\"\(ws):\(ws)7"
            + "\(ws),\(ws)\"x\"\(ws):\(ws)[\(ws)1\(ws),\(ws){\(ws)}\(ws)]\(ws)}\(ws)"
        let event = try #require(accept(text))
        #expect(event.type == .like && event.time.millis == 7)
    }

    @Test("members in any order")
    func anyOrder() throws {
        let event = try #require(
            accept(#"{"ts":5,"item_id":"i","dwell_ms":3,"user_id":"u","context":{},"type":"share","event_id":"e"}"#))
        #expect(
            event
                == Event(
                    eventID: "e", type: .share, userID: "u", itemID: "i", time: EventTime(millis: 5), dwellMillis: 3))
    }

    @Test("escaped ids are unescaped into idBytes")
    func escapedIDs() throws {
        var decoder = EventDecoder()
        let text =
            #"{"event_id":"a\"b\\c\/d","type":"click","user_id":"\n\t\r\b\f\u0000","#
            + #""item_id":"\u00e9\u20AC\ud83d\ude00x","ts":1}"#
        let decoded = try #require(try? decoder.decode(Array(text.utf8).span, format: .json).get())
        #expect(Array(decoder.idBytes[decoded.eventID]) == Array(#"a"b\c/d"#.utf8))
        #expect(Array(decoder.idBytes[decoded.userID]) == [0x0A, 0x09, 0x0D, 0x08, 0x0C, 0x00])
        #expect(Array(decoder.idBytes[decoded.itemID]) == [0xC3, 0xA9, 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 0x78])
        #expect(decoder.string(decoded.itemID) == "é€😀x")
        #expect(decoder.idBytes.count == decoded.itemID.upperBound)
    }

    @Test("escaped keys name the known fields")
    func escapedKeys() throws {
        let text = #"{"\u0065vent_id":"e","t\u0079pe":"c\u006cick","user\u005fid":"u","item_id":"i","\u0074\u0073":9}"#
        let event = try #require(accept(text))
        #expect(event == Event(eventID: "e", type: .click, userID: "u", itemID: "i", time: EventTime(millis: 9)))
    }

    @Test("ids of exactly 1 and 128 bytes, however they are written")
    func idLimits() throws {
        let ascii128 = String(repeating: "u", count: 128)
        #expect(try #require(accept(validJSON(replacing: "user_id", with: "\"\(ascii128)\""))).userID == ascii128)
        let escaped128 = String(repeating: #"\u00e9"#, count: 64)
        #expect(
            try #require(accept(validJSON(replacing: "item_id", with: "\"\(escaped128)\""))).itemID
                == String(repeating: "é", count: 64))
        let mixed = String(repeating: "e", count: 124) + "😀"
        #expect(try #require(accept(validJSON(replacing: "event_id", with: "\"\(mixed)\""))).eventID == mixed)
        #expect(try #require(accept(validJSON(replacing: "event_id", with: #""x""#))).eventID == "x")
    }

    @Test("ts at both ends of its range")
    func tsLimits() throws {
        #expect(try #require(accept(validJSON(replacing: "ts", with: "0"))).time.millis == 0)
        #expect(
            try #require(accept(validJSON(replacing: "ts", with: "253402300799999"))).time.millis
                == EventTime.limitMillis - 1)
    }

    @Test("nesting of exactly 64 levels")
    func nestingLimit() {
        let nested = String(repeating: "[", count: 63) + String(repeating: "]", count: 63)
        #expect(accept(validJSON(with: #""x":\#(nested),"#)) != nil)
    }

    @Test("numbers up to the largest double are in range")
    func doubleRange() {
        // 2^1024 - 2^970, the first value that rounds to infinity, and one just below it.
        let threshold =
            "17976931348623158079372897140530341507993413271003782693617377898044496829276475094664901797758720709"
            + "63302864166928879109465555478519404026306574886715058206819089020007083836762738548458177115317644757"
            + "30270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174"
            + "497792"
        let below = String(threshold.dropLast()) + "1"
        var decoder = EventDecoder()
        #expect(decoder.reason(Array(validJSON(with: #""x":\#(below),"#).utf8)) == nil)
        #expect(decoder.reason(Array(validJSON(with: #""x":\#(threshold),"#).utf8)) == .malformedJSON)
        #expect(decoder.reason(Array(validJSON(with: #""x":-\#(threshold).0e0,"#).utf8)) == .malformedJSON)
        #expect(decoder.reason(Array(validJSON(with: #""x":0.\#(below)e309,"#).utf8)) == nil)
        #expect(decoder.reason(Array(validJSON(with: #""x":0.\#(threshold)e309,"#).utf8)) == .malformedJSON)
        #expect(decoder.reason(Array(validJSON(with: #""x":0.000e99999999999,"#).utf8)) == nil)
        #expect(decoder.reason(Array(validJSON(with: #""x":1e-99999999999,"#).utf8)) == nil)
        #expect(decoder.reason(Array(validJSON(with: #""x":1.7976931348623158e308,"#).utf8)) == nil)
        #expect(decoder.reason(Array(validJSON(with: #""x":1.7976931348623159e308,"#).utf8)) == .malformedJSON)
    }

    @Test("a record of exactly the size limit")
    func sizeLimit() {
        let text = validJSON()
        let bytes = Array(text.utf8) + [UInt8](repeating: 0x20, count: 64 * 1024 - text.utf8.count)
        var decoder = EventDecoder()
        #expect(decoder.reason(bytes) == nil)
    }

    @Test("one decoder reuses its id buffer across records")
    func reuse() throws {
        var decoder = EventDecoder()
        let first = try #require(
            decoder.decodeEvent(Array(validJSON(replacing: "user_id", with: #""first""#).utf8)).event)
        #expect(first.userID == "first")
        #expect(decoder.reason(Array("{".utf8)) == .malformedJSON)
        let second = try #require(decoder.decodeEvent(ProtobufWire.validEvent.bytes, .protobuf).event)
        #expect(second.userID == "u1")
        #expect(decoder.idBytes == Array("e1u1i1".utf8))
    }

    // MARK: - Protobuf

    @Test("a protobuf event with every field")
    func protobufFull() throws {
        var decoder = EventDecoder()
        let wire = ProtobufWire().string(1, "e-1").int(2, 6).string(3, "ü").string(4, "i").int(5, 0).int(6, 77)
            .bytes(7, [0x0A, 0x00])
        let event = try #require(decoder.decodeEvent(wire.bytes, .protobuf).event)
        #expect(
            event
                == Event(
                    eventID: "e-1", type: .comment, userID: "ü", itemID: "i", time: EventTime(millis: 0),
                    dwellMillis: 77))
    }

    @Test("protobuf enum values map to the event types", arguments: EventType.allCases)
    func protobufTypes(_ type: EventType) throws {
        var decoder = EventDecoder()
        let wire = ProtobufWire.validEvent(omitting: [2]).int(2, Int64(type.rawValue) + 1)
        #expect(try #require(decoder.decodeEvent(wire.bytes, .protobuf).event).type == type)
    }

    @Test("protobuf: unknown fields of every wire type are skipped, context is not parsed")
    func protobufUnknownFields() throws {
        var decoder = EventDecoder()
        let wire = ProtobufWire.validEvent
            .int(8, -1)
            .tag(9, 1).raw([1, 2, 3, 4, 5, 6, 7, 8])
            .bytes(10, [0xFF, 0xFE])
            .tag(11, 5).raw([1, 2, 3, 4])
            .tag(536_870_911, 0).varint(1)
            .bytes(7, [0xFF, 0xFF, 0xFF])
        let event = try #require(decoder.decodeEvent(wire.bytes, .protobuf).event)
        #expect(event.itemID == "i1" && event.time.millis == 1000)
    }

    @Test("protobuf: the last occurrence of a repeated field wins")
    func protobufLastWins() throws {
        var decoder = EventDecoder()
        let wire = ProtobufWire.validEvent.string(3, "u2").int(5, 5).int(2, 3).string(1, "").string(1, "e9")
            .int(6, -1).int(6, 4)
        let event = try #require(decoder.decodeEvent(wire.bytes, .protobuf).event)
        #expect(
            event
                == Event(
                    eventID: "e9", type: .like, userID: "u2", itemID: "i1", time: EventTime(millis: 5), dwellMillis: 4))
    }

    @Test("protobuf: an enum varint is truncated to 32 bits, as protobuf parsers do")
    func protobufEnumTruncation() throws {
        var decoder = EventDecoder()
        let wire = ProtobufWire.validEvent(omitting: [2]).tag(2, 0).varint(UInt64(1) << 32 | 2)
        #expect(try #require(decoder.decodeEvent(wire.bytes, .protobuf).event).type == .click)
    }

    @Test("protobuf: ids of 128 bytes, ts limits, 10-byte varints")
    func protobufLimits() throws {
        var decoder = EventDecoder()
        let id = String(repeating: "€", count: 42) + "ab"
        let wire = ProtobufWire.validEvent(omitting: [1, 5]).string(1, id).int(5, EventTime.limitMillis - 1)
            .tag(6, 0).raw([0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])
        let event = try #require(decoder.decodeEvent(wire.bytes, .protobuf).event)
        #expect(event.eventID == id && event.time.millis == EventTime.limitMillis - 1 && event.dwellMillis == 0)
    }
}
