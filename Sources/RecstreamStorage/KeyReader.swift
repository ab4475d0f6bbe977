/// Reads back, front to back, the fields a ``KeyBuilder`` appended.
///
/// Cost: no allocation while reading; the `Span` initializer copies the key once.
///
/// - Throws: Every read throws ``StorageError/Kind/corruption`` when fewer bytes remain than the
///   field needs: a key that does not have the layout its reader expects is damaged data or a
///   format mismatch, never something to guess around.
public struct KeyReader: Sendable {
    private let bytes: [UInt8]
    /// The index of the next unread byte.
    public private(set) var offset = 0

    /// A reader over `key`.
    public init(_ key: [UInt8]) {
        bytes = key
    }

    /// A reader over a copy of `key` (a span handed out by ``StateStore/scan(prefix:_:)`` is only
    /// valid during the callback).
    public init(_ key: Span<UInt8>) {
        var copy = [UInt8]()
        copy.reserveCapacity(key.count)
        for i in key.indices { copy.append(key[i]) }
        bytes = copy
    }

    /// The number of bytes not yet read.
    public var remaining: Int { bytes.count - offset }

    /// Whether every byte has been read.
    public var isAtEnd: Bool { offset == bytes.count }

    /// Reads one byte.
    public mutating func readByte() throws(StorageError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Reads a 2-byte big-endian unsigned integer.
    public mutating func readUInt16() throws(StorageError) -> UInt16 {
        UInt16(truncatingIfNeeded: try readBigEndian(byteCount: 2))
    }

    /// Reads a 4-byte big-endian unsigned integer.
    public mutating func readUInt32() throws(StorageError) -> UInt32 {
        UInt32(truncatingIfNeeded: try readBigEndian(byteCount: 4))
    }

    /// Reads an 8-byte big-endian unsigned integer.
    public mutating func readUInt64() throws(StorageError) -> UInt64 {
        try readBigEndian(byteCount: 8)
    }

    /// Reads a 4-byte signed integer written by ``KeyBuilder/append(bigEndian:)-(Int32)``.
    public mutating func readInt32() throws(StorageError) -> Int32 {
        Int32(bitPattern: UInt32(truncatingIfNeeded: try readBigEndian(byteCount: 4)) ^ 0x8000_0000)
    }

    /// Reads an 8-byte signed integer written by ``KeyBuilder/append(bigEndian:)-(Int64)``.
    public mutating func readInt64() throws(StorageError) -> Int64 {
        Int64(bitPattern: try readBigEndian(byteCount: 8) ^ 0x8000_0000_0000_0000)
    }

    /// Reads the next `count` bytes.
    public mutating func readBytes(count: Int) throws(StorageError) -> ArraySlice<UInt8> {
        try need(count)
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// Reads every byte not yet read (the trailing variable-length field).
    public mutating func readRest() -> ArraySlice<UInt8> {
        defer { offset = bytes.count }
        return bytes[offset...]
    }

    private mutating func readBigEndian(byteCount: Int) throws(StorageError) -> UInt64 {
        try need(byteCount)
        var value: UInt64 = 0
        for i in offset..<offset + byteCount {
            value = value << 8 | UInt64(bytes[i])
        }
        offset += byteCount
        return value
    }

    private func need(_ count: Int) throws(StorageError) {
        guard count >= 0, count <= remaining else {
            throw StorageError(
                kind: .corruption,
                message: "key of \(bytes.count) bytes ends at offset \(offset); the next field needs \(count) bytes")
        }
    }
}
