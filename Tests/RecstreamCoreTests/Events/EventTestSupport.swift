import Foundation
import RecstreamCore

/// The seed of a randomised test: `RECSTREAM_TEST_SEED` when set (to replay a failure), otherwise
/// a fresh random one. Printed either way.
func testSeed(_ testName: String) -> UInt64 {
    let seed =
        ProcessInfo.processInfo.environment["RECSTREAM_TEST_SEED"].flatMap { UInt64($0) }
        ?? UInt64.random(in: 0...UInt64.max)
    print("\(testName): seed \(seed) (replay with RECSTREAM_TEST_SEED=\(seed))")
    return seed
}

/// An event's content compared byte for byte (`String ==` would treat canonically equivalent
/// Unicode as equal, and the decoder promises the exact bytes).
struct EventBytes: Equatable, CustomStringConvertible {
    var eventID: [UInt8]
    var type: EventType
    var userID: [UInt8]
    var itemID: [UInt8]
    var millis: Int64
    var dwellMillis: Int64?

    init(_ event: Event) {
        eventID = Array(event.eventID.utf8)
        type = event.type
        userID = Array(event.userID.utf8)
        itemID = Array(event.itemID.utf8)
        millis = event.time.millis
        dwellMillis = event.dwellMillis
    }

    var description: String {
        "EventBytes(eventID: \(eventID), type: \(type), userID: \(userID), itemID: \(itemID), ts: \(millis), "
            + "dwell: \(String(describing: dwellMillis)))"
    }
}

extension EventDecoder {
    /// Decodes and materializes, for tests.
    mutating func decodeEvent(_ bytes: [UInt8], _ format: PayloadFormat = .json) -> Result<Event, Rejection> {
        switch decode(bytes.span, format: format) {
        case .success(let event): .success(materialize(event))
        case .failure(let rejection): .failure(rejection)
        }
    }

    /// The rejection reason, or nil when the record is accepted.
    mutating func reason(_ bytes: [UInt8], _ format: PayloadFormat = .json) -> RejectReason? {
        switch decode(bytes.span, format: format) {
        case .success: nil
        case .failure(let rejection): rejection.reason
        }
    }
}

extension Result where Success == Event, Failure == Rejection {
    var event: Event? {
        if case .success(let event) = self { return event }
        return nil
    }

    var rejection: Rejection? {
        if case .failure(let rejection) = self { return rejection }
        return nil
    }
}

/// Hand-built protobuf wire bytes, for inputs the generated encoder cannot produce.
struct ProtobufWire {
    var bytes: [UInt8] = []

    static func varintBytes(_ value: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
        return out
    }

    func varint(_ value: UInt64) -> ProtobufWire {
        var copy = self
        copy.bytes += Self.varintBytes(value)
        return copy
    }

    func tag(_ field: UInt64, _ wireType: UInt64) -> ProtobufWire { varint(field << 3 | wireType) }

    func raw(_ more: [UInt8]) -> ProtobufWire {
        var copy = self
        copy.bytes += more
        return copy
    }

    func string(_ field: UInt64, _ value: String) -> ProtobufWire { bytes(field, Array(value.utf8)) }

    func bytes(_ field: UInt64, _ value: [UInt8]) -> ProtobufWire {
        tag(field, 2).varint(UInt64(value.count)).raw(value)
    }

    func int(_ field: UInt64, _ value: Int64) -> ProtobufWire {
        tag(field, 0).varint(UInt64(bitPattern: value))
    }

    /// A valid event: event_id "e1", type click, user_id "u1", item_id "i1", ts 1000.
    static var validEvent: ProtobufWire {
        ProtobufWire().string(1, "e1").int(2, 2).string(3, "u1").string(4, "i1").int(5, 1000)
    }

    /// A valid event without the listed fields.
    static func validEvent(omitting omitted: Set<UInt64>) -> ProtobufWire {
        var wire = ProtobufWire()
        if !omitted.contains(1) { wire = wire.string(1, "e1") }
        if !omitted.contains(2) { wire = wire.int(2, 2) }
        if !omitted.contains(3) { wire = wire.string(3, "u1") }
        if !omitted.contains(4) { wire = wire.string(4, "i1") }
        if !omitted.contains(5) { wire = wire.int(5, 1000) }
        return wire
    }
}

/// Random valid events whose ids exercise escaping: quotes, backslashes, control characters,
/// non-ASCII of every UTF-8 length, and the 1- and 128-byte limits.
enum RandomEvents {
    static let idScalars: [Unicode.Scalar] = [
        "a", "b", "z", "A", "Z", "0", "9", "-", "_", ".", ":", "/", " ", "\"", "\\", "\n", "\t", "\r", "\u{0}",
        "\u{1}", "\u{1F}", "\u{7F}", "é", "ß", "€", "中", "\u{2028}", "\u{FFFF}", "😀", "\u{10FFFF}", "\u{E9}",
    ]

    static func id<R: RandomNumberGenerator>(using rng: inout R) -> String {
        let target: Int
        switch Int.random(in: 0..<10, using: &rng) {
        case 0: target = 1
        case 1: target = EventDecoder.maxIDBytes
        case 2: target = Int.random(in: 100...EventDecoder.maxIDBytes, using: &rng)
        default: target = Int.random(in: 1...12, using: &rng)
        }
        var scalars = String.UnicodeScalarView()
        var length = 0
        while length < target {
            var scalar = idScalars.randomElement(using: &rng)!
            if length + scalar.utf8.count > target { scalar = "x" }
            scalars.append(scalar)
            length += scalar.utf8.count
        }
        return String(scalars)
    }

    static func event<R: RandomNumberGenerator>(using rng: inout R) -> Event {
        let millis: Int64
        switch Int.random(in: 0..<8, using: &rng) {
        case 0: millis = 0
        case 1: millis = EventTime.limitMillis - 1
        case 2: millis = Int64.random(in: 0..<EventTime.limitMillis, using: &rng)
        default: millis = 1_732_460_000_000 + Int64.random(in: 0..<10_000_000, using: &rng)
        }
        let dwell: Int64?
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: dwell = 0
        case 1: dwell = Int64.max
        case 2: dwell = Int64.random(in: 0...Int64.max, using: &rng)
        case 3: dwell = Int64.random(in: 0..<100_000, using: &rng)
        default: dwell = nil
        }
        return Event(
            eventID: id(using: &rng), type: EventType.allCases.randomElement(using: &rng)!, userID: id(using: &rng),
            itemID: id(using: &rng), time: EventTime(millis: millis), dwellMillis: dwell)
    }
}

extension Array where Element == UInt8 {
    /// The bytes of a string literal, for readable test tables.
    init(json text: String) { self = Array(text.utf8) }
}
