/// Builds keys whose byte order is the order of their fields, so a store's ascending scan visits
/// them in numeric order: unsigned integers are written big-endian, signed integers big-endian with
/// the sign bit flipped (so -1 sorts before 0), bytes as they are.
///
/// Cost: appends into one array; reserve the expected size with `init(capacity:)` to allocate once.
/// Decode with ``KeyReader``, reading the fields in the order they were appended.
///
/// - Important: A variable-length field (``append(bytes:)``) is not self-delimiting: put it last,
///   or precede it with its length, or a longer key can sort between two keys it should not.
public struct KeyBuilder: Sendable, Hashable {
    /// The key built so far.
    public private(set) var bytes: [UInt8]

    /// An empty key with room for `capacity` bytes.
    public init(capacity: Int = 32) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A key starting with `prefix`.
    public init(prefix: [UInt8]) {
        bytes = prefix
    }

    /// Appends one byte (a tag or a family id).
    public mutating func append(_ byte: UInt8) {
        bytes.append(byte)
    }

    /// Appends `value` in 2 big-endian bytes.
    public mutating func append(bigEndian value: UInt16) {
        appendBigEndian(UInt64(value), byteCount: 2)
    }

    /// Appends `value` in 4 big-endian bytes.
    public mutating func append(bigEndian value: UInt32) {
        appendBigEndian(UInt64(value), byteCount: 4)
    }

    /// Appends `value` in 8 big-endian bytes.
    public mutating func append(bigEndian value: UInt64) {
        appendBigEndian(value, byteCount: 8)
    }

    /// Appends `value` in 4 bytes that sort like the number: big-endian with the sign bit flipped.
    public mutating func append(bigEndian value: Int32) {
        appendBigEndian(UInt64(UInt32(bitPattern: value) ^ 0x8000_0000), byteCount: 4)
    }

    /// Appends `value` in 8 bytes that sort like the number: big-endian with the sign bit flipped.
    public mutating func append(bigEndian value: Int64) {
        appendBigEndian(UInt64(bitPattern: value) ^ 0x8000_0000_0000_0000, byteCount: 8)
    }

    /// Appends raw bytes (an id's UTF-8, a hash).
    public mutating func append(bytes more: some Sequence<UInt8>) {
        bytes.append(contentsOf: more)
    }

    @inline(__always)
    private mutating func appendBigEndian(_ value: UInt64, byteCount: Int) {
        for i in stride(from: byteCount - 1, through: 0, by: -1) {
            bytes.append(UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))))
        }
    }

    /// The smallest key that sorts after every key beginning with `prefix`, or nil when there is
    /// none (`prefix` is empty or all `0xFF`). `[prefix, prefixEnd(prefix))` is exactly the keys
    /// with that prefix.
    ///
    /// Cost: one copy of `prefix`.
    public static func prefixEnd(_ prefix: [UInt8]) -> [UInt8]? {
        var end = prefix
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return nil
    }
}
