/// The model's persisted form, format 2: one blob the runtime writes to a file as it is and maps
/// read-only to serve, laid out to be read in place (``open(_:verifiesChecksum:)``):
///
///     0        "RSEM" · format 2 · 3 zero bytes
///     8        header length H (UInt32) · section count S (UInt32, 20)
///     16       header: metadata · configuration (varints, as format 1 wrote them)
///     align 64 section table: S × (byte offset UInt64, byte count UInt64)
///     align 64 the sections in table order, each at a multiple of 64 bytes, zero padding between
///     end − 16 MurmurHash3 x64-128 of everything before it (low, high)
///
/// Every number is little-endian and fixed-width; floats are IEEE-754 binary32. Sections:
///
///     0–5   users: row by id (Int32, −1 none) · count by id (UInt32) · last seen by id (Int64 ms,
///           Int64.min unseen) · owner id by row (Int32, ascending) · vector by row (d floats) ·
///           Adagrad accumulator by row (d floats)
///     6–11  items: the same
///     12–14 fallback lists: users (Int32, ascending) · list starts (UInt32, users + 1) · items (Int32)
///     15–18 item IVF index: unit centroids (lists × d floats) · list starts (UInt32, lists + 1) ·
///           entry items (Int32, list order) · entry unit vectors (d floats each)
///     19    items with a vector, most engaged first (Int32): the popularity fallback
///
/// Rows are in ascending id order, so encode → decode → encode gives the same bytes. Size per id
/// with a vector: 16 + 4 + 8d (276 at d = 32), plus 4d + 8 for an item's index entry and
/// popularity rank (136); 16 per other id up to the largest id.
extension EmbeddingModel {
    static let magic: [UInt8] = Array("RSEM".utf8)
    /// The format ``encode(index:)`` writes (the version byte after the magic).
    public static let formatVersion: UInt8 = 2
    /// The earlier format, still read: decoded into the heap.
    public static let format1: UInt8 = 1
    static let sectionCount = 20
    static let sectionAlignment = 64

    /// The blob, with `index` as its stored item index (the one the job already built for its
    /// evaluation; built here when nil). Cost: O(ids + rows · d) and the blob's bytes; the index
    /// build when not given.
    /// - Important: `index` must be this model's item index (same dimension and items); traps
    ///   otherwise.
    public func encode(index: IVFIndex? = nil) -> [UInt8] {
        let index = index ?? IVFIndex(items: items, configuration: configuration)
        precondition(
            index.dimension == dimension && index.itemCount == items.vectorCount,
            "encode(index:) with an index of \(index.itemCount) items of dimension \(index.dimension) "
                + "for \(items.vectorCount) of \(dimension)")
        var header = BinaryWriter()
        Self.encode(metadata, into: &header)
        Self.encode(configuration, into: &header)
        let ids = users.idLimit + items.idLimit
        let rows = users.vectorCount + items.vectorCount
        let size = 512 + header.bytes.count + ids * 16 + rows * (4 + 8 * dimension) + items.vectorCount * (8 + 4 * dimension)
        var out = SectionWriter(capacity: size)
        out.bytes.append(contentsOf: Self.magic)
        out.bytes.append(contentsOf: [Self.formatVersion, 0, 0, 0])
        out.append32(UInt32(header.bytes.count))
        out.append32(UInt32(Self.sectionCount))
        out.bytes.append(contentsOf: header.bytes)
        out.pad()
        let tableAt = out.bytes.count
        out.bytes.append(contentsOf: repeatElement(0, count: Self.sectionCount * 16))
        for table in [users, items] {
            var rows: [Int] = []  // the table's rows in id order
            rows.reserveCapacity(table.vectorCount)
            out.section {
                for id in 0..<Int32(table.idLimit) {
                    let r = table.row(id)
                    $0.append32(UInt32(bitPattern: r < 0 ? -1 : Int32(rows.count)))
                    if r >= 0 { rows.append(r) }
                }
            }
            out.section { for id in 0..<Int32(table.idLimit) { $0.append32(UInt32(table.engagements(id))) } }
            out.section {
                for id in 0..<Int32(table.idLimit) {
                    $0.append64(UInt64(bitPattern: table.lastSeen(id)?.millis ?? EmbeddingTable.never))
                }
            }
            out.section { for id in 0..<Int32(table.idLimit) where table.hasVector(id) { $0.append32(UInt32(id)) } }
            out.section { for r in rows { $0.appendChunks(table.vectorChunks(row: r)) } }
            out.section {
                for r in rows {
                    if let m = table.mapped {
                        $0.appendChunks(m.accumulatorChunks(row: r))
                    } else {
                        $0.appendChunks(table.accumulators[(r * table.chunks)..<((r + 1) * table.chunks)])
                    }
                }
            }
        }
        let lists = fallbackLists
        out.section { for list in lists { $0.append32(UInt32(list.user)) } }
        out.section {
            var start = 0
            $0.append32(0)
            for list in lists {
                start += list.items.count
                $0.append32(UInt32(start))
            }
        }
        out.section { for list in lists { for item in list.items { $0.append32(UInt32(item)) } } }
        out.section { $0.appendChunks(index.centroids) }
        out.section { for start in index.listStarts { $0.append32(UInt32(start)) } }
        out.section { for e in 0..<index.itemCount { $0.append32(UInt32(index.item(e))) } }
        out.section { for e in 0..<index.itemCount { $0.appendChunks(index.entryChunks(e)) } }
        out.section { for item in EmbeddingRetriever.popularityOrder(items) { $0.append32(UInt32(item)) } }
        precondition(out.sections.count == Self.sectionCount, "\(out.sections.count) sections written")
        for (k, s) in out.sections.enumerated() {
            out.patch64(UInt64(s.offset), at: tableAt + 16 * k)
            out.patch64(UInt64(s.byteCount), at: tableAt + 16 * k + 8)
        }
        let hash = MurmurHash3.hash128(out.bytes.span)
        out.append64(hash.low)
        out.append64(hash.high)
        return out.bytes
    }

    /// Reads any format into the heap (format 2 through ``open(_:verifiesChecksum:)`` and
    /// ``materialized()``).
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
        switch try r.readByte() {
        case format1: return try decodeFormat1(&r)
        case formatVersion: return try open(ModelBytes(copying: bytes), verifiesChecksum: false).materialized()
        case let version: throw StateDecodingError("embedding model format \(version)")
        }
    }

    /// The model in `bytes`, read in place when it is format 2 (nothing per id is copied into the
    /// heap: the tables, fallback lists and item index stay in `bytes`), decoded into the heap when
    /// it is format 1.
    ///
    /// Checks: the magic and version, the header, that every section lies inside the blob at its
    /// alignment with the size its counts imply, and every value that decides where a later read
    /// lands (rows and owners a bijection, list starts ordered and in range, index entries and
    /// popularity ranks naming items with a vector). Cost: O(ids + rows + items) reads of the
    /// 4-byte columns; the vectors are not read. With `verifiesChecksum` (the default) also the
    /// trailing checksum, which reads every byte; pass false only when the caller has verified
    /// the whole blob against a checksum of its own (the model store's manifest), so that opening
    /// does not page in the whole file.
    /// - Throws: ``StateDecodingError`` naming the first problem found.
    public static func open(_ bytes: ModelBytes, verifiesChecksum: Bool = true) throws(StateDecodingError)
        -> EmbeddingModel
    {
        guard bytes.count >= 16 + 16 else { throw StateDecodingError("model blob of \(bytes.count) bytes") }
        guard bytes.copy(0..<4) == magic else { throw StateDecodingError("not an embedding model blob") }
        switch bytes.copy(4..<5)[0] {
        case format1: return try decode(bytes.copy(0..<bytes.count))
        case formatVersion: break
        case let version: throw StateDecodingError("embedding model format \(version)")
        }
        let bodyEnd = bytes.count - 16
        if verifiesChecksum {
            let hash = try bytes.withSpan(0..<bodyEnd) { span throws(StateDecodingError) in MurmurHash3.hash128(span) }
            guard hash.low == bytes.uint64(at: bodyEnd) && hash.high == bytes.uint64(at: bodyEnd + 8) else {
                throw StateDecodingError("model checksum mismatch")
            }
        }
        return try FormatTwoReader(bytes: bytes, bodyEnd: bodyEnd).model()
    }

    // MARK: - Parts

    static func encode(_ m: EmbeddingModelMetadata, into w: inout BinaryWriter) {
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

    static func decodeMetadata(_ r: inout BinaryReader) throws(StateDecodingError) -> EmbeddingModelMetadata {
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

    static func encode(_ c: EmbeddingConfiguration, into w: inout BinaryWriter) {
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

    static func decodeConfiguration(_ r: inout BinaryReader) throws(StateDecodingError) -> EmbeddingConfiguration {
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

    static func readIndex(_ r: inout BinaryReader) throws(StateDecodingError) -> Int32 {
        let v = try r.readVarint()
        guard v <= UInt64(Int32.max) else { throw StateDecodingError("index \(v)") }
        return Int32(v)
    }

    static func readUInt32(_ r: inout BinaryReader) throws(StateDecodingError) -> UInt32 {
        let v = try r.readVarint()
        guard v <= UInt64(UInt32.max) else { throw StateDecodingError("value \(v) exceeds 32 bits") }
        return UInt32(v)
    }

    static func readSmall(_ r: inout BinaryReader) throws(StateDecodingError) -> Int {
        let v = try r.readVarint()
        guard v <= 1 << 40 else { throw StateDecodingError("value \(v) out of range") }
        return Int(v)
    }

    static func readFlag(_ r: inout BinaryReader) throws(StateDecodingError) -> Bool {
        switch try r.readByte() {
        case 0: return false
        case 1: return true
        case let b: throw StateDecodingError("flag byte \(b)")
        }
    }
}
