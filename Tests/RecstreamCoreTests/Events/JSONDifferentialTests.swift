import Foundation
import RecstreamCore
import Testing

/// Writes valid JSON events in many spellings: any member order, random whitespace, escapes where
/// plain characters would do, unknown members of every type, context objects.
struct JSONEventWriter<R: RandomNumberGenerator> {
    var rng: R

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &rng) < percent }

    mutating func whitespace() -> String {
        guard chance(30) else { return "" }
        return String(
            (0..<Int.random(in: 1...3, using: &rng)).map { _ in [" ", "\t", "\n", "\r"].randomElement(using: &rng)! })
    }

    /// A JSON string literal for `value`, escaping randomly beyond what is required.
    mutating func string(_ value: String) -> String {
        var out = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += chance(80) ? "\\\"" : "\\u0022"
            case "\\": out += chance(80) ? "\\\\" : "\\u005C"
            case "\n": out += chance(50) ? "\\n" : "\\u000a"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            case "/": out += chance(50) ? "\\/" : "/"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            case _ where chance(15):
                if scalar.value > 0xFFFF {
                    let v = scalar.value - 0x10000
                    out += String(format: "\\u%04X\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                } else {
                    out += String(format: chance(50) ? "\\u%04x" : "\\u%04X", scalar.value)
                }
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    mutating func number() -> String {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return "0"
        case 1: return String(Int64.random(in: .min ... .max, using: &rng))
        case 2: return "-1.5e-7"
        case 3: return "3.25"
        case 4: return "1E+300"
        default: return "12345678901234567890123"
        }
    }

    mutating func value(depth: Int) -> String {
        let ws = whitespace()
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
        case 0: return ws + string(RandomEvents.id(using: &rng))
        case 1: return ws + number()
        case 2: return ws + "true"
        case 3: return ws + "false"
        case 4: return ws + "null"
        case 5:
            let items = (0..<Int.random(in: 0...3, using: &rng)).map { _ in value(depth: depth + 1) }
            return ws + "[" + items.joined(separator: ",") + whitespace() + "]"
        default:
            return ws + object(depth: depth + 1)
        }
    }

    mutating func object(depth: Int) -> String {
        let members = (0..<Int.random(in: 0...3, using: &rng)).map { _ in
            whitespace() + string(["k", "ts", "type", "n\u{e9}", "a b"].randomElement(using: &rng)!) + whitespace()
                + ":"
                + value(depth: depth)
        }
        return "{" + members.joined(separator: ",") + whitespace() + "}"
    }

    mutating func event(_ event: Event) -> [UInt8] {
        var members: [(key: String, value: String)] = [
            ("\"event_id\"", string(event.eventID)),
            ("\"type\"", string(event.type.name)),
            ("\"user_id\"", string(event.userID)),
            ("\"item_id\"", string(event.itemID)),
            ("\"ts\"", String(event.time.millis)),
        ]
        if let dwell = event.dwellMillis {
            members.append(("\"dwell_ms\"", String(dwell)))
        } else if chance(20) {
            members.append(("\"dwell_ms\"", "null"))
        }
        if chance(40) { members.append(("\"context\"", chance(10) ? "null" : object(depth: 1))) }
        for _ in 0..<Int.random(in: 0...3, using: &rng) {
            members.append(
                (string(["extra", "ts2", "Type", "user", "\u{1F600}"].randomElement(using: &rng)!), value(depth: 1)))
        }
        members.shuffle(using: &rng)
        var body: [String] = []
        for member in members {
            body.append(whitespace() + member.key + whitespace() + ":" + whitespace() + member.value + whitespace())
        }
        return Array((whitespace() + "{" + body.joined(separator: ",") + "}" + whitespace()).utf8)
    }
}

/// Byte-level damage for fuzzing: flips, replacements, deletions, truncations and insertions of
/// bytes and snippets chosen to hit the decoder's corners.
enum JSONMutator {
    static let snippets: [[UInt8]] =
        [
            "\\u00e9", "\\ud83d\\ude00", "\\ud800", "\\udc00", "\\u", "\\x", "\\", "\"", ",\"x\":1", ",\"ts\":5",
            ",\"user_id\":\"dup\"", ",\"dwell_ms\":-1", ",\"context\":[]", "null", "1e400", "-0", "1.5", "01", "[", "]",
            "{", "}",
            ",", ":", " ", "\t", "\u{FEFF}", "\u{7F}", "é", "true", "\"click\"", "\"ts\"", "1e3", "253402300800000",
            "9223372036854775808",
        ].map { Array($0.utf8) } + [
            [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFF], [0x00], [0x1F],
        ]

    static let interestingBytes: [UInt8] =
        Array("\"\\{}[],:-+.0123456789eEtfnul \t\n".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]

    static func mutate<R: RandomNumberGenerator>(_ input: [UInt8], using rng: inout R) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...3, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:
                bytes[position] = interestingBytes.randomElement(using: &rng)!
            case 2 where !bytes.isEmpty:
                bytes.removeSubrange(position..<min(bytes.count, position + Int.random(in: 1...4, using: &rng)))
            case 3:
                bytes = Array(bytes.prefix(position))
            case 4:
                bytes.insert(contentsOf: snippets.randomElement(using: &rng)!, at: position)
            case 5:
                bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
            default:
                bytes.insert(interestingBytes.randomElement(using: &rng)!, at: position)
            }
        }
        return bytes
    }
}

@Suite("JSON decoder against Foundation's JSONSerialization and the field rules")
struct JSONDifferentialTests {
    @Test("every valid spelling of a random event decodes to that event")
    func validSpellings() {
        let seed = testSeed("validSpellings")
        var rng = SplitMix64(seed: seed)
        var writer = JSONEventWriter(rng: SplitMix64(seed: seed ^ 0x5EED))
        var decoder = EventDecoder()
        for iteration in 0..<2_000 {
            let event = RandomEvents.event(using: &rng)
            let bytes = writer.event(event)
            let decoded = decoder.decodeEvent(bytes)
            #expect(
                decoded.event.map(EventBytes.init) == EventBytes(event),
                "seed \(seed), iteration \(iteration): \(String(decoding: bytes, as: UTF8.self)) -> \(decoded)")
            #expect(
                JSONReference.event(bytes).map(EventBytes.init) == EventBytes(event),
                "reference disagrees with the writer: seed \(seed), iteration \(iteration)")
        }
    }

    @Test("random damage: accepted exactly when the reference accepts, with the same values")
    func mutations() {
        let seed = testSeed("mutations")
        var rng = SplitMix64(seed: seed)
        var writer = JSONEventWriter(rng: SplitMix64(seed: seed ^ 0x5EED))
        var decoder = EventDecoder()
        var accepted = 0
        var failures = 0
        for iteration in 0..<30_000 where failures < 10 {
            let original = writer.event(RandomEvents.event(using: &rng))
            let bytes = JSONMutator.mutate(original, using: &rng)
            let expected = JSONReference.event(bytes).map(EventBytes.init)
            let result = decoder.decodeEvent(bytes)
            let actual = result.event.map(EventBytes.init)
            if actual != expected { failures += 1 }
            #expect(
                actual == expected,
                """
                seed \(seed), iteration \(iteration): decoder \(String(describing: actual)) \(result), \
                reference \(String(describing: expected)), bytes \(bytes)
                """)
            if actual != nil { accepted += 1 }
        }
        print("JSON mutations: \(accepted) of 30000 accepted")
        // The damage must leave a fair share valid, or the test would only exercise rejections.
        #expect(accepted > 1_000, "only \(accepted) accepted; seed \(seed)")
    }
}
