/// The layout of a shard's records in the store's keyspace. Every key starts with the shard
/// prefix `'S' stage partition(BE32, sign-flipped)`, then one byte naming the record kind:
///
/// | kind | key after the prefix | value |
/// |---|---|---|
/// | `m` | — | shard metadata: next offset, watermark, counters |
/// | `k` | item index (BE32) | item id bytes (the item dictionary) |
/// | `u` | user index (BE32) | user id bytes (the user dictionary) |
/// | `d` | minute (BE32), commit sequence (BE64) | 16-byte event-id hashes remembered for dedup |
/// | `f` | family tag, family key | the family's record |
///
/// This layout is persisted: change it only with a format version bump.
public enum ShardKeys {
    public static let shardMarker: UInt8 = 0x53  // "S"
    public static let metaKind: UInt8 = 0x6d  // "m"
    public static let itemDictionaryKind: UInt8 = 0x6b  // "k"
    public static let userDictionaryKind: UInt8 = 0x75  // "u"
    public static let dedupKind: UInt8 = 0x64  // "d"
    public static let familyKind: UInt8 = 0x66  // "f"

    /// The stage consuming the events topic.
    public static let eventsStage: UInt8 = 0x65  // "e"
    /// The item-keyed stage consuming the item repartition topic (two-stage pipeline).
    public static let itemsStage: UInt8 = 0x69  // "i"

    public static func prefix(stage: UInt8, partition: Int32) -> [UInt8] {
        var w = BinaryWriter(capacity: 6)
        w.append(shardMarker)
        w.append(stage)
        w.appendBigEndian(partition)
        return w.bytes
    }

    /// The key one past every key with `prefix`, for range deletes and scans.
    public static func end(of prefix: [UInt8]) -> [UInt8] {
        var end = prefix
        while let last = end.last {
            if last < 0xff {
                end[end.count - 1] = last + 1
                return end
            }
            end.removeLast()
        }
        return [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
    }

    /// The key of the store-wide format record.
    public static let formatKey: [UInt8] = Array("F/format".utf8)
    /// The format this version writes and reads. 2: item statistics keyed by item id (format 1
    /// keyed them by an item dictionary index). 3: the exposure-filter family keeps one record
    /// per (user, slice) instead of one per user. A directory of format 1 or 2 is migrated in
    /// place when opened.
    public static let formatVersion: UInt32 = 3
}
