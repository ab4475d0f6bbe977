import Foundation
import RecstreamCore
import SwiftProtobuf
import Testing

@Suite("Event encoders")
struct EventEncodingTests {
    @Test("jsonBytes writes compact JSON with keys in contract order")
    func jsonLayout() {
        let event = Event(
            eventID: "e-1", type: .collect, userID: "u\"\\\n\u{1}é😀", itemID: "i/", time: EventTime(millis: 0),
            dwellMillis: 42)
        let expected =
            #"{"event_id":"e-1","type":"collect","user_id":"u\"\\\n\u0001é😀","#
            + #""item_id":"i/","ts":0,"dwell_ms":42}"#
        #expect(String(decoding: event.jsonBytes(), as: UTF8.self) == expected)
        let noDwell = Event(eventID: "e", type: .click, userID: "u", itemID: "i", time: EventTime(millis: -5))
        #expect(
            String(decoding: noDwell.jsonBytes(), as: UTF8.self)
                == #"{"event_id":"e","type":"click","user_id":"u","item_id":"i","ts":-5}"#)
    }

    @Test("every control character is escaped, and Foundation reads the escapes back")
    func controlCharacters() throws {
        let all = String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) }))
        let event = Event(eventID: all, type: .like, userID: "u", itemID: "i", time: EventTime(millis: .max))
        let bytes = event.jsonBytes()
        #expect(bytes.allSatisfy { $0 >= 0x20 })
        let object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        #expect(object["event_id"] as? String == all)
        #expect((object["ts"] as? NSNumber)?.int64Value == .max)
    }

    @Test("appendJSON appends to what the buffer holds")
    func appendJSON() {
        let event = Event(eventID: "e", type: .share, userID: "u", itemID: "i", time: EventTime(millis: 1))
        var buffer = Array("[".utf8)
        event.appendJSON(to: &buffer)
        buffer.append(UInt8(ascii: ","))
        event.appendJSON(to: &buffer)
        #expect(buffer == Array("[".utf8) + event.jsonBytes() + Array(",".utf8) + event.jsonBytes())
    }

    @Test("protobufBytes is what the generated code writes")
    func protobufLayout() throws {
        let event = Event(eventID: "e", type: .exposure, userID: "u", itemID: "i", time: EventTime(millis: 0))
        let message = try Recstream_V1_Event(serializedBytes: event.protobufBytes())
        #expect(message.eventID == "e" && message.type == .exposure && message.userID == "u" && message.itemID == "i")
        #expect(message.hasTs && message.ts == 0 && !message.hasDwellMs && !message.hasContext)
    }

    @Test("round trip: random events through jsonBytes and protobufBytes decode to themselves")
    func roundTrip() {
        let seed = testSeed("roundTrip")
        var rng = SplitMix64(seed: seed)
        var decoder = EventDecoder()
        for iteration in 0..<5_000 {
            let event = RandomEvents.event(using: &rng)
            let json = decoder.decodeEvent(event.jsonBytes(), .json)
            #expect(
                json.event.map(EventBytes.init) == EventBytes(event), "seed \(seed), iteration \(iteration): \(json)")
            let protobuf = decoder.decodeEvent(event.protobufBytes(), .protobuf)
            #expect(
                protobuf.event.map(EventBytes.init) == EventBytes(event),
                "seed \(seed), iteration \(iteration): \(protobuf)")
        }
    }

    @Test("jsonBytes agrees with the Codable form of Event")
    func codable() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<200 {
            let event = RandomEvents.event(using: &rng)
            let decoded = try JSONDecoder().decode(Event.self, from: Data(event.jsonBytes()))
            #expect(EventBytes(decoded) == EventBytes(event))
        }
    }
}
