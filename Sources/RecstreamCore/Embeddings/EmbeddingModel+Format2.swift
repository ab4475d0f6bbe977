/// Writes format 2's fixed-width little-endian sections, each at a multiple of 64 bytes.
struct SectionWriter {
    var bytes: [UInt8]
    private(set) var sections: [ModelSection] = []

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    mutating func append32(_ v: UInt32) {
        bytes.append(UInt8(truncatingIfNeeded: v))
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v >> 16))
        bytes.append(UInt8(truncatingIfNeeded: v >> 24))
    }

    mutating func append64(_ v: UInt64) {
        append32(UInt32(truncatingIfNeeded: v))
        append32(UInt32(truncatingIfNeeded: v >> 32))
    }

    mutating func appendChunks(_ chunks: some Sequence<SIMD8<Float>>) {
        for c in chunks { for j in 0..<8 { append32(c[j].bitPattern) } }
    }

    /// Zero bytes up to the next multiple of the section alignment.
    mutating func pad() {
        let extra = (EmbeddingModel.sectionAlignment - bytes.count % EmbeddingModel.sectionAlignment)
            % EmbeddingModel.sectionAlignment
        bytes.append(contentsOf: repeatElement(0, count: extra))
    }

    /// One section: aligned, then what `body` appends.
    mutating func section(_ body: (inout SectionWriter) -> Void) {
        pad()
        let start = bytes.count
        body(&self)
        sections.append(ModelSection(offset: start, byteCount: bytes.count - start))
    }

    mutating func patch64(_ v: UInt64, at offset: Int) {
        for i in 0..<8 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }
}

/// Reads and checks format 2's header, section table and index columns (see
/// ``EmbeddingModel/open(_:verifiesChecksum:)`` for what is checked), and builds the model that
/// reads the rest in place.
struct FormatTwoReader {
    let bytes: ModelBytes
    /// Where the trailing checksum starts.
    let bodyEnd: Int

    func model() throws(StateDecodingError) -> EmbeddingModel {
        let headerLength = Int(bytes.uint32(at: 8))
        let count = Int(bytes.uint32(at: 12))
        guard count == EmbeddingModel.sectionCount else {
            throw StateDecodingError("\(count) sections, format 2 has \(EmbeddingModel.sectionCount)")
        }
        guard headerLength <= bodyEnd - 16 else { throw StateDecodingError("header of \(headerLength) bytes") }
        var r = BinaryReader(bytes.copy(16..<(16 + headerLength)))
        let metadata = try EmbeddingModel.decodeMetadata(&r)
        let configuration = try EmbeddingModel.decodeConfiguration(&r)
        try r.expectEnd()
        let problems = configuration.validate()
        guard problems.isEmpty else { throw StateDecodingError("model configuration: \(problems.joined(separator: "; "))") }

        let tableAt = Self.aligned(16 + headerLength)
        guard tableAt <= bodyEnd - 16 * count else { throw StateDecodingError("section table past the end") }
        var sections: [ModelSection] = []
        var end = tableAt + 16 * count
        for k in 0..<count {
            let offset = bytes.uint64(at: tableAt + 16 * k)
            let length = bytes.uint64(at: tableAt + 16 * k + 8)
            guard offset <= UInt64(bodyEnd) && length <= UInt64(bodyEnd) else {
                throw StateDecodingError("section \(k) at \(offset), \(length) bytes: past the end (\(bodyEnd))")
            }
            let o = Int(offset)
            let n = Int(length)
            guard o % EmbeddingModel.sectionAlignment == 0, o >= end, o <= bodyEnd - n else {
                throw StateDecodingError(
                    "section \(k) at \(o), \(n) bytes: misaligned, overlapping or past the end (\(bodyEnd))")
            }
            sections.append(ModelSection(offset: o, byteCount: n))
            end = o + n
        }
        guard end == bodyEnd else { throw StateDecodingError("\(bodyEnd - end) bytes after the last section") }

        let chunks = configuration.dimension / 8
        let users = try table(sections, first: 0, side: "users", chunks: chunks)
        let items = try table(sections, first: 6, side: "items", chunks: chunks)
        let fallback = try fallbackLists(sections, minEngagements: configuration.minEngagements)
        let index = try itemIndex(sections, items: items, chunks: chunks)
        return EmbeddingModel(
            metadata: metadata, configuration: configuration,
            users: EmbeddingTable(mapped: users, dimension: configuration.dimension),
            items: EmbeddingTable(mapped: items, dimension: configuration.dimension),
            mapped: MappedModelParts(bytes: bytes, fallback: fallback, index: index))
    }

    static func aligned(_ offset: Int) -> Int {
        let a = EmbeddingModel.sectionAlignment
        return (offset + a - 1) / a * a
    }

    /// The number of `width`-byte values in section `k`.
    private func values(_ sections: [ModelSection], _ k: Int, width: Int, _ what: String) throws(StateDecodingError) -> Int {
        guard sections[k].byteCount % width == 0 else {
            throw StateDecodingError("\(what): \(sections[k].byteCount) bytes, not a multiple of \(width)")
        }
        return sections[k].byteCount / width
    }

    private func table(_ s: [ModelSection], first k: Int, side: String, chunks: Int) throws(StateDecodingError)
        -> MappedEmbeddingTable
    {
        let idLimit = try values(s, k, width: 4, "\(side) rows")
        let rows = try values(s, k + 3, width: 4, "\(side) owners")
        guard idLimit <= Int(Int32.max), s[k + 1].byteCount == 4 * idLimit, s[k + 2].byteCount == 8 * idLimit,
            rows <= idLimit, s[k + 4].byteCount == rows * chunks * 32, s[k + 5].byteCount == rows * chunks * 32
        else {
            throw StateDecodingError("\(side): columns of \(idLimit) ids and \(rows) rows do not agree in size")
        }
        let t = MappedEmbeddingTable(
            bytes: bytes, idLimit: idLimit, rowCount: rows, chunks: chunks, rowsAt: s[k].offset,
            countsAt: s[k + 1].offset, lastSeenAt: s[k + 2].offset, ownersAt: s[k + 3].offset,
            vectorsAt: s[k + 4].offset, accumulatorsAt: s[k + 5].offset)
        // Rows and owners: a bijection between the ids with a row and 0..<rows, owners ascending.
        var withRow = 0
        for id in 0..<idLimit {
            let r = bytes.int32(at: t.rowsAt + 4 * id)
            guard r >= -1 && Int(r) < rows else { throw StateDecodingError("\(side) id \(id): row \(r) of \(rows)") }
            if r >= 0 { withRow += 1 }
        }
        guard withRow == rows else { throw StateDecodingError("\(side): \(withRow) ids with a row, \(rows) rows") }
        var previous: Int32 = -1
        for r in 0..<rows {
            let id = t.owner(row: r)
            guard id > previous && Int(id) < idLimit && t.row(id) == r else {
                throw StateDecodingError("\(side) row \(r): owner \(id) out of order or not pointing back")
            }
            previous = id
        }
        return t
    }

    private func fallbackLists(_ s: [ModelSection], minEngagements: Int) throws(StateDecodingError) -> MappedFallbackLists {
        let n = try values(s, 12, width: 4, "fallback users")
        let total = try values(s, 14, width: 4, "fallback items")
        guard s[13].byteCount == 4 * (n + 1) else { throw StateDecodingError("fallback list starts for \(n) users") }
        let lists = MappedFallbackLists(
            bytes: bytes, userCount: n, usersAt: s[12].offset, startsAt: s[13].offset, itemsAt: s[14].offset)
        var previousUser: Int32 = -1
        var previousStart = 0
        guard bytes.uint32(at: lists.startsAt) == 0 else { throw StateDecodingError("fallback lists start at 0") }
        for k in 0..<n {
            let user = lists.user(k)
            guard user > previousUser else { throw StateDecodingError("fallback users out of order at \(user)") }
            previousUser = user
            let start = Int(bytes.uint32(at: lists.startsAt + 4 * (k + 1)))
            guard start - previousStart >= 1 && start - previousStart < minEngagements && start <= total else {
                throw StateDecodingError("fallback list of \(start - previousStart) items for user \(user)")
            }
            previousStart = start
        }
        guard previousStart == total else { throw StateDecodingError("fallback lists end at \(previousStart) of \(total)") }
        for i in 0..<total where bytes.int32(at: lists.itemsAt + 4 * i) < 0 {
            throw StateDecodingError("fallback item \(bytes.int32(at: lists.itemsAt + 4 * i))")
        }
        return lists
    }

    private func itemIndex(_ s: [ModelSection], items: MappedEmbeddingTable, chunks: Int) throws(StateDecodingError)
        -> MappedItemIndex
    {
        let lists = try values(s, 15, width: chunks * 32, "index centroids")
        let entries = try values(s, 17, width: 4, "index items")
        guard lists >= 1, s[16].byteCount == 4 * (lists + 1), entries == items.rowCount,
            s[18].byteCount == entries * chunks * 32, s[19].byteCount == 4 * items.rowCount
        else {
            throw StateDecodingError("item index: \(lists) lists and \(entries) entries for \(items.rowCount) items")
        }
        var starts: [Int] = []
        starts.reserveCapacity(lists + 1)
        for l in 0...lists {
            let start = Int(bytes.uint32(at: s[16].offset + 4 * l))
            guard start >= (starts.last ?? 0) && start <= entries && (l > 0 || start == 0) else {
                throw StateDecodingError("item index: list \(l) starts at \(start)")
            }
            starts.append(start)
        }
        guard starts.last == entries else { throw StateDecodingError("item index: lists end at \(starts.last ?? 0)") }
        for (k, what) in [(17, "index entry"), (19, "popularity rank")] {
            for i in 0..<entries {
                let item = bytes.int32(at: s[k].offset + 4 * i)
                guard items.row(item) >= 0 else { throw StateDecodingError("\(what) \(i): item \(item) has no vector") }
            }
        }
        return MappedItemIndex(
            bytes: bytes, centroids: bytes.chunks(at: s[15].offset, count: lists * chunks), listStarts: starts,
            entryCount: entries, itemsAt: s[17].offset, vectorsAt: s[18].offset, popularAt: s[19].offset,
            chunks: chunks)
    }
}
