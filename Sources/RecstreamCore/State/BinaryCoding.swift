/// Appends the compact binary forms every persisted record uses: little-endian fixed-width
/// integers, LEB128 varints, and length-prefixed byte strings. Keys use ``appendBigEndian(_:)``
/// so that numeric order equals byte order.
public struct BinaryWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func append(_ byte: UInt8) { bytes.append(byte) }

    public mutating func append(contentsOf other: some Sequence<UInt8>) { bytes.append(contentsOf: other) }

    public mutating func append(span: Span<UInt8>) {
        for i in span.indices { bytes.append(span[i]) }
    }

    public mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Zig-zag encoded signed varint.
    public mutating func appendSignedVarint(_ value: Int64) {
        appendVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func appendLittleEndian(_ value: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    public mutating func appendLittleEndian(_ value: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    public mutating func appendBigEndian(_ value: UInt32) {
        for i in (0..<4).reversed() { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt32(i)))) }
    }

    public mutating func appendBigEndian(_ value: UInt64) {
        for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i)))) }
    }

    /// Signed values are offset by 2^31 so that byte order equals numeric order.
    public mutating func appendBigEndian(_ value: Int32) {
        appendBigEndian(UInt32(bitPattern: value) ^ 0x8000_0000)
    }

    public mutating func appendLengthPrefixed(_ data: some Collection<UInt8>) {
        appendVarint(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    public mutating func appendDouble(_ value: Double) { appendLittleEndian(value.bitPattern) }
}

/// The error every persisted-record decoder throws: the record is truncated or malformed.
/// Seeing it on restore means the stored state is not what this version wrote.
public struct StateDecodingError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "state record is malformed: \(message)" }
}

/// Reads what ``BinaryWriter`` wrote; every read checks bounds and throws
/// ``StateDecodingError`` instead of trapping.
public struct BinaryReader: Sendable {
    public let span: [UInt8]
    public private(set) var position: Int = 0

    public init(_ bytes: [UInt8]) { self.span = bytes }

    public var isAtEnd: Bool { position >= span.count }
    public var remaining: Int { span.count - position }

    public mutating func readByte() throws(StateDecodingError) -> UInt8 {
        guard position < span.count else { throw StateDecodingError("truncated at byte \(position)") }
        defer { position += 1 }
        return span[position]
    }

    public mutating func readVarint() throws(StateDecodingError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try readByte()
            if shift == 63 && b > 1 { throw StateDecodingError("varint overflows 64 bits") }
            result |= UInt64(b & 0x7f) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw StateDecodingError("varint longer than 10 bytes") }
        }
    }

    public mutating func readSignedVarint() throws(StateDecodingError) -> Int64 {
        let v = try readVarint()
        return Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    public mutating func readLittleEndianUInt64() throws(StateDecodingError) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(try readByte()) << (8 * UInt64(i)) }
        return v
    }

    public mutating func readLittleEndianUInt32() throws(StateDecodingError) -> UInt32 {
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(try readByte()) << (8 * UInt32(i)) }
        return v
    }

    public mutating func readBigEndianUInt32() throws(StateDecodingError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 { v = (v << 8) | UInt32(try readByte()) }
        return v
    }

    public mutating func readBigEndianUInt64() throws(StateDecodingError) -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = (v << 8) | UInt64(try readByte()) }
        return v
    }

    public mutating func readBigEndianInt32() throws(StateDecodingError) -> Int32 {
        Int32(bitPattern: try readBigEndianUInt32() ^ 0x8000_0000)
    }

    public mutating func readBytes(count: Int) throws(StateDecodingError) -> [UInt8] {
        guard count >= 0, count <= remaining else {
            throw StateDecodingError("wants \(count) bytes at \(position), \(remaining) left")
        }
        var out = [UInt8]()
        out.reserveCapacity(count)
        for i in position..<(position + count) { out.append(span[i]) }
        position += count
        return out
    }

    /// Moves past `count` bytes without copying them (after reading them through ``span``).
    public mutating func skip(_ count: Int) throws(StateDecodingError) {
        guard count >= 0, count <= remaining else {
            throw StateDecodingError("wants \(count) bytes at \(position), \(remaining) left")
        }
        position += count
    }

    public mutating func readLengthPrefixed() throws(StateDecodingError) -> [UInt8] {
        let n = try readVarint()
        guard n <= UInt64(remaining) else { throw StateDecodingError("length \(n) exceeds the record") }
        return try readBytes(count: Int(n))
    }

    public mutating func readDouble() throws(StateDecodingError) -> Double {
        Double(bitPattern: try readLittleEndianUInt64())
    }

    /// Throws unless every byte was consumed: trailing bytes mean a format mismatch.
    public func expectEnd() throws(StateDecodingError) {
        guard isAtEnd else { throw StateDecodingError("\(remaining) unexpected trailing bytes") }
    }
}

extension Array where Element == UInt8 {
    /// A copy of `span`'s bytes.
    public init(_ span: Span<UInt8>) {
        self.init(repeating: 0, count: span.count)
        for i in span.indices { self[i] = span[i] }
    }
}
