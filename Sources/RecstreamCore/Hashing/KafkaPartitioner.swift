/// The Java client's default partitioner for keyed records: `toPositive(murmur2(key)) % n`.
/// recstream places item-keyed records with it (the item repartition topic), so any instance,
/// and any Kafka client, computes which partition — and so which instance — holds an item.
public enum KafkaPartitioner {
    /// Kafka's murmur2 (seed 0x9747b28c), as `org.apache.kafka.common.utils.Utils.murmur2`.
    public static func murmur2(_ bytes: Span<UInt8>) -> Int32 {
        let length = bytes.count
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        var h: UInt32 = 0x9747_b28c ^ UInt32(truncatingIfNeeded: length)
        let blocks = length / 4
        for i in 0..<blocks {
            let j = i * 4
            var k = UInt32(bytes[j]) | UInt32(bytes[j + 1]) << 8 | UInt32(bytes[j + 2]) << 16 | UInt32(bytes[j + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
        }
        let tail = blocks * 4
        switch length % 4 {
        case 3:
            h ^= UInt32(bytes[tail + 2]) << 16
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 2:
            h ^= UInt32(bytes[tail + 1]) << 8
            h ^= UInt32(bytes[tail])
            h = h &* m
        case 1:
            h ^= UInt32(bytes[tail])
            h = h &* m
        default: break
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return Int32(bitPattern: h)
    }

    public static func murmur2(_ bytes: [UInt8]) -> Int32 { murmur2(bytes.span) }

    /// The partition of `key` among `partitions`.
    public static func partition(of key: Span<UInt8>, partitions: Int) -> Int32 {
        precondition(partitions > 0)
        return Int32((murmur2(key) & 0x7fff_ffff) % Int32(partitions))
    }

    public static func partition(of key: [UInt8], partitions: Int) -> Int32 { partition(of: key.span, partitions: partitions) }
}
