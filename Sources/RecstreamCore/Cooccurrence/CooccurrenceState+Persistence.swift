/// The layout of the co-occurrence state's records, relative to the family's keyspace (the
/// runtime prefixes them). The first byte names the record kind:
///
/// | kind | key after the kind byte | value |
/// |---|---|---|
/// | `0x00` meta | — | version, watermark, engagement sequence, cut counter, exact window end |
/// | `0x01` history | user (BE32) | the user's distinct items in the window, ascending by time |
/// | `0x02` recent users | item (BE32) | the item's recent users for Swing, oldest first |
/// | `0x03` base | table (1 byte), item (BE32) | the item's table in the installed exact result |
/// | `0x04` increments | table (1 byte), item (BE32) | the item's increments since that result |
///
/// Tables: `0` ItemCF counts (value: degree n_i, then the table), `1` ItemCF penalty-weighted sums,
/// `2` Swing. Table values: entry count, then neighbours ascending as gaps, each with its value.
///
/// A swap rewrites the base record of every item that has one (old or new) and the increment
/// record of every item whose pre-cut increments were dropped; between swaps a commit writes the
/// records of the items, users and lists touched since the previous commit.
///
/// This layout is persisted: change it only with a format version bump.
public enum CooccurrenceKeys {
    public static let meta: UInt8 = 0x00
    public static let history: UInt8 = 0x01
    public static let recentUsers: UInt8 = 0x02
    public static let base: UInt8 = 0x03
    public static let increments: UInt8 = 0x04

    public static let itemCFCounts: UInt8 = 0
    public static let itemCFWeights: UInt8 = 1
    public static let swing: UInt8 = 2

    public static let metaVersion: UInt8 = 1

    static func key(_ kind: UInt8, _ index: Int32) -> [UInt8] {
        var w = BinaryWriter(capacity: 5)
        w.append(kind)
        w.appendBigEndian(UInt32(bitPattern: index))
        return w.bytes
    }

    static func key(_ kind: UInt8, table: UInt8, _ index: Int32) -> [UInt8] {
        var w = BinaryWriter(capacity: 6)
        w.append(kind)
        w.append(table)
        w.appendBigEndian(UInt32(bitPattern: index))
        return w.bytes
    }
}

extension CooccurrenceState {
    /// Moves every record changed since the last call into `changes` (keys family-relative, see
    /// ``CooccurrenceKeys``). After the caller has committed them, the store holds this state.
    public mutating func drainChanges(into changes: inout FamilyChanges) {
        for u in users.dirty.drain() {
            let key = CooccurrenceKeys.key(CooccurrenceKeys.history, u)
            let h = users[u]
            if h.isEmpty {
                changes.delete(key)
            } else {
                var w = BinaryWriter(capacity: 16 + h.entries.count * 8)
                h.encode(into: &w)
                changes.put(key, w.bytes)
            }
        }
        for item in recent.dirty.drain() {
            let list = recent.users(of: item)
            let key = CooccurrenceKeys.key(CooccurrenceKeys.recentUsers, item)
            if list.isEmpty {
                changes.delete(key)
            } else {
                var w = BinaryWriter(capacity: 2 + list.count * 3)
                w.appendVarint(UInt64(list.count))
                for v in list { w.appendVarint(UInt64(UInt32(bitPattern: v))) }
                changes.put(key, w.bytes)
            }
        }
        drainCounts(into: &changes)
        Self.drain(&cfWeights, table: CooccurrenceKeys.itemCFWeights, into: &changes)
        Self.drain(&swing, table: CooccurrenceKeys.swing, into: &changes)
        if metaDirty {
            var w = BinaryWriter(capacity: 32)
            w.append(CooccurrenceKeys.metaVersion)
            w.appendSignedVarint(watermark?.millis ?? -1)
            w.appendVarint(engagementSequence)
            w.appendVarint(cutCounter)
            w.appendSignedVarint(exactWindowEnd?.millis ?? -1)
            changes.put([CooccurrenceKeys.meta], w.bytes)
            metaDirty = false
        }
    }

    private mutating func drainCounts(into changes: inout FamilyChanges) {
        for item in cfCounts.dirtyBase.drain() {
            Self.putCounts(
                cfCounts.baseTable(of: item), degree: degrees.baseDegree(item),
                key: CooccurrenceKeys.key(CooccurrenceKeys.base, table: CooccurrenceKeys.itemCFCounts, item), into: &changes)
        }
        for item in cfCounts.dirtyDelta.drain() {
            Self.putCounts(
                cfCounts.deltaTable(of: item), degree: degrees.deltaDegree(item),
                key: CooccurrenceKeys.key(CooccurrenceKeys.increments, table: CooccurrenceKeys.itemCFCounts, item), into: &changes)
        }
    }

    /// One layer's ItemCF record of an item: its degree then its count table; deleted when both are empty.
    private static func putCounts(_ table: NeighbourTable<UInt32>, degree: UInt32, key: [UInt8], into changes: inout FamilyChanges) {
        if table.isEmpty && degree == 0 {
            changes.delete(key)
        } else {
            var w = BinaryWriter(capacity: 8 + table.count * 4)
            w.appendVarint(UInt64(degree))
            table.encode(into: &w)
            changes.put(key, w.bytes)
        }
    }

    private static func drain(
        _ layers: inout LayeredNeighbours<Double>, table kind: UInt8, into changes: inout FamilyChanges
    ) {
        for item in layers.dirtyBase.drain() {
            let key = CooccurrenceKeys.key(CooccurrenceKeys.base, table: kind, item)
            let table = layers.baseTable(of: item)
            if table.isEmpty {
                changes.delete(key)
            } else {
                var w = BinaryWriter(capacity: 4 + table.count * 11)
                table.encode(into: &w)
                changes.put(key, w.bytes)
            }
        }
        for item in layers.dirtyDelta.drain() {
            let key = CooccurrenceKeys.key(CooccurrenceKeys.increments, table: kind, item)
            let table = layers.deltaTable(of: item)
            if table.isEmpty {
                changes.delete(key)
            } else {
                var w = BinaryWriter(capacity: 4 + table.count * 11)
                table.encode(into: &w)
                changes.put(key, w.bytes)
            }
        }
    }

    /// Restores one persisted record (any order). A restored state has no outstanding cut: the
    /// increments of both layers come back as one.
    /// - Throws: ``StateDecodingError`` when the key or value is malformed.
    public mutating func restore(key: [UInt8], value: [UInt8]) throws(StateDecodingError) {
        guard let kind = key.first else { throw StateDecodingError("empty co-occurrence key") }
        var keyReader = BinaryReader(key)
        _ = try keyReader.readByte()
        var r = BinaryReader(value)
        switch kind {
        case CooccurrenceKeys.meta:
            try keyReader.expectEnd()
            let version = try r.readByte()
            guard version == CooccurrenceKeys.metaVersion else {
                throw StateDecodingError("co-occurrence meta version \(version)")
            }
            let mark = try r.readSignedVarint()
            watermark = mark >= 0 ? EventTime(millis: mark) : nil
            engagementSequence = try r.readVarint()
            cutCounter = try r.readVarint()
            let exactEnd = try r.readSignedVarint()
            exactWindowEnd = exactEnd >= 0 ? EventTime(millis: exactEnd) : nil
        case CooccurrenceKeys.history:
            let user = try Self.readIndex(&keyReader)
            let h = try UserHistory.decode(from: &r, cap: configuration.pathologicalUserItems)
            users.restore(user, h)
        case CooccurrenceKeys.recentUsers:
            let item = try Self.readIndex(&keyReader)
            let n = try r.readVarint()
            guard n <= UInt64(r.remaining) else { throw StateDecodingError("recent-user list of \(n)") }
            var list: [Int32] = []
            list.reserveCapacity(Int(n))
            for _ in 0..<Int(n) {
                let v = try r.readVarint()
                guard v <= UInt64(Int32.max) else { throw StateDecodingError("recent user \(v)") }
                list.append(Int32(v))
            }
            if list.count > configuration.recentUsersPerItem {
                list.removeFirst(list.count - configuration.recentUsersPerItem)
            }
            recent.restore(item, list)
        case CooccurrenceKeys.base, CooccurrenceKeys.increments:
            let table = try keyReader.readByte()
            let item = try Self.readIndex(&keyReader)
            let isBase = kind == CooccurrenceKeys.base
            switch table {
            case CooccurrenceKeys.itemCFCounts:
                let degree = try UInt32.decode(from: &r)
                let t = try NeighbourTable<UInt32>.decode(from: &r)
                if isBase {
                    degrees.restore(item, base: degree)
                    cfCounts.restoreBase(item, t)
                } else {
                    degrees.restore(item, delta: degree)
                    cfCounts.restoreDelta(item, t)
                }
            case CooccurrenceKeys.itemCFWeights, CooccurrenceKeys.swing:
                let t = try NeighbourTable<Double>.decode(from: &r)
                if table == CooccurrenceKeys.swing {
                    if isBase { swing.restoreBase(item, t) } else { swing.restoreDelta(item, t) }
                } else {
                    if isBase { cfWeights.restoreBase(item, t) } else { cfWeights.restoreDelta(item, t) }
                }
            default:
                throw StateDecodingError("co-occurrence table kind \(table)")
            }
        default:
            throw StateDecodingError("co-occurrence record kind \(kind)")
        }
        try r.expectEnd()
    }

    private static func readIndex(_ reader: inout BinaryReader) throws(StateDecodingError) -> Int32 {
        let index = Int32(bitPattern: try reader.readBigEndianUInt32())
        try reader.expectEnd()
        guard index >= 0 else { throw StateDecodingError("negative index in a co-occurrence key") }
        return index
    }
}
