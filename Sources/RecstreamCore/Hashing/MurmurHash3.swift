/// A 128-bit hash value, as two 64-bit halves in MurmurHash3's output order (h1, h2).
public struct Hash128: Hashable, Sendable, Codable, CustomStringConvertible {
    public var low: UInt64
    public var high: UInt64

    @inline(__always) public init(low: UInt64, high: UInt64) {
        self.low = low
        self.high = high
    }

    /// The 16 bytes as MurmurHash3's reference prints them: h1 then h2, each little-endian.
    public var bytes: [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        for i in 0..<8 {
            out[i] = UInt8(truncatingIfNeeded: low >> (8 * UInt64(i)))
            out[8 + i] = UInt8(truncatingIfNeeded: high >> (8 * UInt64(i)))
        }
        return out
    }

    /// Lower-case hex of ``bytes`` (the form mmh3's `hash_bytes(...).hex()` prints).
    public var description: String {
        bytes.map { b in
            let s = String(b, radix: 16)
            return b < 16 ? "0" + s : s
        }.joined()
    }
}

/// MurmurHash3 x64 128-bit (Austin Appleby, public domain reference `MurmurHash3_x64_128`).
///
/// Used wherever a hash is persisted (event-id deduplication, filters), so its output is frozen:
/// golden values in the tests pin it to the reference implementation. Cost: about one multiply
/// chain per 16 input bytes; no allocation.
public enum MurmurHash3 {
    @inline(__always) private static func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 {
        (x << r) | (x >> (64 - r))
    }

    @inline(__always) private static func fmix(_ k: UInt64) -> UInt64 {
        var k = k
        k ^= k >> 33
        k &*= 0xff51_afd7_ed55_8ccd
        k ^= k >> 33
        k &*= 0xc4ce_b9fe_1a85_ec53
        k ^= k >> 33
        return k
    }

    /// The 128-bit hash of `bytes` with `seed`.
    public static func hash128(_ bytes: Span<UInt8>, seed: UInt32 = 0) -> Hash128 {
        let length = bytes.count
        let blockCount = length / 16
        var h1 = UInt64(seed)
        var h2 = UInt64(seed)
        for block in 0..<blockCount {
            mix(load64(bytes, block * 16), load64(bytes, block * 16 + 8), &h1, &h2)
        }
        return finish(bytes, tail: blockCount * 16, length: length, h1, h2)
    }

    @inline(__always) private static func load64(_ bytes: Span<UInt8>, _ at: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[at + i]) << (8 * UInt64(i)) }
        return v
    }

    private static let c1: UInt64 = 0x87c3_7b91_1142_53d5
    private static let c2: UInt64 = 0x4cf5_ad43_2745_937f

    /// One 16-byte block (k1, k2).
    @inline(__always) private static func mix(_ k1: UInt64, _ k2: UInt64, _ h1: inout UInt64, _ h2: inout UInt64) {
        h1 ^= scramble1(k1)
        h1 = rotl(h1, 27)
        h1 &+= h2
        h1 = h1 &* 5 &+ 0x52dc_e729
        h2 ^= scramble2(k2)
        h2 = rotl(h2, 31)
        h2 &+= h1
        h2 = h2 &* 5 &+ 0x3849_5ab5
    }

    /// The first lane's key scramble, shared by blocks and the tail.
    @inline(__always) private static func scramble1(_ k: UInt64) -> UInt64 { rotl(k &* c1, 31) &* c2 }

    /// The second lane's key scramble.
    @inline(__always) private static func scramble2(_ k: UInt64) -> UInt64 { rotl(k &* c2, 33) &* c1 }

    /// The last `length % 16` bytes of the input, at `tail` of `bytes`, and the finalisation.
    private static func finish(_ bytes: Span<UInt8>, tail: Int, length: Int, _ h1: UInt64, _ h2: UInt64) -> Hash128 {
        var h1 = h1
        var h2 = h2
        let rest = length & 15
        var k1: UInt64 = 0
        var k2: UInt64 = 0
        if rest > 8 {
            for i in stride(from: rest - 1, through: 8, by: -1) {
                k2 ^= UInt64(bytes[tail + i]) << (8 * UInt64(i - 8))
            }
            h2 ^= scramble2(k2)
        }
        if rest > 0 {
            for i in stride(from: min(rest, 8) - 1, through: 0, by: -1) {
                k1 ^= UInt64(bytes[tail + i]) << (8 * UInt64(i))
            }
            h1 ^= scramble1(k1)
        }

        h1 ^= UInt64(length)
        h2 ^= UInt64(length)
        h1 &+= h2
        h2 &+= h1
        h1 = fmix(h1)
        h2 = fmix(h2)
        h1 &+= h2
        h2 &+= h1
        return Hash128(low: h1, high: h2)
    }

    /// The hash of bytes fed in pieces of any size: ``finish()`` gives what ``hash128(_:seed:)``
    /// gives for their concatenation. For files hashed through a fixed buffer (a model file is
    /// verified without holding it in memory). Holds at most 15 pending bytes.
    public struct Stream: Sendable {
        private var h1: UInt64
        private var h2: UInt64
        private var length = 0
        private var pending: [UInt8] = []

        public init(seed: UInt32 = 0) {
            h1 = UInt64(seed)
            h2 = UInt64(seed)
            pending.reserveCapacity(16)
        }

        /// Bytes fed so far.
        public var count: Int { length }

        public mutating func update(_ bytes: Span<UInt8>) {
            length += bytes.count
            var i = 0
            if !pending.isEmpty {
                while pending.count < 16 && i < bytes.count {
                    pending.append(bytes[i])
                    i += 1
                }
                guard pending.count == 16 else { return }
                let k1 = MurmurHash3.load64(pending.span, 0)
                let k2 = MurmurHash3.load64(pending.span, 8)
                MurmurHash3.mix(k1, k2, &h1, &h2)
                pending.removeAll(keepingCapacity: true)
            }
            while bytes.count - i >= 16 {
                MurmurHash3.mix(MurmurHash3.load64(bytes, i), MurmurHash3.load64(bytes, i + 8), &h1, &h2)
                i += 16
            }
            while i < bytes.count {
                pending.append(bytes[i])
                i += 1
            }
        }

        public func finish() -> Hash128 {
            MurmurHash3.finish(pending.span, tail: 0, length: length, h1, h2)
        }
    }

    /// The 128-bit hash of a string's UTF-8 bytes.
    public static func hash128(_ string: String, seed: UInt32 = 0) -> Hash128 {
        let bytes = Array(string.utf8)
        return hash128(bytes.span, seed: seed)
    }
}
