/// Format 1 of the model's blob: varint-packed per-id records, decoded whole into the heap.
/// ``encode(index:)`` writes format 2 now; models published in format 1 are still read (decoded as
/// before), and ``encodeFormat1()`` still writes it for tests and the memory benchmark.
///
///     "RSEM" · 1 · metadata · configuration · users table · items table · fallback lists
///         · MurmurHash3 x64-128 of everything before it (16 bytes, little-endian)
///
/// A table: the id limit (varint), then per id a flags byte (bit 0 seen, bit 1 has a vector); a
/// seen id adds its last engagement time (zig-zag varint, ms) and its count (varint); an id with
/// a vector adds d floats of vector and d of Adagrad accumulator (IEEE-754 binary32,
/// little-endian). Rows are written in id order. Size: about 8d + 10 bytes per id with a vector
/// (266 at d = 32), 1 to 12 per other id.
extension EmbeddingModel {
    /// The blob format 1 wrote, for tests and the memory benchmark (what versions before format 2
    /// published, decoded whole into the heap).
    public func encodeFormat1() -> [UInt8] {
        precondition(!isMapped, "encodeFormat1() of a model read in place: materialize it first")
        var w = BinaryWriter(capacity: 64 + (users.vectorCount + items.vectorCount) * (8 * dimension + 10))
        w.append(contentsOf: Self.magic)
        w.append(Self.format1)
        Self.encode(metadata, into: &w)
        Self.encode(configuration, into: &w)
        Self.encode(users, into: &w)
        Self.encode(items, into: &w)
        let cold = coldUserItems.keys.sorted()
        w.appendVarint(UInt64(cold.count))
        for user in cold {
            let list = coldUserItems[user] ?? []
            w.appendVarint(UInt64(user))
            w.appendVarint(UInt64(list.count))
            for item in list { w.appendVarint(UInt64(item)) }
        }
        var bytes = w.bytes
        let hash = MurmurHash3.hash128(bytes.span)
        var tail = BinaryWriter(capacity: 16)
        tail.appendLittleEndian(hash.low)
        tail.appendLittleEndian(hash.high)
        bytes.append(contentsOf: tail.bytes)
        return bytes
    }

    /// Format 1's fields after the version byte, into the heap.
    static func decodeFormat1(_ r: inout BinaryReader) throws(StateDecodingError) -> EmbeddingModel {
        let metadata = try decodeMetadata(&r)
        let configuration = try decodeConfiguration(&r)
        let problems = configuration.validate()
        guard problems.isEmpty else { throw StateDecodingError("model configuration: \(problems.joined(separator: "; "))") }
        var model = EmbeddingModel(configuration: configuration)
        model.metadata = metadata
        model.users = try decodeTable(&r, dimension: configuration.dimension)
        model.items = try decodeTable(&r, dimension: configuration.dimension)
        let coldCount = try r.readVarint()
        guard coldCount <= UInt64(r.remaining / 2) else { throw StateDecodingError("\(coldCount) fallback lists") }
        var previous: Int64 = -1
        for _ in 0..<Int(coldCount) {
            let user = try readIndex(&r)
            guard Int64(user) > previous else { throw StateDecodingError("fallback users out of order at \(user)") }
            previous = Int64(user)
            let n = try r.readVarint()
            guard n >= 1 && n < UInt64(configuration.minEngagements) else {
                throw StateDecodingError("fallback list of \(n) items for user \(user)")
            }
            var list: [Int32] = []
            for _ in 0..<Int(n) { list.append(try readIndex(&r)) }
            model.coldUserItems[user] = list
        }
        try r.expectEnd()
        return model
    }

    static func encode(_ t: EmbeddingTable, into w: inout BinaryWriter) {
        w.appendVarint(UInt64(t.idLimit))
        for i in 0..<t.idLimit {
            let seen = t.lastSeenMillis[i] != EmbeddingTable.never
            let row = Int(t.rowOf[i])
            w.append((seen ? 1 : 0) | (row >= 0 ? 2 : 0))
            if seen {
                w.appendSignedVarint(t.lastSeenMillis[i])
                w.appendVarint(UInt64(t.engagementCounts[i]))
            }
            if row >= 0 {
                for source in [t.vectors, t.accumulators] {
                    for k in 0..<t.chunks {
                        let v = source[row * t.chunks + k]
                        for j in 0..<8 { w.appendLittleEndian(v[j].bitPattern) }
                    }
                }
            }
        }
    }

    static func decodeTable(_ r: inout BinaryReader, dimension: Int) throws(StateDecodingError) -> EmbeddingTable {
        var t = EmbeddingTable(dimension: dimension)
        let limit = try r.readVarint()
        guard limit <= UInt64(r.remaining) && limit <= UInt64(Int32.max) else {
            throw StateDecodingError("table of \(limit) ids in \(r.remaining) bytes")
        }
        if limit > 0 { t.ensure(Int32(limit - 1)) }
        for i in 0..<Int(limit) {
            let flags = try r.readByte()
            guard flags <= 3 else { throw StateDecodingError("id flags \(flags)") }
            if flags & 1 != 0 {
                let seen = try r.readSignedVarint()
                guard seen != EmbeddingTable.never else { throw StateDecodingError("last seen time") }
                t.lastSeenMillis[i] = seen
                let count = try r.readVarint()
                guard count <= UInt64(UInt32.max) else { throw StateDecodingError("count \(count)") }
                t.engagementCounts[i] = UInt32(count)
            }
            if flags & 2 != 0 {
                t.rowOf[i] = Int32(t.owners.count)
                t.owners.append(Int32(i))
                for pass in 0..<2 {
                    for _ in 0..<t.chunks {
                        var v = SIMD8<Float>()
                        for j in 0..<8 {
                            let f = Float(bitPattern: try r.readLittleEndianUInt32())
                            guard f.isFinite && (pass == 0 || f >= 0) else {
                                throw StateDecodingError("id \(i): value \(f)")
                            }
                            v[j] = f
                        }
                        if pass == 0 { t.vectors.append(v) } else { t.accumulators.append(v) }
                    }
                }
            }
        }
        return t
    }

}
