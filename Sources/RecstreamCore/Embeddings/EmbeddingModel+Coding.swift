/// The model's persisted form: one blob the runtime writes to a file as it is.
///
///     "RSEM" · format version (1 byte) · metadata · configuration · users table · items table
///         · fallback lists · MurmurHash3 x64-128 of everything before it (16 bytes, little-endian)
///
/// A table: the id limit (varint), then per id a flags byte (bit 0 seen, bit 1 has a vector); a
/// seen id adds its last engagement time (zig-zag varint, ms) and its count (varint); an id with
/// a vector adds d floats of vector and d of Adagrad accumulator (IEEE-754 binary32,
/// little-endian). Rows are written in id order, so encode → decode → encode gives the same bytes.
/// Size: about 8d + 10 bytes per id with a vector (266 at d = 32), 1 to 12 per other id.
extension EmbeddingModel {
    static let magic: [UInt8] = Array("RSEM".utf8)
    public static let formatVersion: UInt8 = 1

    public func encode() -> [UInt8] {
        var w = BinaryWriter(capacity: 64 + (users.vectorCount + items.vectorCount) * (8 * dimension + 10))
        w.append(contentsOf: Self.magic)
        w.append(Self.formatVersion)
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

    /// Reads what ``encode()`` wrote.
    /// - Throws: ``StateDecodingError`` when the checksum does not match (any bit flipped or
    ///   truncated), the magic or version is unknown, the configuration is invalid, or any field
    ///   is out of range.
    public static func decode(_ bytes: [UInt8]) throws(StateDecodingError) -> EmbeddingModel {
        guard bytes.count >= magic.count + 1 + 16 else { throw StateDecodingError("model blob of \(bytes.count) bytes") }
        let bodyCount = bytes.count - 16
        let hash = MurmurHash3.hash128(bytes.span.extracting(0..<bodyCount))
        var tail = BinaryReader(Array(bytes[bodyCount...]))
        let low = try tail.readLittleEndianUInt64()
        let high = try tail.readLittleEndianUInt64()
        guard hash.low == low && hash.high == high else { throw StateDecodingError("model checksum mismatch") }
        var r = BinaryReader(Array(bytes[..<bodyCount]))
        for m in magic {
            guard try r.readByte() == m else { throw StateDecodingError("not an embedding model blob") }
        }
        let version = try r.readByte()
        guard version == formatVersion else { throw StateDecodingError("embedding model format \(version)") }
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

    // MARK: - Parts

    private static func encode(_ m: EmbeddingModelMetadata, into w: inout BinaryWriter) {
        w.appendVarint(UInt64(m.version.major))
        w.appendVarint(UInt64(m.version.minor))
        w.append(m.kind.rawValue)
        if let p = m.parent {
            w.append(1)
            w.appendVarint(UInt64(p.major))
            w.appendVarint(UInt64(p.minor))
        } else {
            w.append(0)
        }
        w.appendSignedVarint(m.window.end.millis)
        w.appendSignedVarint(m.window.lengthMillis)
        w.appendSignedVarint(m.trainedThrough.millis)
        w.appendVarint(m.logPosition)
        let x = m.metrics
        for v in [
            x.engagementsRead, x.engagementsUsed, x.examples, x.epochs, x.batches, x.trainedUsers, x.trainedItems,
            x.newUsers, x.newItems, x.evictedUsers, x.evictedItems,
        ] { w.appendVarint(UInt64(v)) }
        w.appendDouble(x.firstEpochLoss)
        w.appendDouble(x.lastEpochLoss)
    }

    private static func decodeMetadata(_ r: inout BinaryReader) throws(StateDecodingError) -> EmbeddingModelMetadata {
        var m = EmbeddingModelMetadata()
        m.version = EmbeddingModelVersion(major: try readUInt32(&r), minor: try readUInt32(&r))
        guard let kind = EmbeddingModelKind(rawValue: try r.readByte()) else { throw StateDecodingError("model kind") }
        m.kind = kind
        switch try r.readByte() {
        case 0: m.parent = nil
        case 1: m.parent = EmbeddingModelVersion(major: try readUInt32(&r), minor: try readUInt32(&r))
        default: throw StateDecodingError("parent flag")
        }
        m.window = CooccurrenceWindow(
            end: EventTime(millis: try r.readSignedVarint()), lengthMillis: try r.readSignedVarint())
        m.trainedThrough = EventTime(millis: try r.readSignedVarint())
        m.logPosition = try r.readVarint()
        var counts: [Int] = []
        for _ in 0..<11 {
            let v = try r.readVarint()
            guard v <= UInt64(Int.max) else { throw StateDecodingError("metric \(v)") }
            counts.append(Int(v))
        }
        m.metrics.engagementsRead = counts[0]
        m.metrics.engagementsUsed = counts[1]
        m.metrics.examples = counts[2]
        m.metrics.epochs = counts[3]
        m.metrics.batches = counts[4]
        m.metrics.trainedUsers = counts[5]
        m.metrics.trainedItems = counts[6]
        m.metrics.newUsers = counts[7]
        m.metrics.newItems = counts[8]
        m.metrics.evictedUsers = counts[9]
        m.metrics.evictedItems = counts[10]
        m.metrics.firstEpochLoss = try r.readDouble()
        m.metrics.lastEpochLoss = try r.readDouble()
        return m
    }

    private static func encode(_ c: EmbeddingConfiguration, into w: inout BinaryWriter) {
        w.appendVarint(UInt64(c.dimension))
        for f in [c.temperature, c.learningRate, c.adagradEpsilon, c.adagradInitialAccumulator] {
            w.appendLittleEndian(f.bitPattern)
        }
        w.appendVarint(UInt64(c.randomNegatives))
        w.appendDouble(c.samplingExponent)
        w.appendVarint(UInt64(c.batchSize))
        w.appendVarint(UInt64(c.epochs))
        w.appendVarint(UInt64(c.incrementalEpochs))
        w.append(c.logQCorrection ? 1 : 0)
        w.append(c.weighsEngagementTypes ? 1 : 0)
        for t in [EventType.click, .like, .collect, .share, .comment] { w.appendDouble(c.weights[t]) }
        w.appendVarint(UInt64(c.minEngagements))
        w.appendSignedVarint(c.evictionWindowMillis)
        w.appendLittleEndian(c.seed)
        w.appendVarint(UInt64(c.ivfLists ?? 0))
        w.appendVarint(UInt64(c.ivfProbes))
        w.appendVarint(UInt64(c.kMeansIterations))
        w.appendVarint(UInt64(c.kMeansPointsPerList))
    }

    private static func decodeConfiguration(_ r: inout BinaryReader) throws(StateDecodingError) -> EmbeddingConfiguration {
        var c = EmbeddingConfiguration()
        c.dimension = try readSmall(&r)
        c.temperature = Float(bitPattern: try r.readLittleEndianUInt32())
        c.learningRate = Float(bitPattern: try r.readLittleEndianUInt32())
        c.adagradEpsilon = Float(bitPattern: try r.readLittleEndianUInt32())
        c.adagradInitialAccumulator = Float(bitPattern: try r.readLittleEndianUInt32())
        c.randomNegatives = try readSmall(&r)
        c.samplingExponent = try r.readDouble()
        c.batchSize = try readSmall(&r)
        c.epochs = try readSmall(&r)
        c.incrementalEpochs = try readSmall(&r)
        c.logQCorrection = try readFlag(&r)
        c.weighsEngagementTypes = try readFlag(&r)
        c.weights = EngagementWeights(
            click: try r.readDouble(), like: try r.readDouble(), collect: try r.readDouble(),
            share: try r.readDouble(), comment: try r.readDouble())
        c.minEngagements = try readSmall(&r)
        c.evictionWindowMillis = try r.readSignedVarint()
        c.seed = try r.readLittleEndianUInt64()
        let lists = try readSmall(&r)
        c.ivfLists = lists == 0 ? nil : lists
        c.ivfProbes = try readSmall(&r)
        c.kMeansIterations = try readSmall(&r)
        c.kMeansPointsPerList = try readSmall(&r)
        return c
    }

    private static func encode(_ t: EmbeddingTable, into w: inout BinaryWriter) {
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

    private static func decodeTable(_ r: inout BinaryReader, dimension: Int) throws(StateDecodingError) -> EmbeddingTable {
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

    private static func readIndex(_ r: inout BinaryReader) throws(StateDecodingError) -> Int32 {
        let v = try r.readVarint()
        guard v <= UInt64(Int32.max) else { throw StateDecodingError("index \(v)") }
        return Int32(v)
    }

    private static func readUInt32(_ r: inout BinaryReader) throws(StateDecodingError) -> UInt32 {
        let v = try r.readVarint()
        guard v <= UInt64(UInt32.max) else { throw StateDecodingError("value \(v) exceeds 32 bits") }
        return UInt32(v)
    }

    private static func readSmall(_ r: inout BinaryReader) throws(StateDecodingError) -> Int {
        let v = try r.readVarint()
        guard v <= 1 << 40 else { throw StateDecodingError("value \(v) out of range") }
        return Int(v)
    }

    private static func readFlag(_ r: inout BinaryReader) throws(StateDecodingError) -> Bool {
        switch try r.readByte() {
        case 0: return false
        case 1: return true
        case let b: throw StateDecodingError("flag byte \(b)")
        }
    }
}
