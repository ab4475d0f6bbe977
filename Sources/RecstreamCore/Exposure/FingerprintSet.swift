/// An exact set of f-bit fingerprints: the sub-filter a ``ScalableBloomFilter`` uses where it is
/// smaller than a Bloom filter, which is for small capacities (below about a hundred items at
/// the error rates exposure filters use; at most ``maximumCapacity``).
///
/// A non-member answers true only if its fingerprint equals a stored one: probability
/// count / 2^f for well-mixed hashes, so f = the smallest width with capacity / 2^f ≤ p bounds
/// the rate exactly at any fill. No double-hashing structure is involved (see ``BloomFilter``
/// for why that matters at small sizes), and memory grows with the items actually stored, so a
/// user with one exposure pays for one fingerprint (2 bytes serialized), not for a capacity.
///
/// The fingerprint is ``ExposureHash/fingerprint(bits:)``: the top f bits of h1 (persisted).
///
/// Cost: a lookup compares every stored fingerprint (at most ``capacity``, a few dozen words).
public struct FingerprintSet: Sendable, Hashable {
    /// The widest fingerprint; a capacity and error rate needing more use a Bloom filter.
    public static let maximumWidth = 32
    /// The most items a set is sized for: a lookup compares every stored fingerprint, so sets
    /// stay small (beyond this a Bloom filter is used even where fingerprints would be smaller,
    /// which happens only at error rates far below the defaults').
    public static let maximumCapacity = 128

    /// Fingerprints packed least-significant bit first, f bits each, in insertion order.
    public private(set) var words: [UInt64] = []
    private var width: UInt8
    private var capacityValue: UInt32
    private var stored: UInt32

    /// An empty set for `capacity` items at `errorRate`.
    ///
    /// - Important: `capacity` must be in 1...``maximumCapacity`` and the width the pair needs
    ///   (``width(capacity:errorRate:)``) at most ``maximumWidth``; otherwise this traps.
    public init(capacity: Int, errorRate: Double) {
        let f = Self.width(capacity: capacity, errorRate: errorRate)
        precondition(
            (1...Self.maximumCapacity).contains(capacity) && f <= Self.maximumWidth,
            "FingerprintSet for \(capacity) items at \(errorRate) needs \(f)-bit fingerprints")
        width = UInt8(f)
        capacityValue = UInt32(capacity)
        stored = 0
    }

    /// A set with no storage, for parking (see ``ScalableBloomFilter/SubFilter/insert(_:)``).
    static let empty = FingerprintSet(words: [], width: 1, capacity: 1, stored: 0)

    init(words: [UInt64], width: UInt8, capacity: UInt32, stored: UInt32) {
        self.words = words
        self.width = width
        self.capacityValue = capacity
        self.stored = stored
    }

    /// The smallest f ≥ 1 with capacity / 2^f ≤ p (exact: powers of two are exact in a Double).
    /// May exceed ``maximumWidth``.
    public static func width(capacity: Int, errorRate p: Double) -> Int {
        var f = 1
        var scaled = p * 2
        while Double(capacity) > scaled && f < 64 {
            scaled *= 2
            f += 1
        }
        return f
    }

    /// f: bits per fingerprint.
    public var fingerprintBits: Int { Int(width) }
    public var capacity: Int { Int(capacityValue) }
    /// Fingerprints stored (distinct by construction).
    public var count: Int { Int(stored) }
    public var isFull: Bool { stored >= capacityValue }

    @inline(__always) private func fingerprint(at index: Int) -> UInt64 {
        let f = Int(width)
        let offset = index * f
        let word = offset >> 6
        let shift = offset & 63
        var value = words[word] >> UInt64(shift)
        if shift + f > 64 { value |= words[word + 1] << UInt64(64 - shift) }
        return value & ((1 << UInt64(f)) - 1)
    }

    /// Whether the item's fingerprint is stored: true for every inserted item.
    public func contains(_ hash: ExposureHash) -> Bool {
        let wanted = UInt64(hash.fingerprint(bits: Int(width)))
        for i in 0..<Int(stored) where fingerprint(at: i) == wanted { return true }
        return false
    }

    /// Stores the item's fingerprint unless present. Returns whether it was added.
    @discardableResult
    public mutating func insert(_ hash: ExposureHash) -> Bool {
        if contains(hash) { return false }
        let f = Int(width)
        let value = UInt64(hash.fingerprint(bits: f))
        let offset = Int(stored) * f
        let needed = (offset + f + 63) >> 6
        if needed > words.count {
            if words.capacity < needed {
                // Grow geometrically, but never past what the full capacity needs.
                let full = (Int(capacityValue) * f + 63) >> 6
                words.reserveCapacity(max(needed, min(2 * words.count, full)))
            }
            words.append(contentsOf: repeatElement(0, count: needed - words.count))
        }
        let word = offset >> 6
        let shift = offset & 63
        words[word] |= value << UInt64(shift)
        if shift + f > 64 { words[word + 1] |= value >> UInt64(64 - shift) }
        if stored < UInt32.max { stored += 1 }
        return true
    }

    /// count / 2^f: the exact chance that a random non-member's fingerprint is stored.
    public var estimatedFalsePositiveRate: Double {
        var rate = Double(stored)
        for _ in 0..<Int(width) { rate /= 2 }
        return rate
    }

    /// Bytes of fingerprint words held in memory.
    public var byteCount: Int { words.count * 8 }

    /// Heap and inline bytes held, counting the array header.
    public var approximateBytes: Int {
        MemoryLayout<FingerprintSet>.stride + (words.capacity == 0 ? 0 : arrayHeaderBytes + words.capacity * 8)
    }

    // MARK: Persistence

    private var payloadBytes: Int { (Int(stored) * Int(width) + 7) / 8 }

    /// Appends f (one byte), capacity and count (varints), then count·f bits as ⌈count·f/8⌉ bytes,
    /// least-significant bit first.
    public func encode(into writer: inout BinaryWriter) {
        writer.append(width)
        writer.appendVarint(UInt64(capacityValue))
        writer.appendVarint(UInt64(stored))
        for i in 0..<payloadBytes { writer.append(UInt8(truncatingIfNeeded: words[i >> 3] >> UInt64(8 * (i & 7)))) }
    }

    /// The size of ``encode(into:)``'s output.
    public var encodedByteCount: Int {
        1 + varintLength(UInt64(capacityValue)) + varintLength(UInt64(stored)) + payloadBytes
    }

    /// Reads what ``encode(into:)`` wrote.
    ///
    /// - Throws: ``StateDecodingError`` when truncated, out of range, or with set padding bits.
    public static func decode(from reader: inout BinaryReader) throws(StateDecodingError) -> FingerprintSet {
        let f = try reader.readByte()
        guard f >= 1, Int(f) <= maximumWidth else { throw StateDecodingError("fingerprint width \(f)") }
        let capacity = try reader.readVarint()
        guard capacity >= 1, capacity <= UInt64(maximumCapacity) else {
            throw StateDecodingError("fingerprint set capacity \(capacity)")
        }
        let count = try reader.readVarint()
        // Past the last allowed sub-filter a set may hold more than its capacity (see
        // ScalableBloomFilter's limits), but never more than a Bloom filter could.
        guard count <= UInt64(BloomFilter.maximumCapacity) else {
            throw StateDecodingError("fingerprint count \(count)")
        }
        let bits = Int(count) * Int(f)
        let byteCount = (bits + 7) / 8
        guard byteCount <= reader.remaining else {
            throw StateDecodingError("\(count) fingerprints need \(byteCount) bytes, \(reader.remaining) left")
        }
        var words = [UInt64](repeating: 0, count: (bits + 63) / 64)
        for i in 0..<byteCount { words[i >> 3] |= UInt64(try reader.readByte()) << UInt64(8 * (i & 7)) }
        if bits % 64 != 0, let last = words.last, last >> UInt64(bits % 64) != 0 {
            throw StateDecodingError("fingerprint padding bits set")
        }
        return FingerprintSet(words: words, width: f, capacity: UInt32(capacity), stored: UInt32(count))
    }
}
